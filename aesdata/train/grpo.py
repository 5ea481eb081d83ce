"""GRPO-AR: TRL's ``GRPOTrainer`` with the judges' combined reward (AesCoder stage II).

Inputs: a ``GRPORecipe``, its prompt set (``TrainData``) and the reward functions of
``aesdata.train.rewards.reward_functions``. Every judge component is passed to TRL as its own reward
function, so TRL logs ``rewards/<name>/mean`` for each; only the combined reward of the configured
formula (``aesthetic_reward`` for grpo_ar, ``webgen_r1_reward`` for webgen_r1) has weight 1, the
components weight 0. The functions share one render and judging per completion.

Generation: vLLM when ``use_vllm`` is true or 'auto' finds a CUDA GPU and the vllm package
(``vllm_mode`` colocate or server), else ``model.generate``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from aesdata.errors import AesdataError
from aesdata.train.args import DevicePlan, config_kwargs, load_tokenizer, lora_config, make_config
from aesdata.train.data import TrainData, instruction_texts, normalise
from aesdata.train.recipe import GRPORecipe

#: dataset columns the reward functions read (beyond prompt)
REWARD_COLUMNS = ("kind", "instruction", "data_csv")
#: the reward function that carries the training signal, per formula
COMBINED = {"grpo_ar": "aesthetic_reward", "webgen_r1": "webgen_r1_reward"}


def check_disjoint(prompts: TrainData, sft: TrainData) -> dict[str, Any]:
    """Fail when an RL prompt's instruction also occurs in the SFT split; return the check's record.

    Instructions are compared after collapsing whitespace and case.
    """
    seen = {normalise(t) for t in instruction_texts(sft.dataset)}
    mine = instruction_texts(prompts.dataset)
    shared = [t for t in mine if normalise(t) in seen]
    record = {
        "against": {"source": sft.source, "split": sft.split, "revision": sft.revision},
        "prompts": len(mine),
        "sft_instructions": len(seen),
        "overlap": len(shared),
    }
    if shared:
        example = shared[0] if len(shared[0]) <= 80 else shared[0][:77] + "..."
        raise AesdataError(
            f"{len(shared)} of {len(mine)} RL prompts also occur in the SFT split {sft.split!r} of {sft.source} "
            f"(e.g. {example!r}): GRPO would reward answers the model was trained to copy.",
            "Use held-out instructions (an export's test split: select stage `splits: {train: 0.9, test: 0.1}`), "
            "or set disjoint_from: null in the recipe to skip this check.",
        )
    return record


def prompt_dataset(data: TrainData) -> Any:
    """The prompt set as TRL reads it: ``prompt`` (conversational; built from ``instruction`` when absent) and
    the columns the reward functions read."""
    ds = data.dataset
    if "prompt" not in ds.column_names:
        texts = instruction_texts(ds)
        ds = ds.add_column("prompt", [[{"role": "user", "content": t}] for t in texts])
    if "kind" not in ds.column_names:
        raise AesdataError(
            f"The prompt set {data.source} has no `kind` column, so the judges cannot tell pages from plots.",
            "Add a kind column (html | plot), or set dataset.kinds: [html] (or [plot]) in the recipe.",
        )
    return ds.select_columns(["prompt", *[c for c in REWARD_COLUMNS if c in ds.column_names]])


def resolve_vllm(recipe: GRPORecipe, device: DevicePlan) -> bool:
    """Whether generation uses vLLM: the recipe's ``use_vllm``, with 'auto' = CUDA GPU and vllm installed."""
    has_vllm = importlib.util.find_spec("vllm") is not None
    want = recipe.training.use_vllm
    if want == "auto":
        return device.cuda and has_vllm
    if want and not (device.cuda and has_vllm):
        raise AesdataError(
            "training.use_vllm is true but "
            + ("no CUDA GPU is visible" if not device.cuda else "the vllm package is not installed")
            + ".",
            "Install the GPU extra (pip install 'aesdata[vllm]') on a GPU machine, or set use_vllm: auto.",
        )
    return bool(want)


def reward_weights(names: list[str], formula: str) -> list[float]:
    """Weight 1 for the formula's combined reward, 0 for the components (logged, not trained on)."""
    if COMBINED[formula] not in names:
        raise AesdataError(f"The judges' reward functions ({', '.join(names)}) lack {COMBINED[formula]!r}.")
    return [1.0 if n == COMBINED[formula] else 0.0 for n in names]


def grpo_config_kwargs(
    recipe: GRPORecipe, device: DevicePlan, reward_names: list[str], use_vllm: bool
) -> dict[str, Any]:
    """Keyword arguments of TRL's ``GRPOConfig`` for ``recipe`` on ``device`` (a pure function of its inputs)."""
    t = recipe.training
    kwargs = config_kwargs(recipe, device)
    kwargs.update(
        num_generations=t.num_generations,
        beta=t.beta,
        loss_type=t.loss_type,
        scale_rewards=t.scale_rewards,
        epsilon=t.epsilon,
        max_completion_length=t.max_completion_length,
        temperature=t.temperature,
        top_p=t.top_p,
        log_completions=t.log_completions,
        use_vllm=use_vllm,
        reward_weights=reward_weights(reward_names, recipe.judges.reward.formula),
    )
    if use_vllm:
        kwargs.update(vllm_mode=t.vllm_mode, vllm_gpu_memory_utilization=t.vllm_gpu_memory_utilization)
        if t.vllm_server_base_url:
            kwargs["vllm_server_base_url"] = t.vllm_server_base_url
    return kwargs


def grpo_trainer(
    recipe: GRPORecipe, data: TrainData, reward_funcs: list[Callable[..., Any]], device: DevicePlan
) -> Any:
    """Build the ``GRPOTrainer`` for ``recipe`` over the prompt set ``data`` with ``reward_funcs``."""
    from trl import GRPOConfig, GRPOTrainer

    kwargs = grpo_config_kwargs(
        recipe, device, [f.__name__ for f in reward_funcs], resolve_vllm(recipe, device)
    )
    return GRPOTrainer(
        model=recipe.model.name_or_path,
        reward_funcs=reward_funcs,
        args=make_config(GRPOConfig, kwargs),
        train_dataset=prompt_dataset(data),
        processing_class=load_tokenizer(recipe.model, padding_side="left"),
        peft_config=lora_config(recipe),
    )
