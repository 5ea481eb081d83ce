"""The ``aesdata`` command line (Typer). Every command has ``--help``; bad input exits 1 with one paragraph."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aesdata.cli_errors import err, friendly
from aesdata.errors import AesdataError

app = typer.Typer(
    name="aesdata",
    help="Build, judge and curate datasets of good-looking, working HTML pages and plots, and train on them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
out = Console()


@app.command()
@friendly
def build(
    pipeline: Annotated[
        str,
        typer.Argument(
            help="Pipeline name (pipelines/<name>.yaml here, else a shipped one: demo, webpage, plot) or path to a .yaml file."
        ),
    ],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run directory (default: runs/<pipeline name>).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Only the first N source rows (a smoke run).", min=1)
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Discard the run directory's earlier work and start over.")
    ] = False,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes per stage (default: sized to the machine).", min=1)
    ] = None,
    llm_base_url: Annotated[
        str | None,
        typer.Option(
            "--llm-base-url",
            envvar="AESDATA_LLM_BASE_URL",
            help="OpenAI-compatible endpoint of the steps that generate (a VLM judge keeps its own); "
            "recorded in the manifest.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            envvar="AESDATA_MODEL",
            help="Model of the steps that generate (a VLM judge keeps its own); recorded in the manifest.",
        ),
    ] = None,
    executor: Annotated[
        str, typer.Option(help="local (process pool on this machine) or ray (actors on a Ray cluster).")
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Ray cluster address (default: start a local Ray).")
    ] = None,
) -> None:
    """Build a dataset: run a pipeline's stages into a run directory, resuming finished work."""
    from aesdata.executor import BACKENDS, make_executor
    from aesdata.report_text import print_build_summary
    from aesdata.rundir import RunDir
    from aesdata.spec import load_pipeline, resolve_pipeline_path

    if executor not in BACKENDS:
        raise AesdataError(f"Unknown --executor {executor!r}.", f"Use one of: {', '.join(BACKENDS)}.")
    overrides = {"model": model, "llm_base_url": llm_base_url}
    pipe = load_pipeline(resolve_pipeline_path(pipeline), overrides)
    for name, value in overrides.items():
        if value is not None and name not in pipe.overrides:
            flag = "--" + name.replace("_", "-")
            err.print(f"[yellow]Note:[/] no step of {pipe.name} generates with an LLM; {flag} is not used.")
    rundir = RunDir.for_pipeline(pipe.name, out_dir)
    with rundir.prepare_for_build(pipe.name, fresh):  # holds the run directory's lock until the end
        err.print(f"[bold]Building[/] {pipe.name} ({pipe.path}) into {rundir.path}")
        runner = make_executor(
            executor, pipe, rundir.path, limit=limit, workers=workers, console=err, address=ray_address
        )
        result = runner.run()
    print_build_summary(out, result)


@app.command()
@friendly
def sql(
    run: Annotated[Path, typer.Argument(help="A run directory (e.g. runs/demo).")],
    query: Annotated[
        str,
        typer.Argument(
            help='SQL over the `samples` view, e.g. "SELECT kind, count(*) FROM samples GROUP BY 1".'
        ),
    ],
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json | parquet")] = "table",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of stdout (required for parquet)."),
    ] = None,
    max_rows: Annotated[int, typer.Option(help="Rows shown in table format.")] = 50,
) -> None:
    """Query a run with DuckDB: `samples` is one row per candidate with every stage's latest columns."""
    from aesdata.query import run_sql, write_result

    result = run_sql(run, query)
    write_result(result, fmt, output, out, max_rows)


