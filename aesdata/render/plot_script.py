"""The plotting side of the plot worker: warm the plotting stack, run one script, extract its figures.

Loaded by :mod:`aesdata.render.plot_worker` (inside the sandbox, by path, as part of a stand-in
package for this folder: see ``plot_worker.load_siblings``); it imports nothing from aesdata but its
sibling :mod:`aesdata.render.plot_layout`. The worker owns the process: forking, limits, the uid
drop, the audit hook; this module runs in the child it has already confined.

- :func:`warm_up`: import numpy, pandas, matplotlib (Agg), seaborn and plotly and draw one figure of
  each common kind, so forked children start hot; returns the libraries' versions.
- :func:`run_script`: seed ``random`` and ``numpy.random``, turn ``plt.show()`` / ``fig.show()`` /
  plotly ``write_image`` into no-ops that register the figure, run the script as ``__main__``, and
  return the result dict: ``status``, ``error``, ``n_figures``, ``timings``, and for a script that
  drew something the first figure (matplotlib: PNG of the Agg canvas; plotly: the figure JSON) and a
  layout summary of up to ``max_figures`` figures for the judges.
- :func:`plotly_page`: one headless Chromium page with plotly.js loaded, turning figure JSON into PNG.

Hand-written (no library does this): the figure capture.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import linecache
import os
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import plot_layout

SCRIPT_NAME = "script.py"


# ---------------------------------------------------------------- the warm image


def warm_up() -> dict[str, str]:
    """Import the plotting stack and draw one figure of each kind; return the libraries' versions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy
    import pandas
    import PIL
    import plotly
    import plotly.express as px
    import plotly.graph_objects  # noqa: F401
    import plotly.io  # noqa: F401
    import plotly.subplots  # noqa: F401
    import seaborn

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0], label="warm")
    ax.set_title("warm $x^2$")
    ax.legend()
    fig.canvas.draw()
    _png_of_canvas(fig)
    plt.close("all")
    _warm_plotly(px)
    return {
        "python": sys.version.split()[0],
        "matplotlib": matplotlib.__version__,
        "seaborn": seaborn.__version__,
        "plotly": plotly.__version__,
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
    }


def _warm_plotly(px: Any) -> None:
    """Build one figure of each common trace type, loading plotly's lazily imported classes once."""
    import pandas as pd

    df = pd.DataFrame({"x": [1, 2, 3], "y": [3, 1, 2], "g": ["a", "b", "a"], "p": ["r", "r", "s"]})
    for make in (
        lambda: px.scatter(df, x="x", y="y", color="g", size="x", hover_name="g", trendline=None),
        lambda: px.line(df, x="x", y="y", color="g", markers=True),
        lambda: px.bar(df, x="g", y="y", color="p", barmode="group", text_auto=True),
        lambda: px.histogram(df, x="y", color="g"),
        lambda: px.box(df, x="g", y="y"),
        lambda: px.violin(df, x="g", y="y"),
        lambda: px.area(df, x="x", y="y", color="g"),
        lambda: px.pie(df, names="g", values="y", hole=0.3),
        lambda: px.treemap(df, path=["p", "g"], values="y"),
        lambda: px.sunburst(df, path=["p", "g"], values="y"),
        lambda: px.imshow([[1, 2], [3, 4]], text_auto=True),
        lambda: px.density_heatmap(df, x="x", y="y"),
        lambda: px.scatter_3d(df, x="x", y="y", z="y"),
        lambda: px.funnel(df, x="y", y="g"),
    ):
        fig = make()
        fig.update_layout(title="warm", template="plotly_white", legend=dict(orientation="h"))
        fig.update_xaxes(title="x", showgrid=True)
        fig.update_yaxes(title="y")
        fig.add_annotation(text="a", x=1, y=1)
        fig.to_plotly_json()
        fig.to_json()


# ---------------------------------------------------------------- one script


class _Capture:
    """Figures the script showed or saved, in order (matplotlib Figures and plotly figures)."""

    def __init__(self) -> None:
        self.figures: list[Any] = []

    def add(self, fig: Any) -> None:
        if not any(f is fig for f in self.figures):
            self.figures.append(fig)


