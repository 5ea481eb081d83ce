"""Plot rendering benchmark: warm sandboxed workers vs a fresh Python process per script.

Run: ``.venv/bin/python bench/bench_plot.py [--n 60] [--workers N]``.

The script set: the demo corpus's plot candidates (``aesdata/data/demo/corpus/candidates.jsonl`` rows of kind
"plot", each script with its ``data.csv``), repeated in order up to ``--n`` scripts; generated
matplotlib/seaborn/plotly scripts when the corpus is absent. Both modes run the same scripts with
the same parallelism (``--workers``, default: CPU count) in one run:

- warm: :class:`aesdata.render.plot_sandbox.PlotSandbox` (bubblewrap, fork server, one fresh child
  per script, plotly through one warm plotly.js page in headless Chromium); worker start-up is timed separately.
- baseline: what the papers' harnesses do: per script a new ``python`` process (MPLBACKEND=Agg,
  cwd a temp dir holding data.csv) that runs the script and saves its figures (matplotlib:
  ``savefig``; plotly: ``write_image``, which starts kaleido's Chromium in that process).

Prints scripts/s of both, the ratio (goal >= 8x on a 2-core machine), per-library rates, and how
many scripts each mode rendered successfully.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aesdata.render.plot_sandbox import PlotJob, PlotSandbox  # noqa: E402

CORPUS = ROOT / "aesdata" / "data" / "demo" / "corpus"

BASELINE_HARNESS = r"""
import runpy, sys
import matplotlib.pyplot as plt
import plotly.basedatatypes
shown = []
plotly.basedatatypes.BaseFigure.show = lambda self, *a, **k: shown.append(self)
runpy.run_path("script.py", run_name="__main__")
for i, num in enumerate(plt.get_fignums()):
    plt.figure(num).savefig(f"fig{i}.png", dpi=100)
for i, fig in enumerate(shown):
    fig.write_image(f"plotly{i}.png")
