"""``aesdata eval compare RUN_A RUN_B``: two eval runs of one benchmark, side by side.

Tasks are matched by the benchmark's task id. Each task is ranked by its ``primary`` score from
``eval.json`` (the benchmark's main per-task score when both runs have it, else aesdata's offline design
score for both, so the two sides are always the same metric); a difference within ``tie`` is a tie.
Output: per category the mean primary score of A and B, A's wins, B's wins and ties, the offline figures;
and a self-contained HTML page (inline CSS, screenshots as WebP data URIs made by
``aesdata.report.thumbnail``) with both renders of every task next to each other, biggest differences
first.
"""

from __future__ import annotations

import base64
import html
import json
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from aesdata.errors import AesdataError
from aesdata.rundir import atomic_write_bytes


def load_eval(run: Path) -> dict[str, Any]:
    """``<run>/eval.json``, written now from the run's rows when it is missing."""
    path = run / "eval.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    from aesdata.eval.summary import write_eval_json

    if not run.is_dir():
        raise AesdataError(f"Run directory {run} does not exist.", "Pass two folders `aesdata eval` wrote.")
    return write_eval_json(run)[1]


def _offline_primary(task: dict[str, Any]) -> float:
    return float(task.get("design") or 0.0) if task.get("exec_pass") else 0.0


def compare_docs(a: dict[str, Any], b: dict[str, Any], tie: float = 0.0) -> dict[str, Any]:
    """Compare two ``eval.json`` documents: per-task rows (sorted by |B - A| descending), per-category and
    overall means, wins and ties. ``AesdataError`` when they are different benchmarks or share no task."""
    if a["benchmark"] != b["benchmark"]:
        raise AesdataError(
            f"The runs are different benchmarks ({a['benchmark']} vs {b['benchmark']}).",
            "Compare two runs of the same benchmark.",
        )
    same_metric = a["primary_metric"] == b["primary_metric"]
    metric = a["primary_metric"] if same_metric else "aesdata design score 0..100 (offline)"
    tb = {t["task_id"]: t for t in b["per_task"]}
    tasks = []
    for ta in a["per_task"]:
        t2 = tb.get(ta["task_id"])
        if t2 is None:
            continue
        sa = ta["primary"] if same_metric else _offline_primary(ta)
        sb = t2["primary"] if same_metric else _offline_primary(t2)
        diff = sb - sa
        winner = "tie" if abs(diff) <= tie else ("B" if diff > 0 else "A")
        tasks.append(
            {
                "task_id": ta["task_id"],
                "category": ta.get("category") or "all",
                "a": sa,
                "b": sb,
                "diff": diff,
                "winner": winner,
                "id_a": ta["id"],
                "id_b": t2["id"],
                "status_a": ta.get("render_status"),
                "status_b": t2.get("render_status"),
            }
        )
    if not tasks:
        raise AesdataError("The two runs share no task id.", "Compare runs of the same benchmark tasks.")
    tasks.sort(key=lambda t: (-abs(t["diff"]), str(t["task_id"])))

    def group(rows: list[dict[str, Any]], cat: str) -> dict[str, Any]:
        return {
            "category": cat,
            "tasks": len(rows),
            "mean_a": round(statistics.fmean(r["a"] for r in rows), 2),
            "mean_b": round(statistics.fmean(r["b"] for r in rows), 2),
            "wins_a": sum(r["winner"] == "A" for r in rows),
            "wins_b": sum(r["winner"] == "B" for r in rows),
            "ties": sum(r["winner"] == "tie" for r in rows),
            "offline_a": a["offline"]["by_category"].get(cat)
            if cat != "overall"
            else a["offline"]["overall"],
            "offline_b": b["offline"]["by_category"].get(cat)
            if cat != "overall"
            else b["offline"]["overall"],
        }

    cats = sorted({t["category"] for t in tasks})
    return {
        "benchmark": a["benchmark"],
        "title": a.get("title", a["benchmark"]),
        "metric": metric,
        "run_a": {"run": a["run"], "model": a.get("model")},
        "run_b": {"run": b["run"], "model": b.get("model")},
        "official_a": a["official"],
        "official_b": b["official"],
        "categories": [group([t for t in tasks if t["category"] == c], c) for c in cats],
        "overall": group(tasks, "overall"),
        "tasks": tasks,
    }