def _install_hooks(capture: _Capture) -> None:
    """Make show()/savefig()/write_image() register figures instead of opening or writing anything."""
    import matplotlib.figure
    import matplotlib.pyplot as plt
    import plotly.basedatatypes
    import plotly.io

    def plt_show(*args: Any, **kwargs: Any) -> None:
        for num in plt.get_fignums():
            capture.add(plt.figure(num))

    def fig_show(self: Any, *args: Any, **kwargs: Any) -> None:
        capture.add(self)

    def pio_show(fig: Any, *args: Any, **kwargs: Any) -> None:
        capture.add(fig)

    def write_image(fig: Any, *args: Any, **kwargs: Any) -> None:
        capture.add(fig)

    def registering(method: Any) -> Any:
        def wrapper(fig: Any, *args: Any, **kwargs: Any) -> Any:
            capture.add(fig)
            return method(fig, *args, **kwargs)

        return wrapper

    def to_image(fig: Any, *args: Any, **kwargs: Any) -> bytes:
        capture.add(fig)
        raise RuntimeError(
            "plotly to_image() is not available in the plot sandbox; the sandbox exports figures itself"
        )

    plt.show = plt_show
    matplotlib.figure.Figure.show = fig_show
    matplotlib.figure.Figure.savefig = registering(matplotlib.figure.Figure.savefig)
    plotly.basedatatypes.BaseFigure.write_html = registering(plotly.basedatatypes.BaseFigure.write_html)
    plotly.basedatatypes.BaseFigure.show = fig_show
    plotly.basedatatypes.BaseFigure.write_image = write_image
    plotly.basedatatypes.BaseFigure.to_image = to_image
    plotly.io.show = pio_show
    plotly.io.write_image = write_image
    plotly.io.to_image = to_image


def run_script(job: dict[str, Any]) -> dict[str, Any]:
    """Execute the job's script (``code``; limits ``memory_mb``, ``max_figures``, ``dpi``) in this
    process, in the current directory; return the result dict for the parent (see the module doc)."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    source: str = job["code"]
    capture = _Capture()
    timings: dict[str, float] = {}
    main_pid = os.getpid()
    linecache.cache[SCRIPT_NAME] = (len(source), None, source.splitlines(True), SCRIPT_NAME)
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "__file__": os.path.join(os.getcwd(), SCRIPT_NAME),
        "__builtins__": __builtins__,
    }
    sys.argv = [SCRIPT_NAME]
    _seed_rngs()
    status, error = "ok", None
    t0 = time.perf_counter()
    try:
        compiled = compile(source, SCRIPT_NAME, "exec")
        _install_hooks(capture)
        exec(compiled, namespace)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            status, error = "exec_error", f"SystemExit: {exc.code}"
    except MemoryError:
        namespace.clear()  # free what the script holds so the report can be written
        status, error = (
            "killed",
            f"MemoryError: memory limit of {job['memory_mb']} MB exceeded\n" + _script_traceback(),
        )
    except BaseException as exc:
        status, error = "exec_error", _error_text(exc)
    if os.getpid() != main_pid:  # a copy made by os.fork() inside the script: report nothing
        os._exit(0)
    timings["exec_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    sys.stdout.flush()
    sys.stderr.flush()
    figures = _collect_figures(capture, namespace, plt)
    result: dict[str, Any] = {"status": status, "error": error, "n_figures": len(figures), "timings": timings}
    if status != "ok":
        return result
    if not figures:
        result.update(status="no_figure", error="the script ran but produced no figure")
        return result
    t1 = time.perf_counter()
    layouts, first = [], None
    try:
        for index, fig in enumerate(figures[: int(job["max_figures"])]):
            if _is_plotly(fig):
                layouts.append(plot_layout.plotly_layout(fig))
                if index == 0:
                    first = {"library": "plotly", "figure_json": fig.to_json()}
            else:
                if not isinstance(fig.canvas, FigureCanvasAgg):  # closed figures lose their canvas
                    FigureCanvasAgg(fig)
                fig.set_dpi(int(job["dpi"]))
                fig.canvas.draw()
                layouts.append(plot_layout.mpl_layout(fig))
                if index == 0:
                    first = {
                        "library": "matplotlib",
                        "png_b64": base64.b64encode(_png_of_canvas(fig)).decode(),
                    }
    except Exception as exc:  # e.g. a bad mathtext label only fails when drawn
        result.update(status="exec_error", error="while drawing the figure: " + _error_text(exc))
        return result
    timings["capture_ms"] = round((time.perf_counter() - t1) * 1000, 2)
    result.update(first=first, layouts=layouts)
    return result


def _seed_rngs(seed: int = 0) -> None:
    """Unseeded ``random`` / ``numpy.random`` calls give the same numbers in every run and worker."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)


