// Runs in every frame of a sample before its own scripts (Playwright add_init_script), as a function of
// one options object {seed: [4 x uint32], frameMs}, after Playwright's page clock is installed (so
// Date, performance.now, setTimeout/setInterval and requestAnimationFrame are already the page clock's,
// which advances only when aesdata says so: see browser_pool.PAGE_EPOCH and PageSession.advance).
// Dialogs, popups and printing become no-ops, so an alert storm or window.open cannot stall the
// pool; Math.random and crypto.getRandomValues / randomUUID draw from a generator seeded per sample;
// media playback is held (play() reports playing, time does not move);
// errors thrown by timer callbacks are reported as uncaught errors of the page;
// chart libraries are told not to animate, so screenshots show finished charts; JS-driven motion
// (canvas / WebGL loops on requestAnimationFrame) runs at most frameMs apart in page time.
(({ seed, frameMs }) => {
  const noop = () => undefined;
  window.alert = noop;
  window.confirm = () => false;
  window.prompt = () => null;
  window.print = noop;
  window.open = () => null;

  // Seeded randomness: sfc32 (Chris Doty-Humphrey's small fast counter generator, public domain),
  // one stream for Math.random and one for crypto, so a library drawing crypto bytes does not shift
  // the page's Math.random sequence. Every frame of a sample starts from the same seed.
  const sfc32 = (a, b, c, d) => () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t;
  };
  const warm = (next) => { for (let i = 0; i < 15; i++) next(); return next; };
  const mathNext = warm(sfc32(seed[0], seed[1], seed[2], seed[3]));
  const cryptoNext = warm(sfc32(seed[3] ^ 0x9e3779b9, seed[2], seed[1], seed[0]));
  Math.random = () => mathNext() / 4294967296;
  try {
    const proto = Crypto.prototype;
    const nativeGet = proto.getRandomValues;
    proto.getRandomValues = function getRandomValues(array) {
      const integers = ArrayBuffer.isView(array) && !(array instanceof DataView) &&
        !(array instanceof Float32Array) && !(array instanceof Float64Array) &&
        !(typeof Float16Array !== "undefined" && array instanceof Float16Array);
      // the native call throws what the browser throws (TypeMismatchError, QuotaExceededError)
      if (!integers || array.byteLength > 65536) return nativeGet.call(this, array);
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      for (let i = 0; i < bytes.length; i += 4) {
        const r = cryptoNext();
        for (let k = 0; k < 4 && i + k < bytes.length; k++) bytes[i + k] = (r >>> (8 * k)) & 255;
      }
      return array;
    };
    proto.randomUUID = function randomUUID() {
      const b = this.getRandomValues(new Uint8Array(16));
      b[6] = (b[6] & 0x0f) | 0x40;
      b[8] = (b[8] & 0x3f) | 0x80;
      const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    };
  } catch (e) { /* no Web Crypto in this frame */ }

  // An error thrown by a timer callback is reported as uncaught, as a browser does, and stays inside
  // the page: the page clock would instead run every timer due, then throw the first such error into
  // aesdata's clock call (the render's settle failed, so a page whose jQuery ready handler threw, e.g.
  // a library that did not load, was captured unsettled, at a page time that depended on the machine).
  const guard = (fn) => {
    const run = typeof fn === "function" ? fn : () => (0, eval)(String(fn));
    return function (...args) {
      try { return run.apply(this, args); } catch (e) { reportError(e); }
    };
  };
  const pageTimeout = window.setTimeout;
  window.setTimeout = (fn, ms, ...args) => pageTimeout(guard(fn), ms, ...args);
  if (window.requestIdleCallback) {
    const pageIdle = window.requestIdleCallback;
    window.requestIdleCallback = (fn, options) => pageIdle(guard(fn), options);
  }
  // An interval of 0 would fire forever at one page-clock tick; browsers clamp nested timers to 4 ms.
  const pageInterval = window.setInterval;
  window.setInterval = (fn, ms, ...args) => pageInterval(guard(fn), Math.max(4, +ms || 0), ...args);

  // Media playback runs on the wall clock (a sound's "ended" handler restyled a piano key whenever the
  // clip happened to finish: before, during or after the interactive agent's observation). Playback is
  // held instead: play() resolves and the element reports playing (play / playing events in page time,
  // paused false) but its time does not move, so it never ends; pause() stops it the same way. Audio is
  // muted anyway and a screenshot is a still. (Autoplay by the attribute alone is not held.)
  try {
    const media = HTMLMediaElement.prototype;
    const held = new WeakSet();
    const fire = (el, type) => pageTimeout(() => el.dispatchEvent(new Event(type)), 0);
    media.play = function play() {
      if (!held.has(this)) { held.add(this); fire(this, "play"); fire(this, "playing"); }
      return Promise.resolve();
    };
    media.pause = function pause() {
      if (held.delete(this)) fire(this, "pause");
    };
    Object.defineProperty(media, "paused", { configurable: true, get() { return !held.has(this); } });
  } catch (e) { /* no media elements in this frame */ }

  // The page's animation-frame callbacks run at most every frameMs of page time (10 per second
  // instead of 60): a screenshot is a still, and an animated WebGL scene drawn 60 times a second in
  // software cost 1.4-2.5 s of CPU per sample (measured on the demo corpus: -14% CPU over the corpus
  // pages). Time-based animations reach the same state at the same page time; callbacks still get
  // the frame's timestamp, run in request order, and errors in them are reported as uncaught.
  const pageFrame = window.requestAnimationFrame.bind(window);
  let queue = new Map();
  let nextId = 1;
  let pending = false;
  let last = -Infinity;
  const flush = (ts) => {
    pending = false;
    last = performance.now();
    const due = queue;
    queue = new Map();
    for (const cb of due.values()) {
      try { cb(ts); } catch (e) { reportError(e); }
    }
  };
  const schedule = () => {
    if (pending) return;
    pending = true;
    const wait = last + frameMs - performance.now();
    if (wait <= 0) pageFrame(flush);
    else setTimeout(() => pageFrame(flush), wait);
  };
  window.requestAnimationFrame = (cb) => {
    const id = nextId++;
    queue.set(id, cb);
    schedule();
    return id;
  };
  window.cancelAnimationFrame = (id) => { queue.delete(id); };

  const quietChart = (lib) => {
    try {
      if (lib && lib.defaults) {
        if (lib.defaults.global && lib.defaults.global.animation) lib.defaults.global.animation.duration = 0; // v2
        else lib.defaults.animation = false; // v3, v4
      }
    } catch (e) { /* a page's own Chart global */ }
  };
  let chart;
  try {
    Object.defineProperty(window, "Chart", {
      configurable: true,
      get: () => chart,
      set: (value) => { chart = value; quietChart(value); },
    });
  } catch (e) { /* already defined */ }
})
