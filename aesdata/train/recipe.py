"""Recipe files: YAML in, a validated ``SFTRecipe`` or ``GRPORecipe`` out, or an error naming file, line and key.

A recipe file looks like::

    recipe: sft                      # sft | grpo_ar
    model: {name_or_path: Qwen/Qwen3-4B-Instruct-2507}
    dataset: {path: ../runs/demo/dataset, split: train}
    tuning: full                     # full | lora (then the lora: section applies)
    training: {learning_rate: 1.0e-5, num_train_epochs: 3}
    # grpo_ar only: reward: {...}, disjoint_from: {split: train}

Every knob has a default: the paper's value where the paper gives one (AesCoder stage I SFT: 3 epochs,
LR 1e-5, cosine, 10% warm-up, 8K context; stage II GRPO: LR 3e-6, 64 prompts x 8 rollouts, KL 0.001),
else TRL's default, and says which in its description. ``training.trl`` passes any other field of
TRL's ``SFTConfig`` / ``GRPOConfig`` through unchanged. Paths in the file are relative to the file
(in the recipes aesdata ships, ``aesdata train sft``, to the working directory); paths given on the
command line are relative to the working directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from aesdata.configfile import describe, line_of, read_yaml, shipped
from aesdata.errors import AesdataError
from aesdata.eval.after_train import EvalAfterTraining
from aesdata.judges.runner import JudgeConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    """The model to train: a local folder or a Hub model id, and how to load it."""

    name_or_path: str = Field(
        description="Local model folder or Hub model id. AesCoder's bases: Qwen3-4B-Instruct and "
        "Qwen2.5-Coder-7B-Instruct. For GRPO-AR pass the SFT checkpoint (`--model checkpoints/sft`)."
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        default="auto", description="Weights dtype when loading: 'auto' keeps the checkpoint's dtype."
    )
    attn_implementation: str | None = Field(
        default=None,
        description="Attention kernel, e.g. 'sdpa' or 'flash_attention_2'; None lets transformers choose.",
    )
    trust_remote_code: bool = Field(
        default=False, description="Allow models that ship their own Python code."
    )
    revision: str | None = Field(
        default=None, description="Hub revision (branch, tag or commit) of the model."
    )


class DatasetSpec(_Strict):
    """Rows to train on: an aesdata export folder, a data file, or a Hub dataset repo id."""

    path: str = Field(
        description="An aesdata export folder (data/<split>-*.parquet), a .parquet/.jsonl/.csv file, or a Hub "
        "dataset repo id (owner/name). Relative paths are relative to the recipe file."
    )
    split: str = Field(
        default="train",
        description="Split to read: a file split of the dataset, or, when rows carry a `split` column (the select "
        "stage writes one), the rows whose split has this value.",
    )
    revision: str | None = Field(
        default=None, description="Hub revision (branch, tag or commit sha) of a Hub dataset."
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Map of aesdata column -> your column name, e.g. {prompt: question, completion: answer}.",
    )
    kinds: list[Literal["html", "plot"]] | None = Field(
        default=None,
        description="Keep only rows of these kinds (None: all). With one kind and no `kind` column, "
        "every row gets that kind.",
    )
    limit: int | None = Field(default=None, gt=0, description="Use only the first N rows (a smoke run).")


class PromptSetSpec(DatasetSpec):
    """The GRPO prompt set: like ``DatasetSpec`` but reading the held-out ``test`` split by default."""

    split: str = Field(
        default="test",
        description="Split of held-out instructions (select stage `splits:`), or "
        "'train' of a separate instruction file.",
    )


class DatasetRef(_Strict):
    """Another split (by default of the same dataset) that the RL prompts must not overlap."""

    path: str | None = Field(
        default=None, description="Dataset of the SFT split (None: the prompt set's own dataset)."
    )
    split: str = Field(default="train", description="The split the model was fine-tuned on.")
    revision: str | None = Field(default=None, description="Hub revision of that dataset.")


class LoraSpec(_Strict):
    """LoRA adapter settings (peft), used when ``tuning: lora``."""

    r: int = Field(
        default=16, gt=0, description="Adapter rank (not stated by the paper, which fine-tunes fully)."
    )
    alpha: int = Field(default=32, gt=0, description="LoRA scaling alpha (commonly 2 x r).")
    dropout: float = Field(default=0.05, ge=0, lt=1, description="Dropout on the adapter input.")
    target_modules: str | list[str] = Field(
        default="all-linear", description="Modules that get adapters: 'all-linear' or a list of module names."
    )
    merge_at_end: bool = Field(
        default=True,
        description="Merge the adapter into the weights when saving, so the checkpoint is a plain "
        "model that GRPO-AR, vLLM and `transformers` load directly.",
    )


class _Training(_Strict):
    """Hyperparameters shared by both recipes; defaults are overridden per recipe where the paper says."""

    output_dir: str = Field(
        default="checkpoints/run", description="Where the checkpoint and aesdata_train.json go."
    )
    learning_rate: float = Field(default=1e-5, gt=0, description="Peak AdamW learning rate.")
    num_train_epochs: float = Field(default=1.0, gt=0, description="Passes over the dataset.")
    max_steps: int = Field(
        default=-1, description="Stop after this many optimizer steps (-1: run the epochs)."
    )
    per_device_train_batch_size: int = Field(default=1, gt=0, description="Rows per device per forward pass.")
    gradient_accumulation_steps: int = Field(
        default=16, gt=0, description="Forward passes per optimizer step."
    )
    lr_scheduler_type: str = Field(
        default="cosine", description="Learning-rate schedule (a transformers SchedulerType)."
    )
    warmup_ratio: float = Field(
        default=0.1, ge=0, lt=1, description="Share of the steps spent warming up linearly."
    )
    weight_decay: float = Field(default=0.0, ge=0, description="AdamW weight decay (TRL's default).")
    max_grad_norm: float = Field(default=1.0, gt=0, description="Gradient clipping norm (TRL's default).")
    seed: int = Field(default=42, description="Seed of data order, initialisation and sampling.")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        default="auto", description="'auto': bf16 on a GPU that supports it, fp32 on CPU."
    )
    gradient_checkpointing: bool | None = Field(
        default=None, description="Recompute activations to save memory; None: on with a GPU, off on CPU."
    )
    logging_steps: float = Field(
        default=10, gt=0, description="Log every N steps (a float below 1: a share of the run)."
    )
    save_strategy: Literal["no", "steps", "epoch"] = Field(
        default="epoch",
        description="When to write intermediate checkpoints; the final model is always saved.",
    )
    save_steps: float = Field(
        default=500, gt=0, description="Steps between checkpoints when save_strategy is 'steps'."
    )
    save_total_limit: int | None = Field(
        default=2, description="Keep at most this many intermediate checkpoints."
    )
    report_to: str | list[str] = Field(
        default="none", description="Trackers: 'none', 'tensorboard', 'wandb', ..."
    )
    trl: dict[str, Any] = Field(
        default_factory=dict,
        description="Any other field of TRL's SFTConfig / GRPOConfig, passed through unchanged.",
    )


class SFTTraining(_Training):
    """SFT hyperparameters (TRL ``SFTConfig``); defaults follow AesCoder's stage I."""

    output_dir: str = Field(
        default="checkpoints/sft", description="Where the checkpoint and aesdata_train.json go."
    )
    learning_rate: float = Field(default=1e-5, gt=0, description="Peak learning rate (paper: 1e-5).")
    num_train_epochs: float = Field(default=3.0, gt=0, description="Passes over the dataset (paper: 3).")
    lr_scheduler_type: str = Field(default="cosine", description="Learning-rate schedule (paper: cosine).")
    warmup_ratio: float = Field(
        default=0.1, ge=0, lt=1, description="Share of steps warming up (paper: 10%)."
    )
    max_length: int = Field(
        default=8192, gt=0, description="Tokens per example, longer ones are truncated (paper: 8K context)."
    )
    completion_only_loss: bool = Field(
        default=True,
        description="Train on the answer tokens only (prompt-completion rows); the prompt is context.",
    )
    packing: bool = Field(
        default=False, description="Pack several short examples into one max_length sequence."
    )


