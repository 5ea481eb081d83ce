// Runs in every frame of a sample before its own scripts (Playwright add_init_script).
// Dialogs, popups and printing become no-ops, so an alert storm or window.open cannot stall the
// pool; chart libraries are told not to animate, so screenshots show finished charts; JS-driven
// motion (canvas / WebGL loops on requestAnimationFrame) runs at most FRAME_MS apart.
(() => {
  const noop = () => undefined;
  window.alert = noop;
  window.confirm = () => false;
  window.prompt = () => null;
  window.print = noop;
  window.open = () => null;

  // The page's animation-frame callbacks run at most every FRAME_MS (10 per second instead of 60):
  // a screenshot is a still, and an animated WebGL scene drawn 60 times a second in software cost
  // 1.4-2.5 s of CPU per sample (measured on the demo corpus: -14% CPU over the corpus pages).
  // Time-based animations reach the same state at the same time; callbacks still get the frame's
  // timestamp, run in request order, and errors in them are reported as uncaught.
  // The renderer's own waits use the unthrottled frame, kept as window.__aesdataFrame.
  const FRAME_MS = 100;
  const nativeFrame = window.requestAnimationFrame.bind(window);
  Object.defineProperty(window, "__aesdataFrame", { value: nativeFrame });
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
    const wait = last + FRAME_MS - performance.now();
    if (wait <= 0) nativeFrame(flush);
    else setTimeout(() => nativeFrame(flush), wait);
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
})();