def print_comparison(console: Console, result: dict[str, Any]) -> None:
    """The per-category table of ``compare_docs``' result (the offline figures are on the page)."""
    ma, mb = result["run_a"]["model"], result["run_b"]["model"]
    t = Table(title=f"{result['title']}: A = {ma} vs B = {mb}, by {result['metric']}")
    groups = [*result["categories"], result["overall"]]
    t.add_column("category", overflow="fold", min_width=min(24, max(len(g["category"]) for g in groups)))
    for col in ("tasks", "A mean", "B mean", "A wins", "B wins", "ties"):
        t.add_column(col, justify="right")
    for g in groups:
        t.add_row(
            g["category"],
            str(g["tasks"]),
            f"{g['mean_a']:.2f}",
            f"{g['mean_b']:.2f}",
            str(g["wins_a"]),
            str(g["wins_b"]),
            str(g["ties"]),
        )
    console.print(t)


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def _shots(run: Path, ids: list[str]) -> dict[str, dict[str, Any]]:
    """id -> {instruction, thumb (data URI or None), status} for ``ids`` of ``run``."""
    from aesdata.query import connect
    from aesdata.report import thumbnail

    con = connect(run)
    quoted = ", ".join("'" + i.replace("'", "''") + "'" for i in ids)
    rows = con.execute(
        "SELECT id, instruction, meta_json, screenshot, render_status, render_error FROM samples "
        f"WHERE id IN ({quoted})"
    ).fetchall()
    out = {}
    for rid, instruction, meta_json, shot, status, error in rows:
        png = shot.get("bytes") if isinstance(shot, dict) else None
        meta = json.loads(meta_json or "{}").get("eval") or {}
        task_text, refs = meta.get("task_text"), meta.get("plots_gt") or []
        out[rid] = {
            "instruction": " ".join(task_text) if task_text else instruction,
            "reference": thumbnail(base64.b64decode(refs[0]), width=460, max_ratio=0.9) if refs else None,
            "thumb": thumbnail(png, width=460, max_ratio=0.9) if png else None,
            "status": status,
            "error": (error or "")[:200],
        }
    return out


_CSS = """
:root { --bg:#f6f7fb; --card:#fff; --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --a:#0ea5e9; --b:#8b5cf6;
  --good:#059669; --bad:#dc2626; --shadow:0 1px 2px rgba(15,23,42,.06),0 4px 16px rgba(15,23,42,.06); }
* { box-sizing:border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:14px/1.5 ui-sans-serif,system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",Arial,sans-serif; }
header { background:linear-gradient(120deg,#0f172a,#1e293b 55%,#334155); color:#fff; padding:26px 40px 22px; }
header h1 { margin:0 0 6px; font-size:24px; letter-spacing:-.01em; }
header .sub { color:#cbd5e1; font-size:13px; }
.legend { display:flex; gap:14px; margin-top:14px; flex-wrap:wrap; }
.chip { border-radius:999px; padding:4px 12px; font-size:12.5px; font-weight:600; background:rgba(255,255,255,.1);
  border:1px solid rgba(255,255,255,.2); }
.chip i { display:inline-block; width:10px; height:10px; border-radius:50%; margin-right:6px; }
main { max-width:1180px; margin:0 auto; padding:22px 40px 60px; }
h2 { font-size:17px; margin:26px 0 10px; }
h2 small { color:var(--muted); font-weight:500; font-size:13px; margin-left:6px; }
.panel { background:var(--card); border-radius:14px; box-shadow:var(--shadow); padding:14px 18px; overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { text-align:right; padding:7px 10px; border-bottom:1px solid var(--line); white-space:nowrap; }
th:first-child, td:first-child { text-align:left; }
th { color:var(--muted); font-weight:600; font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
tr.overall td { font-weight:700; border-bottom:none; }
.task { background:var(--card); border-radius:14px; box-shadow:var(--shadow); padding:14px 18px 18px; margin:14px 0; }
.task .head { display:flex; justify-content:space-between; gap:12px; align-items:baseline; }
.task .id { font-weight:700; }
.task .cat { color:var(--muted); font-size:12.5px; margin-left:8px; }
.delta { font-weight:700; font-variant-numeric:tabular-nums; padding:2px 10px; border-radius:999px; font-size:13px; }
.delta.A { background:#e0f2fe; color:#0369a1; } .delta.B { background:#ede9fe; color:#6d28d9; }
.delta.tie { background:#f1f5f9; color:var(--muted); }
.instr { color:#334155; font-size:13px; margin:6px 0 12px; max-height:4.5em; overflow:hidden; }
.pair { display:grid; grid-template-columns:1fr 1fr; gap:16px; }
.pair.ref { grid-template-columns:1fr 1fr 1fr; }
.side.r .bar { background:#f1f5f9; color:#334155; }
.official { display:grid; grid-template-columns:1fr 1fr; gap:16px; font-size:13px; }
.official b { display:block; margin-bottom:2px; }
.side { border:1px solid var(--line); border-radius:10px; overflow:hidden; }
.side .bar { display:flex; justify-content:space-between; padding:6px 10px; font-size:12.5px; font-weight:600; }
.side.a .bar { background:#f0f9ff; color:#0369a1; } .side.b .bar { background:#f5f3ff; color:#6d28d9; }
.side img { display:block; width:100%; background:#fff; }
.fail { padding:28px 14px; color:var(--bad); font-size:13px; text-align:center; background:#fef2f2; }
.win { outline:3px solid var(--good); }
"""