class GRPOTraining(_Training):
    """GRPO hyperparameters (TRL ``GRPOConfig``); defaults follow AesCoder's stage II."""

    output_dir: str = Field(
        default="checkpoints/grpo_ar", description="Where the checkpoint and aesdata_train.json go."
    )
    learning_rate: float = Field(default=3e-6, gt=0, description="Peak learning rate (paper: 3e-6).")
    num_train_epochs: float = Field(
        default=1.0, gt=0, description="Passes over the prompt set (not stated by the paper)."
    )
    lr_scheduler_type: str = Field(
        default="constant", description="Learning-rate schedule (not stated by the paper)."
    )
    warmup_ratio: float = Field(
        default=0.0, ge=0, lt=1, description="Share of steps warming up (not stated by the paper)."
    )
    num_generations: int = Field(
        default=8, ge=2, description="Rollouts per prompt, the GRPO group size (paper: 8)."
    )
    per_device_train_batch_size: int = Field(
        default=8,
        gt=0,
        description="Completions per device per forward pass; a multiple of num_generations keeps "
        "whole groups together.",
    )
    gradient_accumulation_steps: int = Field(
        default=64,
        gt=0,
        description="With batch 8 on one GPU: 64 x 8 = 512 completions = 64 prompts x 8 rollouts "
        "per optimizer step (paper: 64 prompts x 8 rollouts).",
    )
    beta: float = Field(
        default=0.001, ge=0, description="KL coefficient against the reference model (paper: 0.001)."
    )
    loss_type: str = Field(
        default="grpo",
        description="GRPO loss aggregation: 'grpo' is the standard per-sequence normalisation the "
        "paper uses (TRL's default is 'dapo').",
    )
    scale_rewards: Literal["group", "batch", "none"] = Field(
        default="group", description="Advantage = (r - group mean) / group std ('group', standard GRPO)."
    )
    epsilon: float = Field(default=0.2, gt=0, description="PPO-style clipping range (TRL's default).")
    max_completion_length: int = Field(
        default=4096, gt=0, description="Tokens per generated answer (not stated by the paper)."
    )
    temperature: float = Field(default=1.0, gt=0, description="Sampling temperature of the rollouts.")
    top_p: float = Field(default=1.0, gt=0, le=1, description="Nucleus sampling of the rollouts.")
    use_vllm: Literal["auto"] | bool = Field(
        default="auto",
        description="Generate with vLLM: 'auto' = when a CUDA GPU and the vllm package are present, "
        "else plain transformers generation.",
    )
    vllm_mode: Literal["colocate", "server"] = Field(
        default="colocate",
        description="'colocate': vLLM shares the training GPU in-process; 'server': a separate "
        "`trl vllm-serve` process (set vllm_server_base_url).",
    )
    vllm_server_base_url: str | None = Field(
        default=None, description="URL of `trl vllm-serve` in server mode."
    )
    vllm_gpu_memory_utilization: float = Field(
        default=0.3, gt=0, le=1, description="Share of GPU memory vLLM may take in colocate mode."
    )
    log_completions: bool = Field(
        default=True, description="Print a sample of completions and their rewards at each log."
    )

    @model_validator(mode="after")
    def _whole_groups(self) -> GRPOTraining:
        t = self
        if (t.per_device_train_batch_size * t.gradient_accumulation_steps) % t.num_generations:
            raise ValueError(
                f"per_device_train_batch_size x gradient_accumulation_steps "
                f"({t.per_device_train_batch_size} x {t.gradient_accumulation_steps}) must be a multiple "
                f"of num_generations ({t.num_generations})"
            )
        return self


