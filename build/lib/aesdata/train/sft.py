"""SFT: TRL's ``SFTTrainer`` on an export's conversational rows (AesCoder stage I).

Input: an ``SFTRecipe`` and its ``TrainData``. The export's ``prompt`` / ``completion`` columns train
with the loss on the answer only (``format: prompt_completion``), or its ``messages`` column as one
conversation (``format: messages``). Output: a ready ``SFTTrainer``.
"""

from __future__ import annotations

from typing import Any

from aesdata.errors import AesdataError
from aesdata.train.args import DevicePlan, config_kwargs, load_tokenizer, lora_config, make_config
from aesdata.train.data import TrainData
from aesdata.train.recipe import SFTRecipe

_COLUMNS = {"prompt_completion": ["prompt", "completion"], "messages": ["messages"]}


def sft_trainer(recipe: SFTRecipe, data: TrainData, device: DevicePlan) -> Any:
    """Build the ``SFTTrainer`` for ``recipe`` over ``data`` on ``device``."""
    from trl import SFTConfig, SFTTrainer

    cols = _COLUMNS[recipe.format]
    missing = [c for c in cols if c not in data.dataset.column_names]
    if missing:
        raise AesdataError(
            f"Dataset {data.source} has no {', '.join(missing)} column(s) for format {recipe.format!r} "
            f"(columns: {', '.join(data.dataset.column_names)}).",
            "aesdata exports have prompt/completion/messages; map other names with dataset.columns.",
        )
    t = recipe.training
    kwargs = config_kwargs(recipe, device)
    kwargs.update(
        max_length=t.max_length,
        packing=t.packing,
        completion_only_loss=t.completion_only_loss if recipe.format == "prompt_completion" else None,
    )
    config = make_config(SFTConfig, kwargs)
    return SFTTrainer(
        model=recipe.model.name_or_path,
        args=config,
        train_dataset=data.dataset.select_columns(cols),
        processing_class=load_tokenizer(recipe.model, padding_side="right"),
        peft_config=lora_config(recipe),
    )
