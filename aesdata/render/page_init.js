// Runs in every frame of a sample before its own scripts (Playwright add_init_script).
// Dialogs, popups and printing become no-ops, so an alert storm or window.open cannot stall the
// pool; chart libraries are told not to animate, so screenshots show finished charts.
(() => {
  const noop = () => undefined;
  window.alert = noop;
  window.confirm = () => false;
  window.prompt = () => null;
  window.print = noop;
  window.open = () => null;
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
