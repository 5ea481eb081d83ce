"""Benchmark: the same build twice, the second on a machine saturated by a CPU hog, compared.

``--corpus demo`` (default) builds the shipped ``demo`` pipeline; ``--corpus realpages`` builds
``bench/realpages.yaml``: read_corpus -> render -> judge (offline judges: execution, design, the built-in
interactive agent; no VLM) over the real-page corpus of issue 16 (``corpus/realpages``, materialised
from the git snapshots under ``--mirror`` by its ``fetch.py``; skipped, saying so, when they are absent).
Each build runs from scratch into a temporary run directory (``aesdata build PIPELINE --out ...``);
during the second build ``--hog`` busy-loop processes (default: one per core) keep every core busy.
Then compares:

- the exported dataset folders file by file (SHA-256 of each file's bytes), and for Parquet files that
  differ, which rows and columns differ;
- every row of the runs' ``samples`` tables, keyed by ``id``: each column (timing columns, which
  measure the machine and not the sample, are left out and named), with the screenshot compared by
  the SHA-256 of its PNG bytes.

Prints the share of identical screenshots (goal: >= 99%), the share of identical rows, how many rows
differ in each column, whether the exports are byte-identical (goal: yes; demo only, the real-page
pipeline exports nothing), each differing row with the columns that differ, and the wall time of both
builds.

    python bench/bench_determinism.py [--corpus demo|realpages] [--hog 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aesdata.query import run_sql  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REALPAGES = ROOT / "corpus/realpages"
#: columns that measure the machine (durations), not the sample
TIMING_COLUMNS = ("render_ms", "render_timings_json")


def _spin(stop: float) -> None:
    while time.monotonic() < stop:
        pass


@contextlib.contextmanager
def cpu_hog(procs: int, seconds: float = 3600) -> Iterator[None]:
    """``procs`` busy-loop processes while the block runs (stopped on exit, at most ``seconds``)."""
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(target=_spin, args=(time.monotonic() + seconds,), daemon=True) for _ in range(procs)
    ]
    for w in workers:
        w.start()
    try:
        yield
    finally:
        for w in workers:
            w.terminate()
            w.join(5)


def build(pipeline: str, out: Path, limit: int | None = None) -> float:
    """``aesdata build PIPELINE --out out [--limit N]``; returns its wall time in seconds (raises on failure)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "aesdata", "build", pipeline, "--out", str(out)]
        + (["--limit", str(limit)] if limit else []),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if res.returncode != 0:
        raise SystemExit(f"build into {out} failed:\n{res.stderr[-3000:]}")
    return time.perf_counter() - t0


def realpages_ready(mirror: Path) -> str | None:
    """Materialise the real-page corpus into ``corpus/realpages/pages`` from the snapshots under
    ``mirror`` (pages materialised earlier serve when a snapshot is missing); returns None when the
    corpus is ready, else why it cannot be."""
    manifest = [json.loads(line) for line in (REALPAGES / "manifest.jsonl").read_text().splitlines() if line]
    missing = sorted(
        {r["repo"] for r in manifest if not (mirror / r["repo"].replace("/", "+") / "repo").is_dir()}
    )
    if not missing:
        subprocess.run(
            [
                sys.executable,
                str(REALPAGES / "fetch.py"),
                "--mirror",
                str(mirror),
                "--out",
                str(REALPAGES / "pages"),
            ],
            check=True,
        )
        return None
    if (REALPAGES / "pages/corpus.jsonl").is_file():
        print(
            f"no git snapshot of {len(missing)} repositories under {mirror}: using the pages materialised earlier"
        )
        return None
    return f"no git snapshot of {', '.join(missing)} under {mirror} (corpus/realpages/fetch.py reads them)"


def _digest(value: Any) -> Any:
    """A comparable form of a cell: PNG structs and bytes by their SHA-256, the rest as is."""
    if isinstance(value, dict) and "bytes" in value:
        value = value["bytes"]
    if isinstance(value, (bytes, bytearray)):
        return "sha256:" + hashlib.sha256(value).hexdigest()[:16]
    return value


def _name(row: dict[str, Any]) -> str:
    """A row's readable name: the corpus page id when its ``meta_json`` has one, else ``instruction_id``."""
    try:
        page = json.loads(row.get("meta_json") or "{}").get("page_id")
    except (ValueError, AttributeError):
        page = None
    return page or row.get("instruction_id") or ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 70 else text[:67] + "..."


def rows_by_id(table: Any) -> dict[str, dict[str, Any]]:
    """``id`` -> row (cells digested) of a pyarrow table."""
    return {r["id"]: {k: _digest(v) for k, v in r.items()} for r in table.to_pylist()}


