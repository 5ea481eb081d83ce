"""Run a recipe end to end and record its provenance next to the checkpoint.

Input: a ``LoadedRecipe``. Output: the trained model in ``training.output_dir`` and
``<output_dir>/aesdata_train.json``, written when training starts (``status: running``) and again
when it ends (``complete`` or ``failed``), holding:

- ``recipe``: the file's path, text and hash, the command-line overrides and the resolved values;
- ``dataset``: source, split, row count and revision (sha256 of the data files, or the Hub commit sha);
- ``prompt_set_check`` (GRPO-AR): the SFT split the prompts were checked against and the overlap (0);
- ``judges`` (GRPO-AR): judge config, judge/asset/rubric versions, Chromium version, reward functions and weights;
- ``versions``: Python, aesdata, torch, transformers, trl, peft, accelerate, vllm; ``device``;
- ``log_history``: every metric TRL logged (losses, ``rewards/<name>/mean``...).
"""

from __future__ import annotations

import asyncio
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from aesdata.configfile import find
from aesdata.errors import AesdataError
from aesdata.rundir import atomic_write_json
from aesdata.train.args import DevicePlan, save_final
from aesdata.train.data import TrainData, load_train_data
from aesdata.train.recipe import DatasetSpec, GRPORecipe, LoadedRecipe

RECORD_NAME = "aesdata_train.json"
_PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "vllm")


@dataclass
class TrainResult:
    """A finished recipe run: where the model and the record are, and what TRL logged."""

    output_dir: Path
    record_path: Path
    record: dict[str, Any]

    @property
    def log_history(self) -> list[dict[str, Any]]:
        """TRL's log entries in order (one per logging step, then the run summary)."""
        return self.record.get("log_history", [])


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def library_versions() -> dict[str, str]:
    """Versions of the training stack (and aesdata's data stack) installed here."""
    from aesdata.executor.manifest import environment_versions

    out = environment_versions()
    for pkg in _PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def _dataset_record(data: TrainData) -> dict[str, Any]:
    return {
        "source": data.source,
        "split": data.split,
        "rows": len(data.dataset),
        "columns": data.dataset.column_names,
        "revision": data.revision,
    }


def judge_record(recipe: GRPORecipe, names: list[str], weights: list[float]) -> dict[str, Any]:
    """The judges' config and versions, the browser, and the reward functions with their weights."""
    from aesdata.browser import find_browser
    from aesdata.judges.runner import Judges

    browser = find_browser()
    return {
        "config": recipe.judges.model_dump(mode="json"),
        "versions": Judges(recipe.judges).versions(),
        "browser": {"version": browser.version, "origin": browser.origin},
        "reward_functions": dict(zip(names, weights, strict=True)),
    }


