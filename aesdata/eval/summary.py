"""``eval.json``: a finished eval run's metrics, per category and overall, with the judges that made them.

Two blocks, never mixed:

- ``official``: the benchmark's own metric (``aesdata.eval.metrics``) over the per-task scores the
  ``eval_judge`` stage recorded. When a part needs a VLM and none was configured, that part is ``null``
  with the reason in ``missing``.
- ``offline``: aesdata's own judges (execution pass rate, design score 0..100, interactivity 0..1),
  labelled as not the benchmark's metric. A run without a VLM still has these.

``per_task`` lists every task with its ``primary`` score, the number ``aesdata eval compare`` ranks by:
the benchmark's main per-task score when every task has one, else aesdata's design score (0 for a failed
execution), named in ``primary_metric``.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from aesdata import __version__
from aesdata.errors import AesdataError
from aesdata.eval import metrics
from aesdata.eval.benchmarks import get_benchmark
from aesdata.rundir import RunDir, atomic_write_json

OFFLINE_LABEL = "aesdata's offline judges: not the benchmark's official metric"

_COLUMNS = (
    "id",
    "eval_benchmark",
    "eval_task_id",
    "eval_category",
    "eval_scores_json",
    "render_status",
    "exec_pass",
    "static_score",
    "interactive_score",
    "interactive_max",
    "gen_model",
    "static_judge",
)

#: per benchmark: (official per-task field, its name in words)
PRIMARY = {
    "pandasplotbench": ("vis", "PandasPlotBench vis score 0..100"),
    "opendesign": ("total", "OpenDesign total 0..100"),
    "webgen_bench": ("grade", "WebGen-Bench appearance grade 0..5"),
    "artifactsbench": ("score", "ArtifactsBench overall score 0..100"),
}


def read_rows(run: Path) -> list[dict[str, Any]]:
    """The eval rows of ``run`` (one per task), ``eval_scores_json`` decoded into ``scores``."""
    from aesdata.query import connect

    con = connect(run)
    have = {r[0] for r in con.execute("DESCRIBE samples").fetchall()}
    if "eval_scores_json" not in have:
        raise AesdataError(
            f"{run} is not a finished eval run (no eval_judge step).", "Run `aesdata eval <benchmark>` first."
        )
    cols = [c for c in _COLUMNS if c in have]
    cur = con.execute(f"SELECT {', '.join(cols)} FROM samples")
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    rows.sort(
        key=lambda r: (
            (0, int(r["eval_task_id"]), "")
            if str(r["eval_task_id"]).isdigit()
            else (1, 0, str(r["eval_task_id"]))
        )
    )
    for r in rows:
        r["scores"] = json.loads(r.pop("eval_scores_json") or "{}")
    return rows


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def offline_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Execution pass rate, mean design score (failed renders count 0) and mean interactivity (0..1)."""
    inter = [
        (r.get("interactive_score") or 0.0) / r["interactive_max"] for r in rows if r.get("interactive_max")
    ]
    return {
        "tasks": len(rows),
        "exec_pass_rate": _mean([1.0 if r.get("exec_pass") else 0.0 for r in rows]),
        "design": _mean([float(r.get("static_score") or 0.0) for r in rows]),
        "interactivity": _mean(inter),
    }


def _official(bench: str, rows: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str | None]:
    """The benchmark's metric over ``rows`` and what is missing (None when complete)."""
    sc = [r["scores"] for r in rows]
    not_judged = next((s["not_judged"] for s in sc if s.get("not_judged")), None)
    if bench == "pandasplotbench":
        judged = not_judged is None
        stats = metrics.plotbench_stats(
            [s.get("vis") for s in sc] if judged else None,
            [s.get("task") for s in sc] if judged else None,
            [bool(s.get("error")) for s in sc],
            [bool(s.get("has_plot")) for s in sc],
            [bool(s.get("wrong_lib")) for s in sc],
        )
        return stats, None if judged else f"vis and task scores: {not_judged}"
    if not_judged is not None:
        return None, not_judged
    if bench == "opendesign":
        return metrics.opendesign_stats([s.get("total") for s in sc], [s.get("subscores") for s in sc]), None
    if bench == "webgen_bench":
        return {
            "appearance": metrics.webgen_appearance([s.get("grade") for s in sc]),
            "ui_accuracy": None,
        }, "UI-test accuracy needs WebGen-Bench's GUI agent, which aesdata does not run"
    return {"score": metrics.mean_by_category([s.get("score") for s in sc], ["all"] * len(sc))["all"]}, None


