"""Terminal summaries: the end-of-build table and what the run holds."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from aesdata.errors import AesdataError
from aesdata.executor.base import BuildResult
from aesdata.query import run_sql


def print_build_summary(console: Console, result: BuildResult) -> None:
    """Print the steps table, a per-kind/category summary of the samples, and where the dataset is."""
    steps = Table(title="Build steps")
    for col in ("step", "stage", "rows", "failed", "shards", "resumed", "workers", "seconds"):
        steps.add_column(col, justify="right" if col not in ("step", "stage") else "left", no_wrap=True)
    for s in result.steps:
        steps.add_row(
            s.id,
            s.stage,
            str(s.rows),
            str(s.failures),
            str(s.shards),
            f"{s.skipped}/{s.shards}" if s.skipped else "-",
            str(s.workers),
            f"{s.seconds:.1f}",
        )
    console.print(steps)
    try:
        cols = {r["column_name"] for r in run_sql(result.run_dir, "DESCRIBE samples").to_pylist()}
    except AesdataError:
        return
    metrics = ["count(*) AS rows"]
    if "render_status" in cols:
        metrics.append("count(*) FILTER (WHERE render_status = 'ok') AS rendered_ok")
    for c in ("static_score", "interactive_score", "reward"):
        if c in cols:
            metrics.append(f"round(avg({c}), 1) AS mean_{c}")
    if "cluster_size" in cols:
        metrics.append("count(DISTINCT cluster_id) AS clusters")
    if "selected" in cols:
        metrics.append("count(*) FILTER (WHERE selected) AS selected")
    table = run_sql(
        result.run_dir,
        f"SELECT kind, category, {', '.join(metrics)} FROM samples GROUP BY ALL ORDER BY kind, category",
    )
    view = Table(title="Samples by category")
    for name in table.column_names:
        view.add_column(name, justify="right" if name not in ("kind", "category") else "left")
    for row in table.to_pylist():
        view.add_row(*("-" if v is None else str(v) for v in row.values()))
    console.print(view)
    for summary in result.summaries.values():
        if isinstance(summary, dict) and "funnel" in summary:
            print_funnel(console, summary["funnel"])
        if isinstance(summary, dict) and "dataset" in summary:
            console.print(
                f"[bold green]Dataset:[/] {summary['dataset']} ({summary['rows']} rows) — "
                f"load it with datasets.load_dataset({summary['dataset']!r})"
            )
    console.print(
        f'[bold]Run:[/] {result.run_dir} — explore with: aesdata sql {result.run_dir} "SELECT * FROM samples LIMIT 5"'
    )


def print_funnel(console: Console, funnel: dict) -> None:
    """Print the selection funnel: rows in, dropped and left per rule, then kept/dropped per kind and category."""
    rules = Table(title=f"Selection funnel: {funnel['selected']} of {funnel['total']} rows kept")
    for col in ("rule", "in", "dropped", "left", "what it keeps"):
        rules.add_column(
            col, justify="right" if col in ("in", "dropped", "left") else "left", overflow="fold"
        )
    for r in funnel["rules"]:
        rules.add_row(
            r["rule"],
            str(r["in"]),
            f"[red]{r['dropped']}[/]" if r["dropped"] else "0",
            str(r["out"]),
            r["description"],
        )
    console.print(rules)
    names = [r["rule"] for r in funnel["rules"]]
    groups = Table(title="Kept and dropped by kind / category")
    for col in ("kind", "category", "rows", "kept", *names):
        groups.add_column(col, justify="left" if col in ("kind", "category") else "right")
    for g in funnel["by_group"]:
        groups.add_row(
            g["kind"] or "-",
            g["category"] or "-",
            str(g["rows"]),
            str(g["selected"]),
            *(str(g["dropped"].get(n, 0) or "-") for n in names),
        )
    console.print(groups)
    if len(funnel.get("splits", {})) > 1:
        console.print("Splits: " + ", ".join(f"{k} {v}" for k, v in funnel["splits"].items()))
