"""Scale of the global steps: dedup, select and export over N synthetic rows, locally and on a Ray cluster.

For each row count (``--rows 50000,200000``) a child process builds the synthetic source step once
(``scale_data.ScaleRows``: cheap stand-in screenshots and code with near-duplicates); then, per backend,
a fresh child copies that run and builds dedup -> select -> export on it: ``local`` (a process pool) and
``ray`` (a 3-node ``ray.cluster_utils.Cluster`` started in the child, one CPU per node). Printed per
run: wall seconds of each global step, the driver's peak RSS (``getrusage`` in the child) and the
largest task's (measured inside the tasks, from the steps' ``tasks.json``). The claim: the driver's
peak does not grow with rows (the tasks' does, with the largest partition).

    python bench/bench_scale.py                 # 50k and 200k rows, local and ray
    python bench/bench_scale.py --rows 2000 --backends local   # a quick check
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = ("dedup", "select", "export")


def _pipeline(folder: Path, rows: int, full: bool) -> Path:
    text = f"name: scale\nshard_size: 5000\nplugins: [scale_data]\nstages:\n  - stage: bench_scale_rows\n    rows: {rows}\n"
    if full:
        text += "  - stage: dedup\n  - stage: select\n    best_of_n: 1\n    splits: {train: 0.9, test: 0.1}\n"
        text += "  - stage: export\n    rows_per_shard: 20000\n    include_screenshots: true\n"
    path = folder / ("full.yaml" if full else "base.yaml")
    path.write_text(text)
    return path


def _child(args: argparse.Namespace) -> None:
    """One build in this process; prints a JSON line of what it measured."""
    sys.path.insert(0, str(HERE))
    from aesdata.executor import make_executor
    from aesdata.spec import load_pipeline

    folder = Path(args.folder)
    pipe = load_pipeline(_pipeline(folder, args.n, args.backend != "base"))
    cluster = None
    kwargs = {}
    if args.backend == "ray":
        import ray
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
        kwargs["address"] = cluster.address
    t0 = time.perf_counter()
    try:
        ex = make_executor("ray" if args.backend == "ray" else "local", pipe, folder / "run", **kwargs)
        result = ex.run()
    finally:
        if cluster is not None:
            import ray

            ray.shutdown()
            cluster.shutdown()
    out = {
        "wall_s": round(time.perf_counter() - t0, 1),
        "driver_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "steps": {s.id: s.seconds for s in result.steps if s.id in STEPS},
        "task_peak_mb": {},
    }
    for step in STEPS:
        tasks = folder / "run" / "stages" / step / "tasks.json"
        if tasks.exists():
            phases = json.loads(tasks.read_text())["phases"]
            out["task_peak_mb"][step] = max((p["peak_rss_mb"] for p in phases), default=0.0)
    print("RESULT " + json.dumps(out))


def _run_child(folder: Path, n: int, backend: str) -> dict:
    cmd = [sys.executable, __file__, "--child", "--folder", str(folder), "--n", str(n), "--backend", backend]
    res = subprocess.run(cmd, capture_output=True, text=True)
    line = next((x for x in res.stdout.splitlines() if x.startswith("RESULT ")), None)
    if res.returncode or line is None:
        raise SystemExit(f"{backend} build of {n} rows failed:\n{res.stderr[-3000:]}")
    return json.loads(line[len("RESULT ") :])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="50000,200000")
    ap.add_argument("--backends", default="local,ray")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--folder")
    ap.add_argument("--n", type=int)
    ap.add_argument("--backend")
    args = ap.parse_args()
    if args.child:
        _child(args)
        return
    results = []
    for n in [int(x) for x in args.rows.split(",")]:
        with tempfile.TemporaryDirectory(prefix="aesdata-scale-") as tmp:
            base = Path(tmp) / "base"
            base.mkdir()
            t0 = time.perf_counter()
            _run_child(base, n, "base")
            print(f"{n:,} rows: source step built in {time.perf_counter() - t0:.0f} s", flush=True)
            for backend in args.backends.split(","):
                folder = Path(tmp) / backend
                shutil.copytree(base, folder)
                r = _run_child(folder, n, backend)
                results.append((n, backend, r))
                print(f"  {backend}: {json.dumps(r)}", flush=True)
                shutil.rmtree(folder)
    print()
    print(
        f"{'rows':>8} {'backend':>7} {'dedup s':>8} {'select s':>8} {'export s':>8} {'driver MB':>10} {'task MB':>8}"
    )
    for n, backend, r in results:
        s = r["steps"]
        task = max(r["task_peak_mb"].values(), default=0.0)
        print(
            f"{n:>8,} {backend:>7} {s.get('dedup', 0):>8.1f} {s.get('select', 0):>8.1f} {s.get('export', 0):>8.1f}"
            f" {r['driver_peak_mb']:>10.0f} {task:>8.0f}"
        )
    for backend in {b for _, b, _ in results}:
        peaks = [(n, r["driver_peak_mb"]) for n, b, r in results if b == backend]
        if len(peaks) > 1:
            (n0, p0), (n1, p1) = peaks[0], peaks[-1]
            print(f"{backend}: driver peak {p1 / p0:.2f}x for {n1 / n0:.0f}x the rows")


if __name__ == "__main__":
    main()