@app.command()
@friendly
def stages(
    name: Annotated[
        str | None, typer.Argument(help="Show one stage in detail: its config keys, reads and writes.")
    ] = None,
) -> None:
    """List the stages a pipeline can use, or show one stage's config keys and columns."""
    from aesdata.schema import DESCRIPTIONS
    from aesdata.stages import registry

    known = registry()
    if name is None:
        table = Table(title="aesdata stages (aesdata stages <name> for details)")
        for col in ("stage", "mode", "what it does", "needs"):
            table.add_column(col, overflow="fold", no_wrap=col in ("stage", "mode"))
        for stage_name, cls in sorted(known.items()):
            table.add_row(stage_name, cls.mode, cls.summary, _needs(cls))
        out.print(table)
        return
    if name not in known:
        raise AesdataError(f"No stage named {name!r}.", f"Known stages: {', '.join(sorted(known))}.")
    cls = known[name]
    out.print(f"[bold]{name}[/] ({cls.mode}, needs {_needs(cls)}): {cls.summary}")
    cfg = Table(title="config keys")
    for col in ("key", "type", "default", "description"):
        cfg.add_column(col, overflow="fold")
    for key, field in cls.Config.model_fields.items():
        default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
        cfg.add_row(key, escape(_type_name(field.annotation)), escape(default), field.description or "")
    out.print(cfg)
    cols = Table(title="columns")
    for col in ("column", "use", "description"):
        cols.add_column(col, overflow="fold")
    for use, names in (("reads", cls.requires), ("reads if present", cls.uses), ("writes", cls.outputs)):
        for c in names:
            cols.add_row(c, use, DESCRIPTIONS.get(c, ""))
    out.print(cols)


def _type_name(annotation: Any) -> str:
    """``int`` for a plain class, the readable form of a typing construct otherwise."""
    if isinstance(annotation, type):
        return annotation.__name__
    return (
        str(annotation)
        .replace("typing.", "")
        .replace("aesdata.judges.runner.", "")
        .replace("aesdata.judges.reward.", "")
    )


def _needs(cls: Any) -> str:
    res = cls.resources
    parts = [
        f"{res.cpus:g} cpu",
        f"{res.browser_slots} browser slots" if res.browser_slots else "",
        f"{res.gpus:g} gpu" if res.gpus else "",
        "one worker per node" if res.per_node else "",
    ]
    return ", ".join(p for p in parts if p)


@app.command()
@friendly
def score(
    files: Annotated[
        list[Path], typer.Argument(help="HTML pages (.html), plot scripts (.py) or screenshots (.png).")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per file instead of a table.")
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option(help="CSV that plot scripts read as data.csv (default: a data.csv beside each script)."),
    ] = None,
) -> None:
    """Judge files: execution, design score with sub-scores and findings, and interactivity for pages."""
    from aesdata.judges.score_cli import score_files

    code = score_files(files, as_json=as_json, console=out, data=data)
    if code:
        raise typer.Exit(code)


@app.command()
def doctor() -> None:
    """Check Chromium, fonts, the asset store, the plot sandbox, GPU/vLLM and optional extras."""
    from aesdata.doctor import run_checks

    table = Table(title="aesdata doctor")
    for col in ("check", "status", "found", "how to fix"):
        table.add_column(col, overflow="fold")
    bad = 0
    for c in run_checks():
        status = "[green]ok[/]" if c.ok else ("[red]missing[/]" if c.required else "[yellow]optional[/]")
        bad += (not c.ok) and c.required
        table.add_row(c.name, status, escape(c.found), "" if c.ok else escape(c.fix))
    out.print(table)
    if bad:
        raise typer.Exit(1)


@app.command()
@friendly
def train(
    recipe: Annotated[
        str,
        typer.Argument(
            help="Recipe name (recipes/<name>.yaml here, else a shipped one: sft, grpo_ar) or path to a .yaml file."
        ),
    ],
    model: Annotated[
        str | None, typer.Option(help="Model folder or Hub id (overrides model.name_or_path).")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Export folder, data file or Hub dataset id (overrides dataset.path).")
    ] = None,
    output_dir: Annotated[
        str | None, typer.Option("--output-dir", help="Checkpoint folder (overrides training.output_dir).")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Stop after N optimizer steps (a smoke run).", min=1)
    ] = None,
) -> None:
    """Train on a dataset with a recipe (SFT or GRPO-AR); writes the model and aesdata_train.json to the output dir."""
    from aesdata.train.run import summary_rows, train_from_file

    overrides = {
        "model.name_or_path": model,
        "dataset.path": dataset,
        "training.output_dir": output_dir,
        "training.max_steps": max_steps,
    }
    result = train_from_file(recipe, overrides)
    table = Table(title=f"aesdata train {recipe}")
    table.add_column("what")
    table.add_column("value", overflow="fold")
    for what, value in summary_rows(result):
        table.add_row(what, value)
    out.print(table)