def _official_text(official: dict[str, Any]) -> str:
    """One line of a run's official overall figures, or what is missing."""
    from aesdata.eval.summary import official_line

    line = official_line(official.get("overall"))
    return line + (f" (missing: {official['missing']})" if official.get("missing") else "")


def render_page(result: dict[str, Any], shots_a: dict[str, Any], shots_b: dict[str, Any]) -> str:
    """The compare page's HTML (no script, no network)."""
    e = html.escape
    ma, mb = e(str(result["run_a"]["model"])), e(str(result["run_b"]["model"]))
    rows = []
    for g in [*result["categories"], result["overall"]]:
        cls = ' class="overall"' if g["category"] == "overall" else ""
        rows.append(
            f"<tr{cls}><td>{e(g['category'])}</td><td>{g['tasks']}</td><td>{g['mean_a']:.2f}</td>"
            f"<td>{g['mean_b']:.2f}</td><td>{g['wins_a']}</td><td>{g['wins_b']}</td><td>{g['ties']}</td>"
            f"<td>{_num((g['offline_a'] or {}).get('design'))}</td>"
            f"<td>{_num((g['offline_b'] or {}).get('design'))}</td></tr>"
        )
    cards = []
    for t in result["tasks"]:
        sa, sb = shots_a.get(t["id_a"], {}), shots_b.get(t["id_b"], {})
        label = {"A": "A better", "B": "B better", "tie": "tie"}[t["winner"]]
        sides = []
        for side, shot, score, win in (
            ("a", sa, t["a"], t["winner"] == "A"),
            ("b", sb, t["b"], t["winner"] == "B"),
        ):
            body = (
                f'<img alt="render {side.upper()}" src="{shot["thumb"]}">'
                if shot.get("thumb")
                else f'<div class="fail">no render ({e(str(shot.get("status")))}): {e(shot.get("error") or "")}</div>'
            )
            sides.append(
                f'<div class="side {side}{" win" if win else ""}"><div class="bar"><span>{side.upper()}: '
                f"{ma if side == 'a' else mb}</span><span>{score:.1f}</span></div>{body}</div>"
            )
        if sa.get("reference"):
            sides.append(
                '<div class="side r"><div class="bar"><span>reference (the benchmark\'s ground truth)</span>'
                f'</div><img alt="reference" src="{sa["reference"]}"></div>'
            )
        cards.append(
            f'<div class="task"><div class="head"><div><span class="id">task {e(str(t["task_id"]))}</span>'
            f'<span class="cat">{e(t["category"])}</span></div><span class="delta {t["winner"]}">'
            f"{label} · B − A {t['diff']:+.1f}</span></div>"
            f'<div class="instr">{e((sa.get("instruction") or "")[:600])}</div>'
            f'<div class="pair{" ref" if sa.get("reference") else ""}">{"".join(sides)}</div></div>'
        )
    o = result["overall"]
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(result["title"])} · '
        f"aesdata eval compare</title><style>{_CSS}</style></head><body><header>"
        f'<h1>{e(result["title"])}: A vs B</h1><div class="sub">ranked by {e(result["metric"])} · '
        f"{o['tasks']} tasks · A wins {o['wins_a']}, B wins {o['wins_b']}, ties {o['ties']}</div>"
        f'<div class="legend"><span class="chip"><i style="background:var(--a)"></i>A: {ma} · '
        f'{e(result["run_a"]["run"])}</span><span class="chip"><i style="background:var(--b)"></i>B: {mb} · '
        f"{e(result['run_b']['run'])}</span></div></header><main>"
        "<h2>By category <small>mean score, per-task wins; design = aesdata's offline judge, not the "
        'benchmark\'s metric</small></h2><div class="panel"><table><tr><th>category</th><th>tasks</th>'
        "<th>A mean</th><th>B mean</th><th>A wins</th><th>B wins</th><th>ties</th><th>A design</th>"
        f"<th>B design</th></tr>{''.join(rows)}</table></div>"
        "<h2>Official metric <small>the benchmark's own formula over all tasks of each run</small></h2>"
        f'<div class="panel official"><div><b>A: {ma}</b>{e(_official_text(result["official_a"]))}</div>'
        f"<div><b>B: {mb}</b>{e(_official_text(result['official_b']))}</div></div>"
        f"<h2>Tasks <small>biggest differences first</small></h2>{''.join(cards)}</main></body></html>"
    )


def compare_runs(
    run_a: Path, run_b: Path, out: Path | None = None, tie: float = 0.0
) -> tuple[dict[str, Any], Path]:
    """Compare two eval runs; write the page (default ``<run_b>/compare.html``); return (result, page)."""
    result = compare_docs(load_eval(run_a), load_eval(run_b), tie)
    shots_a = _shots(run_a, [t["id_a"] for t in result["tasks"]])
    shots_b = _shots(run_b, [t["id_b"] for t in result["tasks"]])
    page = out or run_b / "compare.html"
    atomic_write_bytes(page, render_page(result, shots_a, shots_b).encode())
    return result, page