def run_recipe(loaded: LoadedRecipe) -> TrainResult:
    """Train as ``loaded`` says; return the result. Bad input raises ``AesdataError`` before training starts."""
    recipe = loaded.recipe
    model_path = Path(recipe.model.name_or_path)
    if model_path.is_absolute() and not model_path.exists():
        hint = (
            "Run recipes/sft.yaml first, or pass --model."
            if isinstance(recipe, GRPORecipe)
            else "Pass --model."
        )
        raise AesdataError(
            f"Model folder {model_path} does not exist.", f"{hint} A Hub model id (owner/name) works too."
        )
    device = DevicePlan.detect()
    out = Path(recipe.training.output_dir)
    record: dict[str, Any] = {
        "recipe": {
            "kind": recipe.recipe,
            "path": str(loaded.path),
            "sha256": loaded.text_hash,
            "text": loaded.text,
            "overrides": loaded.overrides,
            "resolved": recipe.model_dump(mode="json"),
        },
        "device": device.describe(),
        "versions": library_versions(),
        "started_at": _now(),
        "status": "running",
    }
    data = load_train_data(recipe.dataset)
    record["dataset"] = _dataset_record(data)
    judge = None
    if isinstance(recipe, GRPORecipe):
        from aesdata.train.grpo import check_disjoint, grpo_trainer, reward_weights
        from aesdata.train.rewards import RewardJudge, reward_functions

        if recipe.disjoint_from is not None:
            ref = recipe.disjoint_from
            sft = load_train_data(
                DatasetSpec(
                    path=ref.path or recipe.dataset.path,
                    split=ref.split,
                    revision=ref.revision if ref.path else recipe.dataset.revision,
                    columns=recipe.dataset.columns,
                )
            )
            record["prompt_set_check"] = check_disjoint(data, sft)
        judge = RewardJudge(recipe.judges)
        funcs = reward_functions(judge=judge)
        names = [f.__name__ for f in funcs]
        record["judges"] = judge_record(recipe, names, reward_weights(names, recipe.judges.reward.formula))
        trainer = grpo_trainer(recipe, data, funcs, device)
    else:
        from aesdata.train.sft import sft_trainer

        trainer = sft_trainer(recipe, data, device)
    record["generation"] = "vllm" if getattr(trainer.args, "use_vllm", False) else "transformers"
    out.mkdir(parents=True, exist_ok=True)
    path = out / RECORD_NAME
    atomic_write_json(path, record)
    t0 = time.perf_counter()
    try:
        trainer.train()
        save_final(trainer, recipe)
        record["status"] = "complete"
    except BaseException as e:
        record.update(
            status="failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=8)
        )
        raise
    finally:
        if judge is not None and getattr(trainer, "async_loop", None) is not None:
            asyncio.run_coroutine_threadsafe(judge.aclose(), trainer.async_loop).result(timeout=120)
        record.update(
            finished_at=_now(),
            seconds=round(time.perf_counter() - t0, 2),
            global_step=trainer.state.global_step,
            log_history=trainer.state.log_history,
        )
        atomic_write_json(path, record)
    if recipe.eval is not None:  # issue 20: the recipe ends with benchmark numbers
        from aesdata.eval.after_train import eval_trained_model

        record["eval"] = eval_trained_model(recipe.eval, out)
        atomic_write_json(path, record)
    return TrainResult(out, path, record)


def summary_rows(result: TrainResult) -> list[tuple[str, str]]:
    """(what, value) rows for the CLI's summary table: steps, losses, rewards, where things are."""
    history = result.log_history
    logs = [e for e in history if "loss" in e]
    rows = [
        ("output", str(result.output_dir)),
        ("record", str(result.record_path)),
        ("steps", str(result.record.get("global_step"))),
        ("seconds", str(result.record.get("seconds"))),
    ]
    if result.record.get("seconds"):
        rows.append(("steps/s", f"{result.record['global_step'] / result.record['seconds']:.3g}"))
    if logs:
        rows.append(("loss first -> last", f"{logs[0]['loss']:.4g} -> {logs[-1]['loss']:.4g}"))
        for key in sorted(k for k in logs[-1] if k.startswith("rewards/") and k.endswith("/mean")) + [
            "reward"
        ]:
            if isinstance(logs[-1].get(key), float):
                rows.append((f"{key} (last)", f"{logs[-1][key]:.4g}"))
    elif history and "train_loss" in history[-1]:
        rows.append(("train_loss (mean)", f"{history[-1]['train_loss']:.4g}"))
    return rows


def resolve_recipe_path(name_or_path: str) -> Path:
    """``sft`` -> ``recipes/sft.yaml`` (under the working directory, else the shipped one); a path is checked."""
    return find("recipes", name_or_path)


def train_from_file(recipe: str, overrides: dict[str, Any]) -> TrainResult:
    """Load the recipe named or found at ``recipe`` with ``overrides`` (dotted keys) and run it."""
    from aesdata.train.recipe import load_recipe

    return run_recipe(load_recipe(resolve_recipe_path(recipe), overrides))