@app.command()
@friendly
def push(
    run: Annotated[
        Path, typer.Argument(help="A run directory (its exported dataset is pushed) or a dataset folder.")
    ],
    repo_id: Annotated[str, typer.Argument(help="Hub dataset repo, e.g. my-org/aescode-demo.")],
    private: Annotated[bool, typer.Option("--private", help="Create the repo as private.")] = False,
) -> None:
    """Upload the exported dataset to the Hugging Face Hub (resumable: files already there are skipped)."""
    from aesdata.hub import push as push_folder

    result = push_folder(run, repo_id, private=private, log=lambda line: err.print(line, highlight=False))
    out.print(
        f"[bold green]Pushed[/] {len(result['uploaded'])} file(s) ({result['bytes'] / 1e6:.1f} MB), "
        f"{len(result['unchanged'])} unchanged, {len(result['deleted'])} deleted: {result['url']}"
    )


@app.command()
@friendly
def report(
    run: Annotated[Path, typer.Argument(help="A run directory (e.g. runs/demo).")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="HTML file to write (default: <run>/report.html).")
    ] = None,
) -> None:
    """Write one self-contained HTML report: funnel, score charts, thumbnail gallery, duplicate clusters, rationales."""
    from aesdata.report import build_report

    path = build_report(run, out_file)
    out.print(f"[bold green]Report:[/] {path} ({path.stat().st_size / 1e6:.1f} MB) — open it in a browser")


assets_app = typer.Typer(
    help="The offline store of CDN libraries and web fonts that pages render with.", no_args_is_help=True
)
app.add_typer(assets_app, name="assets")


@assets_app.command("fetch")
@friendly
def assets_fetch() -> None:
    """Download the pinned packages of the lock file from the npm registry (integrity-checked)."""
    from aesdata.render.asset_lock import fill_store, store_status

    counts = fill_store(log=lambda line: err.print(line, highlight=False))
    ok, line = store_status()
    out.print(
        f"{'[green]complete[/]' if ok else '[red]incomplete[/]'}: {escape(line)} ({counts['fetched']} fetched now)"
    )


@assets_app.command("status")
@friendly
def assets_status() -> None:
    """Say where the store is and whether it holds every pinned package."""
    from aesdata.render.asset_lock import store_status

    ok, line = store_status()
    out.print(f"{'[green]complete[/]' if ok else '[red]incomplete[/]'}: {escape(line)}")
    if not ok:
        raise typer.Exit(1)


@assets_app.command("prefetch")
@friendly
def assets_prefetch(
    source: Annotated[
        Path, typer.Argument(help="A corpus file, a folder of HTML files, or a run directory.")
    ],
    lock: Annotated[
        Path | None, typer.Option(help="Pin the chosen versions in this run lock (default: the run's own).")
    ] = None,
) -> None:
    """Fetch every CDN file the pages ask for (exact versions, integrity-checked) for offline renders."""
    from aesdata.render.prefetch import prefetch

    counts = prefetch(source, lock)
    answered = ", ".join(
        f"{counts[k]} {k}" for k in ("exact", "same-major", "other-major", "blocked") if counts[k]
    )
    out.print(f"{counts['pages']} pages, {counts['urls']} CDN URLs: {answered or 'nothing to fetch'}")


from aesdata.eval.cli import eval_app  # noqa: E402  (issue 20: `aesdata eval <benchmark>` / `compare`)

app.add_typer(eval_app, name="eval")


def main() -> None:  # pragma: no cover - console entry
    """Entry point for ``python -m aesdata``."""
    app()
    sys.exit(0)