def _primary(bench: str, row: dict[str, Any], official: bool) -> float:
    if official:
        value = row["scores"].get(PRIMARY[bench][0])
        return float(value or 0.0)
    return float(row.get("static_score") or 0.0) if row.get("exec_pass") else 0.0


def summarize(run: Path) -> dict[str, Any]:
    """The ``eval.json`` document of an eval run (see module docstring)."""
    rows = read_rows(run)
    if not rows:
        raise AesdataError(f"{run} holds no eval rows.", "Check the benchmark data and --limit.")
    bench = get_benchmark(rows[0]["eval_benchmark"]).name
    b = get_benchmark(bench)
    cats = sorted({r.get("eval_category") or "all" for r in rows})
    overall, missing = _official(bench, rows)
    by_cat = {
        c: _official(bench, [r for r in rows if (r.get("eval_category") or "all") == c])[0] for c in cats
    }
    has_primary = all(r["scores"].get(PRIMARY[bench][0]) is not None for r in rows)
    manifest = RunDir(run).manifest()
    versions = manifest.get("versions", {})
    judge_models = sorted({r["scores"].get("judge_model") for r in rows if r["scores"].get("judge_model")})
    prompts = sorted(
        {str(r["scores"].get(k)) for r in rows for k in ("prompts", "prompt", "rubric") if r["scores"].get(k)}
    )
    return {
        "benchmark": bench,
        "title": b.title,
        "source": b.source,
        "licence": b.licence,
        "model": next((r.get("gen_model") for r in rows if r.get("gen_model")), None),
        "run": str(run),
        "tasks": len(rows),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "aesdata": __version__,
        "official": {
            "overall": overall,
            "by_category": by_cat,
            "missing": missing,
            "judge_model": judge_models[0] if judge_models else None,
            "prompts": prompts,
        },
        "offline": {
            "label": OFFLINE_LABEL,
            "overall": offline_figures(rows),
            "by_category": {
                c: offline_figures([r for r in rows if (r.get("eval_category") or "all") == c]) for c in cats
            },
            "design_judge": next((r.get("static_judge") for r in rows if r.get("static_judge")), None),
        },
        "versions": versions,
        "primary_metric": PRIMARY[bench][1] if has_primary else "aesdata design score 0..100 (offline)",
        "per_task": [
            {
                "task_id": r.get("eval_task_id"),
                "category": r.get("eval_category"),
                "id": r["id"],
                "primary": _primary(bench, r, has_primary),
                "render_status": r.get("render_status"),
                "exec_pass": r.get("exec_pass"),
                "design": r.get("static_score"),
                "official": {k: v for k, v in r["scores"].items() if k not in ("replies", "reply")},
            }
            for r in rows
        ],
    }


def write_eval_json(run: Path) -> tuple[Path, dict[str, Any]]:
    """Summarize ``run`` into ``<run>/eval.json``; return its path and content."""
    doc = summarize(run)
    path = run / "eval.json"
    atomic_write_json(path, doc)
    return path, doc


def fmt_value(value: Any) -> str:
    """A figure for tables: 3 significant digits below 1, 2 decimals above; dicts as ``k v`` pairs."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {fmt_value(v)}" for k, v in value.items() if not isinstance(v, dict | list))
    return str(value)


def official_line(stats: dict[str, Any] | None) -> str:
    """A benchmark's official figures (a nested dict) as one readable line."""
    if not stats:
        return "-"
    parts = []
    for k, v in stats.items():
        if k == "scores":
            parts += [f"{name}: {fmt_value(s)}" for name, s in v.items()]
        elif isinstance(v, dict):
            parts.append(f"{k}: {fmt_value(v)}")
        else:
            parts.append(f"{k} {fmt_value(v)}")
    return "; ".join(parts)
