"""Run a benchmark as an ordinary aesdata pipeline, then write ``eval.json``.

``eval_spec`` writes the pipeline (``eval_tasks -> generate -> eval_code -> render -> judge -> eval_judge``)
into the run directory as ``eval_pipeline.yaml``; the local or Ray executor runs it like any build, so an
eval is resumable (finished shards are skipped), its model and judge calls go through the request cache,
and ``aesdata sql`` / ``aesdata report`` work on it. ``run_eval`` does both steps and summarises.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from aesdata.errors import AesdataError
from aesdata.eval.benchmarks import get_benchmark

SPEC_NAME = "eval_pipeline.yaml"


@dataclass
class EvalOptions:
    """What ``aesdata eval <benchmark>`` was asked: the model under test, the data, the judge, the run."""

    benchmark: str
    model: str
    llm_base_url: str | None = None
    backend: str = "openai"
    data: Path | None = None
    limit: int | None = None
    out: Path | None = None
    judge_model: str | None = None
    judge_base_url: str | None = None
    judge_backend: str = "openai"
    max_tokens: int = 4096
    temperature: float = 0.0
    concurrency: int = 16
    shard_size: int = 16
    interactive: bool = True
    device: str = "auto"


def eval_spec(opts: EvalOptions) -> dict[str, Any]:
    """The pipeline of one eval as a mapping (what ``eval_pipeline.yaml`` holds)."""
    b = get_benchmark(opts.benchmark)
    if opts.backend == "openai" and not opts.llm_base_url:
        raise AesdataError(
            "The openai backend needs an endpoint.",
            "Pass --llm-base-url http://HOST:PORT/v1, or --backend vllm / transformers for a local model.",
        )
    data = str(opts.data.resolve()) if opts.data else None
    gen: dict[str, Any] = {
        "stage": "generate",
        "backend": opts.backend,
        "model": opts.model,
        "n": 1,
        "temperature": opts.temperature,
        "max_tokens": opts.max_tokens,
        "concurrency": opts.concurrency,
        "system_prompts": b.system_prompts,
    }
    if opts.backend == "openai":
        gen["base_url"] = opts.llm_base_url
    if opts.backend == "transformers":
        gen["device"] = opts.device
    viewport = {"viewport_width": b.viewport[0], "viewport_height": b.viewport[1]}
    judge: dict[str, Any] = {"stage": "judge", "render": viewport}
    if not opts.interactive:
        judge["interactive"] = None
    vlm = None
    if opts.judge_model:
        if opts.judge_backend == "openai" and not opts.judge_base_url:
            raise AesdataError("--judge-model needs --judge-base-url (an OpenAI-compatible endpoint).")
        vlm = {"model": opts.judge_model, "backend": opts.judge_backend, "base_url": opts.judge_base_url}
    return {
        "name": f"eval_{b.name}",
        "description": f"aesdata eval {b.name}: {b.title} ({b.source})",
        "shard_size": opts.shard_size,
        "plugins": ["aesdata.eval.stages"],
        "stages": [
            {"stage": "eval_tasks", "benchmark": b.name, "path": data},
            gen,
            {"stage": "eval_code", "benchmark": b.name},
            {"stage": "render", **viewport},
            judge,
            {"stage": "eval_judge", "benchmark": b.name, "path": data, "vlm": vlm},
        ],
    }


def prepare_run_dir(run_dir: Path, fresh: bool) -> None:
    """Refuse a folder that is neither empty nor an eval run; ``fresh`` clears an eval run."""
    is_eval = (run_dir / SPEC_NAME).exists()
    if run_dir.exists() and any(run_dir.iterdir()) and not is_eval:
        raise AesdataError(f"{run_dir} exists and is not an aesdata eval run.", "Pick another --out folder.")
    if fresh and is_eval:
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)


def run_eval(
    opts: EvalOptions,
    *,
    fresh: bool = False,
    executor: str = "local",
    ray_address: str | None = None,
    workers: int | None = None,
    console: Console | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Build the eval pipeline into its run directory (resuming) and write ``eval.json``; return both."""
    from aesdata.eval.summary import write_eval_json
    from aesdata.spec import load_pipeline

    spec = eval_spec(opts)
    run_dir = (opts.out or Path("runs") / spec["name"]).resolve()
    prepare_run_dir(run_dir, fresh)
    spec_path = run_dir / SPEC_NAME
    text = "# written by `aesdata eval`; rerun the same command to resume\n" + yaml.safe_dump(
        spec, sort_keys=False, allow_unicode=True, width=110
    )
    if not spec_path.exists() or spec_path.read_text(encoding="utf-8") != text:
        spec_path.write_text(text, encoding="utf-8")
    pipe = load_pipeline(spec_path)
    from aesdata.executor import make_executor

    runner = make_executor(
        executor, pipe, run_dir, limit=opts.limit, workers=workers, console=console, address=ray_address
    )
    runner.run()
    _, doc = write_eval_json(run_dir)
    return run_dir, doc