def _error_text(exc: BaseException) -> str:
    """The exception's last line, then the script's own frames (short)."""
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return f"{last}\n{_script_traceback()}".rstrip()


def _script_traceback(max_frames: int = 6) -> str:
    tb = sys.exc_info()[2]
    frames = [f for f in traceback.extract_tb(tb) if f.filename == SCRIPT_NAME] if tb else []
    return "".join(traceback.format_list(frames[-max_frames:]))


def _is_plotly(fig: Any) -> bool:
    import plotly.basedatatypes

    return isinstance(fig, plotly.basedatatypes.BaseFigure)


def _collect_figures(capture: _Capture, namespace: dict[str, Any], plt: Any) -> list[Any]:
    """Shown/saved figures first, then figures still open in pyplot, then figures left in globals."""
    import matplotlib.figure

    for num in plt.get_fignums():
        capture.add(plt.figure(num))
    if not capture.figures:
        for value in list(namespace.values()):
            if _is_plotly(value) or isinstance(value, matplotlib.figure.Figure):
                capture.add(value)
    return capture.figures


def _png_of_canvas(fig: Any) -> bytes:
    """PNG of the figure exactly as drawn on its Agg canvas (the pixels the layout describes)."""
    from PIL import Image

    canvas = fig.canvas
    buf = canvas.buffer_rgba()
    image = Image.frombuffer("RGBA", (buf.shape[1], buf.shape[0]), buf, "raw", "RGBA", 0, 1)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=3)
    return out.getvalue()


# ---------------------------------------------------------------- plotly figures to PNG

#: Rasterises one figure in the warm page: ``Plotly.toImage`` lays it out and draws it off-screen
#: (its own hidden div, purged afterwards), so nothing of one figure stays for the next.
_PLOTLY_TO_PNG_JS = """async ([figure, opts]) => {
  const url = await Plotly.toImage(figure, opts);
  return url.slice(url.indexOf(",") + 1);
}"""


def plotly_js_path() -> Path:
    """The plotly.js bundled with the installed plotly package (the version its figures target)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


class PlotlyPage:
    """A live page with plotly.js loaded (see :func:`plotly_page`)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        warm = page.evaluate(
            _PLOTLY_TO_PNG_JS,
            [{"data": [{"type": "bar", "x": ["a"], "y": [1]}], "layout": {}}, {"format": "png"}],
        )
        #: size of the warm-up figure's PNG (proof that plotly.js draws)
        self.warm_png_bytes = len(base64.b64decode(warm))

    def png_b64(self, figure_json: str, scale: float) -> str:
        """The figure (plotly JSON text) as a base64 PNG at its own size (default 700x500) times
        ``scale``; raises on a figure plotly.js cannot draw."""
        fig = json.loads(figure_json)
        layout = fig.get("layout", {})
        opts = {
            "format": "png",
            "width": layout.get("width") or 700,
            "height": layout.get("height") or 500,
            "scale": scale,
        }
        return self.page.evaluate(_PLOTLY_TO_PNG_JS, [fig, opts])


@contextlib.contextmanager
def plotly_page() -> Iterator[PlotlyPage]:
    """One headless Chromium page (``$BROWSER_PATH``, flags from ``$AESDATA_BROWSER_ARGS``, a JSON
    list) with plotly.js loaded once, for :meth:`PlotlyPage.png_b64`. kaleido does the same but
    reloads its page (and plotly.js) after every figure: ~370 ms per demo figure against ~140 ms here
    (measured from the host). Host names do not resolve, so a figure's image URLs fetch nothing even
    without the sandbox."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=os.environ["BROWSER_PATH"],
            args=[
                *json.loads(os.environ.get("AESDATA_BROWSER_ARGS", "[]")),
                "--host-resolver-rules=MAP * ~NOTFOUND",
            ],
            handle_sigint=False,
            handle_sigterm=False,
            handle_sighup=False,
        )
        page = browser.new_page()
        page.set_content("<!doctype html><html><head><meta charset='utf-8'></head><body></body></html>")
        page.add_script_tag(path=plotly_js_path())
        try:
            yield PlotlyPage(page)
        finally:
            browser.close()
