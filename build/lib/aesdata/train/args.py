"""What both trainers share: the device plan, TRL/transformers arguments from a recipe, tokenizer, LoRA.

Inputs are recipe sections (``ModelSpec``, ``_Training``, ``LoraSpec``); outputs are plain keyword
dicts for TRL's ``SFTConfig`` / ``GRPOConfig``, a tokenizer, or a peft ``LoraConfig``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from aesdata.errors import AesdataError
from aesdata.train.recipe import GRPORecipe, ModelSpec, SFTRecipe


@dataclass(frozen=True)
class DevicePlan:
    """Where training runs: ``cuda`` (a CUDA GPU is visible), ``gpus`` and whether it supports bf16."""

    cuda: bool
    gpus: int
    bf16: bool

    @staticmethod
    def detect() -> DevicePlan:
        """Look at the machine (torch's view of CUDA)."""
        import torch

        cuda = torch.cuda.is_available()
        return DevicePlan(
            cuda, torch.cuda.device_count() if cuda else 0, cuda and torch.cuda.is_bf16_supported()
        )

    def describe(self) -> str:
        """One line, e.g. '1 CUDA GPU (bf16)' or 'CPU'."""
        return (
            f"{self.gpus} CUDA GPU{'s' if self.gpus > 1 else ''}{' (bf16)' if self.bf16 else ''}"
            if self.cuda
            else "CPU"
        )


def model_init_kwargs(model: ModelSpec) -> dict[str, Any]:
    """Keyword arguments for ``AutoModelForCausalLM.from_pretrained`` (TRL's ``model_init_kwargs``)."""
    kw: dict[str, Any] = {"dtype": model.dtype, "trust_remote_code": model.trust_remote_code}
    if model.attn_implementation:
        kw["attn_implementation"] = model.attn_implementation
    if model.revision:
        kw["revision"] = model.revision
    return kw


def config_kwargs(recipe: SFTRecipe | GRPORecipe, device: DevicePlan) -> dict[str, Any]:
    """The TrainingArguments part of a TRL config: the shared knobs, precision and checkpointing by device."""
    t = recipe.training
    precision = t.precision if t.precision != "auto" else ("bf16" if device.bf16 else "fp32")
    if precision in ("bf16", "fp16") and not device.cuda:
        raise AesdataError(
            f"training.precision is {precision!r} but no CUDA GPU is visible.",
            "Use precision: auto (fp32 on CPU) or run on a GPU machine.",
        )
    kw: dict[str, Any] = {
        "output_dir": t.output_dir,
        "learning_rate": t.learning_rate,
        "num_train_epochs": t.num_train_epochs,
        "max_steps": t.max_steps,
        "per_device_train_batch_size": t.per_device_train_batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation_steps,
        "lr_scheduler_type": t.lr_scheduler_type,
        "warmup_steps": t.warmup_ratio,
        "weight_decay": t.weight_decay,
        "max_grad_norm": t.max_grad_norm,
        "seed": t.seed,
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": not device.cuda,
        "gradient_checkpointing": device.cuda
        if t.gradient_checkpointing is None
        else t.gradient_checkpointing,
        "logging_steps": t.logging_steps,
        "save_strategy": t.save_strategy,
        "save_steps": t.save_steps,
        "save_total_limit": t.save_total_limit,
        "report_to": t.report_to,
        "model_init_kwargs": model_init_kwargs(recipe.model),
    }
    return {**kw, **t.trl}


def make_config(cls: type, kwargs: dict[str, Any]) -> Any:
    """Instantiate a TRL config, turning its validation errors into one ``AesdataError``.

    ``gradient_checkpointing`` is passed under its new name ``activation_checkpointing`` where transformers has it.
    """
    if (
        "activation_checkpointing" in {f.name for f in dataclasses.fields(cls)}
        and "gradient_checkpointing" in kwargs
    ):
        kwargs = {**kwargs, "activation_checkpointing": kwargs["gradient_checkpointing"]}
        del kwargs["gradient_checkpointing"]
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise AesdataError(
            f"TRL's {cls.__name__} rejected the recipe's training settings: {str(e).splitlines()[0]}",
            "Fix the named setting in the recipe's training section.",
        ) from None


def load_tokenizer(model: ModelSpec, padding_side: str) -> Any:
    """The model's tokenizer with ``padding_side`` set and a pad token (the EOS token when it has none)."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(
            model.name_or_path,
            revision=model.revision,
            trust_remote_code=model.trust_remote_code,
            padding_side=padding_side,
        )
    except (OSError, ValueError) as e:
        raise AesdataError(
            f"Cannot load the tokenizer of model {model.name_or_path}: {str(e).splitlines()[0]}",
            "Pass a local model folder with --model, or a Hub model id (needs network access).",
        ) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not tok.chat_template:
        raise AesdataError(
            f"Model {model.name_or_path} has no chat template; the export's rows are conversations.",
            "Use an instruct/chat model, or add a chat_template to its tokenizer_config.json.",
        )
    return tok


def lora_config(recipe: SFTRecipe | GRPORecipe) -> Any:
    """A peft ``LoraConfig`` when ``tuning: lora``, else None (full fine-tuning)."""
    if recipe.tuning != "lora":
        return None
    from peft import LoraConfig

    lo = recipe.lora
    return LoraConfig(
        r=lo.r,
        lora_alpha=lo.alpha,
        lora_dropout=lo.dropout,
        target_modules=lo.target_modules,
        task_type="CAUSAL_LM",
    )


def save_final(trainer: Any, recipe: SFTRecipe | GRPORecipe) -> None:
    """Write the trained model and tokenizer to ``output_dir``; a LoRA adapter is merged first if asked."""
    out = recipe.training.output_dir
    if recipe.tuning == "lora" and recipe.lora.merge_at_end:
        merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
        merged.save_pretrained(out)
        trainer.processing_class.save_pretrained(out)
    else:
        trainer.save_model(out)