def compare_rows(
    a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]], skip: tuple[str, ...]
) -> list[tuple[str, str, Any, Any]]:
    """(id, column, value in a, value in b) for every cell that differs; a row missing on one side
    is one entry with column ``<row>``."""
    out = []
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            out.append((key, "<row>", key in a, key in b))
            continue
        for col in sorted(set(a[key]) | set(b[key])):
            if col not in skip and a[key].get(col) != b[key].get(col):
                out.append((key, col, a[key].get(col), b[key].get(col)))
    return out


def compare_exports(a: Path, b: Path) -> tuple[int, int, list[str]]:
    """(identical files, files, report lines) of two dataset folders."""
    files = sorted(
        {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
        | {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    )
    same, lines = 0, []
    for rel in files:
        pa_, pb = a / rel, b / rel
        if not (pa_.is_file() and pb.is_file()):
            lines.append(f"  {rel}: only in {'first' if pa_.is_file() else 'second'}")
            continue
        if pa_.read_bytes() == pb.read_bytes():
            same += 1
            continue
        lines.append(f"  {rel}: bytes differ")
        if rel.suffix == ".parquet":
            diffs = compare_rows(rows_by_id(pq.read_table(pa_)), rows_by_id(pq.read_table(pb)), ())
            lines += [f"    row {k[:16]} column {c}: {_short(x)} -> {_short(y)}" for k, c, x, y in diffs[:40]]
            if not diffs:
                lines.append("    same rows and cells (file metadata differs)")
    return same, len(files), lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", choices=("demo", "realpages"), default="demo", help="what to build twice")
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"), help="git snapshots (realpages)")
    ap.add_argument("--hog", type=int, default=os.cpu_count() or 2, help="busy-loop processes in build 2")
    ap.add_argument("--limit", type=int, help="only the first N source rows (a smoke run)")
    ap.add_argument("--keep", type=Path, help="build into this folder and keep the runs")
    args = ap.parse_args()
    pipeline = "demo"
    if args.corpus == "realpages":
        why = realpages_ready(args.mirror)
        if why:
            print(f"skipped --corpus realpages: {why}")
            return
        pipeline = str(ROOT / "bench/realpages.yaml")
    base = args.keep or Path(tempfile.mkdtemp(prefix="aesdata-determinism-"))
    base.mkdir(parents=True, exist_ok=True)
    run_a, run_b = base / "quiet", base / "busy"
    for run in (run_a, run_b):
        shutil.rmtree(run, ignore_errors=True)
    try:
        t_a = build(pipeline, run_a, args.limit)
        print(f"build 1 (machine as it is): {t_a:.0f} s")
        with cpu_hog(args.hog):
            t_b = build(pipeline, run_b, args.limit)
        print(
            f"build 2 ({args.hog} busy-loop processes on {os.cpu_count()} cores): {t_b:.0f} s ({t_b / t_a:.2f}x)"
        )

        a = rows_by_id(run_sql(run_a, "SELECT * FROM samples"))
        b = rows_by_id(run_sql(run_b, "SELECT * FROM samples"))
        shots = [k for k in a if k in b and (a[k].get("screenshot") or b[k].get("screenshot"))]
        same_shots = sum(1 for k in shots if a[k].get("screenshot") == b[k].get("screenshot"))
        diffs = compare_rows(a, b, TIMING_COLUMNS)
        differing = sorted({k for k, *_ in diffs})
        print(
            f"rows: {len(a)} and {len(b)}; rows identical in every column but {', '.join(TIMING_COLUMNS)}: "
            f"{len(a) - len(differing)}/{len(a)} ({100 * (len(a) - len(differing)) / max(1, len(a)):.1f}%)"
        )
        pct = 100 * same_shots / max(1, len(shots))
        print(f"screenshots identical: {same_shots}/{len(shots)} ({pct:.1f}%; goal >= 99%)")
        for key in differing:
            cols = [(c, x, y) for k, c, x, y in diffs if k == key]
            name = _name(a.get(key, b.get(key, {})))
            print(f"  row {key[:16]} ({name}): {', '.join(c for c, _, _ in cols)}")
            for c, x, y in cols[:6]:
                print(f"    {c}: {_short(x)} -> {_short(y)}")
        by_column = Counter(c for _, c, *_ in diffs)
        print(
            "rows differing per column: "
            + (", ".join(f"{c} {n}" for c, n in by_column.most_common()) if by_column else "none")
        )
        if args.corpus == "demo":
            same, total, lines = compare_exports(run_a / "dataset", run_b / "dataset")
            print(
                f"exported dataset files byte-identical: {same}/{total} ({'goal met' if same == total else 'goal NOT met'})"
            )
            for line in lines:
                print(line)
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