class _RecipeBase(_Strict):
    model: ModelSpec
    dataset: DatasetSpec
    tuning: Literal["full", "lora"] = Field(
        default="full",
        description="'full' fine-tunes every weight (the paper); 'lora' trains a peft adapter.",
    )
    lora: LoraSpec = Field(default_factory=LoraSpec, description="Adapter settings when tuning is 'lora'.")
    eval: EvalAfterTraining | None = Field(
        default=None, description="Run `aesdata eval` on the trained model when training ends (issue 20)."
    )


class SFTRecipe(_RecipeBase):
    """Supervised fine-tuning on an export's conversational rows (TRL SFTTrainer)."""

    recipe: Literal["sft"]
    format: Literal["prompt_completion", "messages"] = Field(
        default="prompt_completion",
        description="Which export columns to train on: prompt/completion (loss on the "
        "answer) or messages (one conversation).",
    )
    training: SFTTraining = Field(default_factory=SFTTraining)


class GRPORecipe(_RecipeBase):
    """GRPO with the agentic reward (TRL GRPOTrainer with the judges as reward functions)."""

    recipe: Literal["grpo_ar"]
    dataset: PromptSetSpec = Field(
        description="The RL prompt set: instructions the model was not fine-tuned on."
    )
    disjoint_from: DatasetRef | None = Field(
        default_factory=DatasetRef,
        description="The SFT split the prompt set must not overlap (checked by "
        "instruction text); null skips the check.",
    )
    judges: JudgeConfig = Field(
        default_factory=JudgeConfig,
        description="The judges and how their scores combine into the reward "
        "(judges.reward: formula grpo_ar with weights 0.1/0.8/0.1 and the execution gate, or webgen_r1).",
    )
    training: GRPOTraining = Field(default_factory=GRPOTraining)


Recipe = Annotated[SFTRecipe | GRPORecipe, Field(discriminator="recipe")]
_ADAPTER: TypeAdapter[SFTRecipe | GRPORecipe] = TypeAdapter(Recipe)


