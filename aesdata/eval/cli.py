"""``aesdata eval``: one command per benchmark, and ``compare``. Registered in ``aesdata/cli.py``."""

# no `from __future__ import annotations`: the per-benchmark help texts in the annotations are evaluated here

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aesdata.cli_errors import friendly
from aesdata.eval.benchmarks import BENCHMARKS
from aesdata.eval.summary import fmt_value, official_line

eval_app = typer.Typer(
    help="Score a model on a benchmark (PandasPlotBench, OpenDesign, WebGen-Bench, ArtifactsBench) and "
    "compare two runs.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)


def print_eval(console: Console, doc: dict[str, Any]) -> None:
    """The official and offline figures of an ``eval.json``, per category, as tables."""
    off = doc["official"]
    t = Table(title=f"{doc['title']}: official metric ({doc['tasks']} tasks, model {doc['model']})")
    groups = {**off["by_category"], "overall": off["overall"]}
    t.add_column("category", overflow="fold", min_width=min(24, max(len(c) for c in groups)))
    t.add_column("official", overflow="fold")
    for cat, stats in groups.items():
        t.add_row(cat, escape(official_line(stats)))
    console.print(t)
    if off.get("missing"):
        console.print(f"[yellow]Not computed:[/] {escape(off['missing'])}")
    o = Table(title=doc["offline"]["label"])
    rows = {**doc["offline"]["by_category"], "overall": doc["offline"]["overall"]}
    o.add_column("category", overflow="fold", min_width=min(24, max(len(c) for c in rows)))
    for col in ("tasks", "exec pass", "design 0..100", "interactivity 0..1"):
        o.add_column(col, justify="right")
    for cat, f in rows.items():
        o.add_row(
            cat,
            str(f["tasks"]),
            fmt_value(f["exec_pass_rate"]),
            fmt_value(f["design"]),
            fmt_value(f["interactivity"]),
        )
    console.print(o)


def _make_command(name: str) -> None:
    bench = BENCHMARKS[name]

    def command(
        model: Annotated[
            str, typer.Option(help="Model under test: served name (openai) or folder / Hub id.")
        ],
        llm_base_url: Annotated[
            str | None, typer.Option("--llm-base-url", help="OpenAI-compatible endpoint of the model (…/v1).")
        ] = None,
        backend: Annotated[str, typer.Option(help="openai | vllm | transformers")] = "openai",
        data: Annotated[
            Path | None,
            typer.Option(
                help="The benchmark's local copy (file or folder)"
                + ("; default: download from the Hub." if not bench.needs_data else " (required).")
            ),
        ] = None,
        limit: Annotated[int | None, typer.Option(help="Only the first N tasks.", min=1)] = None,
        out_dir: Annotated[
            Path | None, typer.Option("--out", help=f"Run directory (default runs/eval_{name}).")
        ] = None,
        judge_model: Annotated[
            str | None,
            typer.Option("--judge-model", help="VLM for the benchmark's own rubric (official scores)."),
        ] = None,
        judge_base_url: Annotated[
            str | None, typer.Option("--judge-base-url", help="OpenAI-compatible endpoint of the judge VLM.")
        ] = None,
        max_tokens: Annotated[int, typer.Option(help="Completion token limit per task.", min=1)] = 4096,
        fresh: Annotated[bool, typer.Option("--fresh", help="Discard the run's earlier work.")] = False,
        executor: Annotated[str, typer.Option(help="local or ray.")] = "local",
        ray_address: Annotated[str | None, typer.Option("--ray-address")] = None,
        workers: Annotated[int | None, typer.Option(help="Worker processes per stage.", min=1)] = None,
    ) -> None:
        from aesdata.eval.run import EvalOptions, run_eval

        @friendly
        def go() -> None:
            opts = EvalOptions(
                benchmark=name,
                model=model,
                llm_base_url=llm_base_url,
                backend=backend,
                data=data,
                limit=limit,
                out=out_dir,
                judge_model=judge_model,
                judge_base_url=judge_base_url,
                max_tokens=max_tokens,
            )
            run_dir, doc = run_eval(
                opts, fresh=fresh, executor=executor, ray_address=ray_address, workers=workers, console=err
            )
            print_eval(out, doc)
            out.print(f"[bold green]eval.json:[/] {run_dir / 'eval.json'}")

        go()

    command.__doc__ = f"Run {bench.title} ({bench.source}; {bench.licence}) and write eval.json."
    eval_app.command(name.replace("_", "-"))(command)


for _name in BENCHMARKS:
    _make_command(_name)


@eval_app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="First eval run directory.")],
    run_b: Annotated[Path, typer.Argument(help="Second eval run directory.")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="HTML page to write (default: <run_b>/compare.html).")
    ] = None,
    tie: Annotated[float, typer.Option(help="Differences up to this are ties (primary score units).")] = 0.0,
) -> None:
    """Per category side by side, per-task wins/losses/ties, and a page with both renders of each task."""
    from aesdata.eval.compare import compare_runs, print_comparison

    @friendly
    def go() -> None:
        result, page = compare_runs(run_a, run_b, out_file, tie=tie)
        print_comparison(out, result)
        out.print(f"[bold green]Page:[/] {page}")

    go()
