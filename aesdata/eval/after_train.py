"""The ``eval:`` key of a training recipe: score the trained model on a benchmark when training ends.

``EvalAfterTraining`` is the key's schema (``aesdata/train/recipe.py`` holds it as ``eval``);
``eval_trained_model`` runs ``aesdata eval`` on the checkpoint folder with the transformers (or vLLM)
backend and returns what ``aesdata_train.json`` records under ``eval``: the run directory, the
``eval.json`` path and its official and offline overall figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class EvalAfterTraining(BaseModel):
    """Which benchmark to run on the trained model, and how."""

    model_config = ConfigDict(extra="forbid")

    benchmark: str = Field(description="pandasplotbench | opendesign | webgen_bench | artifactsbench")
    data: str | None = Field(
        default=None, description="the benchmark's local copy (PandasPlotBench: default downloads it)"
    )
    limit: int | None = Field(default=None, ge=1, description="only the first N tasks")
    backend: Literal["transformers", "vllm"] = Field(
        default="transformers", description="how the trained checkpoint generates"
    )
    device: str = Field(default="auto", description="transformers: auto | cpu | cuda:0 ...")
    max_tokens: int = Field(default=4096, ge=1, description="completion token limit per task")
    judge_model: str | None = Field(default=None, description="VLM for the benchmark's own rubric")
    judge_base_url: str | None = Field(default=None, description="its OpenAI-compatible endpoint")
    out: str | None = Field(
        default=None, description="run directory (default: <output_dir>/eval_<benchmark>)"
    )


def eval_trained_model(spec: EvalAfterTraining, model_dir: Path) -> dict[str, Any]:
    """Run the benchmark on ``model_dir``; return the record's ``eval`` entry."""
    from aesdata.eval.run import EvalOptions, run_eval

    opts = EvalOptions(
        benchmark=spec.benchmark,
        model=str(model_dir),
        backend=spec.backend,
        data=Path(spec.data) if spec.data else None,
        limit=spec.limit,
        out=Path(spec.out) if spec.out else model_dir / f"eval_{spec.benchmark}",
        judge_model=spec.judge_model,
        judge_base_url=spec.judge_base_url,
        max_tokens=spec.max_tokens,
        device=spec.device,
    )
    run_dir, doc = run_eval(opts)
    return {
        "run": str(run_dir),
        "eval_json": str(run_dir / "eval.json"),
        "benchmark": doc["benchmark"],
        "official": doc["official"]["overall"],
        "missing": doc["official"]["missing"],
        "offline": doc["offline"]["overall"],
    }