@dataclasses.dataclass(frozen=True)
class LoadedRecipe:
    """A validated recipe, the file it came from (text and hash) and the command-line overrides applied."""

    recipe: SFTRecipe | GRPORecipe
    path: Path
    text: str
    overrides: dict[str, Any]

    @property
    def text_hash(self) -> str:
        """sha256 of the recipe file's text (16 hex)."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


def _fail(path: Path, line: int | None, what: str, hint: str | None = None) -> AesdataError:
    loc = f"{path}:{line}" if line else str(path)
    return AesdataError(f"Invalid recipe file {loc}: {what}.", hint)


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for key in parents:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[leaf] = value


def _trl_fields(recipe: SFTRecipe | GRPORecipe) -> set[str]:
    """Field names of the TRL config the recipe's ``training.trl`` passes through to."""
    from trl import GRPOConfig, SFTConfig

    cls = SFTConfig if isinstance(recipe, SFTRecipe) else GRPOConfig
    return {f.name for f in dataclasses.fields(cls) if f.init}


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _resolve(value: str, base: Path, local_only: bool = False) -> str:
    """``value`` as an absolute local path when it exists under ``base`` (or must be local); else a Hub id as is."""
    cand = Path(value).expanduser()
    cand = cand if cand.is_absolute() else base / cand
    if cand.exists() or local_only or not _HUB_ID.match(value):
        return str(cand.resolve())
    return value


def _resolve_paths(recipe: SFTRecipe | GRPORecipe, recipe_dir: Path, overrides: dict[str, Any]) -> None:
    """Resolve local paths: the file's against its folder, the command line's against the working directory."""

    def base(key: str) -> Path:
        return Path.cwd() if key in overrides else recipe_dir

    recipe.model.name_or_path = _resolve(recipe.model.name_or_path, base("model.name_or_path"))
    recipe.dataset.path = _resolve(recipe.dataset.path, base("dataset.path"))
    recipe.training.output_dir = _resolve(
        recipe.training.output_dir, base("training.output_dir"), local_only=True
    )
    if isinstance(recipe, GRPORecipe) and recipe.disjoint_from and recipe.disjoint_from.path:
        recipe.disjoint_from.path = _resolve(recipe.disjoint_from.path, recipe_dir)


def load_recipe(path: Path, overrides: dict[str, Any] | None = None) -> LoadedRecipe:
    """Read and validate a recipe file; ``overrides`` maps dotted keys (``model.name_or_path``) to values.

    Raises ``AesdataError`` naming the file, line and key of the first problem.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    file = read_yaml(path, "recipe file")
    text, data, lines = file.text, file.data, file.lines
    if not isinstance(data, dict):
        raise _fail(
            path,
            1,
            f"the top level must be a mapping with recipe, model and dataset; found {type(data).__name__}",
        )
    for key, value in overrides.items():
        _set(data, key, value)
    try:
        recipe = _ADAPTER.validate_python(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        if loc and loc[0] in ("sft", "grpo_ar"):  # the discriminator's tag is not a key of the file
            loc = loc[1:]
        key = ".".join(map(str, loc)) or "(top)"
        what = err["msg"].removeprefix("Value error, ") if err["type"] == "value_error" else describe(err)
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            key, what = "recipe", "must be 'sft' or 'grpo_ar'"
        via = " (set on the command line)" if any(key.startswith(k) for k in overrides) else ""
        raise _fail(
            path,
            line_of(lines, loc),
            f"key {key!r}{via} {what}",
            "See the comments in recipes/sft.yaml and recipes/grpo_ar.yaml for every key.",
        ) from None
    known = _trl_fields(recipe)
    ours = set(type(recipe.training).model_fields) - {"trl"}
    for key in recipe.training.trl:
        line = line_of(lines, ("training", "trl", key))
        if key in ours or key == "warmup_steps":
            raise _fail(
                path,
                line,
                f"key 'training.trl.{key}' duplicates a recipe key",
                f"Set training.{'warmup_ratio' if key == 'warmup_steps' else key} instead.",
            )
        if key not in known:
            raise _fail(
                path,
                line,
                f"key 'training.trl.{key}' is not a field of TRL's "
                f"{'SFTConfig' if isinstance(recipe, SFTRecipe) else 'GRPOConfig'}",
                "Check the spelling against the TRL documentation of that config.",
            )
    # a shipped recipe's paths (runs/..., checkpoints/...) are about the user's project, not aesdata's folder
    _resolve_paths(recipe, Path.cwd() if shipped(path) else path.resolve().parent, overrides)
    return LoadedRecipe(recipe, path.resolve(), text, overrides)