sys.exit(0 if plt.get_fignums() or shown else 3)
"""


def corpus_scripts() -> list[tuple[str, str, str | None]]:
    """(library, code, data_csv) for every plot candidate of the demo corpus."""
    out = []
    with open(CORPUS / "candidates.jsonl") as f:
        for line in f:
            row = json.loads(line)
            if row.get("kind") != "plot":
                continue
            code = (CORPUS / row["code_file"]).read_text()
            data = (CORPUS / row["data_file"]).read_text() if row.get("data_file") else None
            out.append((row["category"], code, data))
    return out


def generated_scripts(n: int) -> list[tuple[str, str, str | None]]:
    """Small varied scripts when the demo corpus is not there."""
    data = "x,y,group\n" + "\n".join(f"{i},{(i * 37) % 23},{'abc'[i % 3]}" for i in range(60))
    templates = {
        "matplotlib": (
            "import matplotlib.pyplot as plt\nimport pandas as pd\ndf = pd.read_csv('data.csv')\n"
            "fig, ax = plt.subplots(figsize=(7, 4))\nfor g, part in df.groupby('group'):\n"
            "    ax.plot(part.x, part.y * {k}, marker='o', label=g)\nax.set_title('Series {k}')\nax.legend()\nplt.show()\n"
        ),
        "seaborn": (
            "import seaborn as sns\nimport pandas as pd\nimport matplotlib.pyplot as plt\ndf = pd.read_csv('data.csv')\n"
            "sns.set_theme(style='whitegrid')\nax = sns.barplot(data=df, x='group', y='y', hue='group')\n"
            "ax.set_title('Groups {k}')\nplt.show()\n"
        ),
        "plotly": (
            "import plotly.express as px\nimport pandas as pd\ndf = pd.read_csv('data.csv')\n"
            "fig = px.scatter(df, x='x', y='y', color='group', title='Scatter {k}')\nfig.show()\n"
        ),
    }
    libs = ["matplotlib", "seaborn", "matplotlib", "plotly"]
    return [(libs[k % 4], templates[libs[k % 4]].format(k=k + 1), data) for k in range(n)]


def run_baseline(code: str, data: str | None, timeout_s: float) -> bool:
    """One fresh Python process for one script; True when it exited cleanly with a figure saved."""
    work = Path(tempfile.mkdtemp(prefix="aesdata-bench-"))
    try:
        (work / "script.py").write_text(code)
        if data is not None:
            (work / "data.csv").write_text(data)
        env = {**os.environ, "MPLBACKEND": "Agg"}
        try:
            proc = subprocess.run(
                [sys.executable, "-c", BASELINE_HARNESS],
                cwd=work,
                env=env,
                capture_output=True,
                timeout=timeout_s,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0 and any(work.glob("*.png"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="scripts per mode")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument(
        "--generated", action="store_true", help="use the small generated scripts, not the corpus"
    )
    args = parser.parse_args()

    pool = corpus_scripts() if (CORPUS / "candidates.jsonl").exists() and not args.generated else []
    source = "demo corpus" if pool else "generated"
    pool = pool or generated_scripts(args.n)
    scripts = [pool[i % len(pool)] for i in range(args.n)]
    libs = sorted({lib for lib, _, _ in scripts})
    print(
        f"{len(scripts)} scripts from the {source} ({len(pool)} distinct), {args.workers} workers, "
        + ", ".join(f"{lib} {sum(s[0] == lib for s in scripts)}" for lib in libs)
    )

    t0 = time.perf_counter()
    sandbox = PlotSandbox(workers=args.workers, timeout_s=args.timeout)
    sandbox.start()
    start_s = time.perf_counter() - t0
    # first plotly figure starts the plotly renderer: count it as start-up, like the workers
    t0 = time.perf_counter()
    sandbox.run_many([PlotJob("import plotly.express as px\npx.bar(x=['a'], y=[1]).show()\n")])
    renderer_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = sandbox.run_many([PlotJob(code, data) for _, code, data in scripts])
    warm_s = time.perf_counter() - t0
    sandbox.close()
    warm_ok = [r["render_status"] == "ok" for r in rows]
    timings = [json.loads(r["render_timings_json"]) for r in rows]
    script_ms = sum(
        t.get("exec_ms", 0) + t.get("capture_ms", 0) + t.get("plotly_export_ms", 0) for t in timings
    )
    overhead_ms = sorted(
        t["total_ms"] - t.get("exec_ms", 0) - t.get("capture_ms", 0) - t.get("plotly_export_ms", 0)
        for t in timings
    )
    warm_ms = {
        lib: [r["render_ms"] for (lb, _, _), r in zip(scripts, rows, strict=True) if lb == lib]
        for lib in libs
    }

    t0 = time.perf_counter()
    per_lib_s: dict[str, float] = {lib: 0.0 for lib in libs}

    def timed(item: tuple[str, str, str | None]) -> bool:
        t = time.perf_counter()
        ok = run_baseline(item[1], item[2], args.timeout)
        per_lib_s[item[0]] += time.perf_counter() - t
        return ok

    with ThreadPoolExecutor(max_workers=args.workers) as ex:
        base_ok = list(ex.map(timed, scripts))
    base_s = time.perf_counter() - t0

    n = len(scripts)
    print()
    print(f"{'mode':<34}{'seconds':>10}{'scripts/s':>12}{'rendered ok':>14}")
    print(f"{'warm sandbox (bwrap fork server)':<34}{warm_s:>10.2f}{n / warm_s:>12.2f}{sum(warm_ok):>14}")
    print(f"{'fresh python per script':<34}{base_s:>10.2f}{n / base_s:>12.2f}{sum(base_ok):>14}")
    print(f"ratio warm / fresh: {base_s / warm_s:.1f}x   (goal >= 8x)")
    print(f"start-up, not in the rates: workers {start_s:.2f} s, plotly renderer {renderer_s:.2f} s")
    print(
        f"same outcome (ok vs failed) in both modes: {sum(a == b for a, b in zip(warm_ok, base_ok, strict=True))}/{n}"
    )
    print(
        f"warm mode: {script_ms / 1000:.1f} s of script work (run + draw + export) for {n} scripts; "
        f"sandbox overhead per script median {overhead_ms[n // 2]:.0f} ms (fork, limits, cleanup, transfer)"
    )
    print()
    print(f"{'library':<12}{'scripts':>8}{'warm ms/script':>16}{'fresh ms/script':>17}{'ratio':>8}")
    for lib in libs:
        count = len(warm_ms[lib])
        warm_mean = sum(warm_ms[lib]) / count
        fresh_mean = per_lib_s[lib] * 1000 / count
        print(f"{lib:<12}{count:>8}{warm_mean:>16.0f}{fresh_mean:>17.0f}{fresh_mean / warm_mean:>7.1f}x")
    print("(per-library ms are single-script latencies inside the parallel runs)")
    print("isolation:", json.dumps({k: v for k, v in sandbox.isolation().items() if k != "details"}))


if __name__ == "__main__":
    main()
