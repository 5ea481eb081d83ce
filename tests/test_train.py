"""Training recipes end to end on CPU: a tiny Qwen2 built here (no download), an export from a real build.

SFT: the loss goes down and the record names the dataset revision. GRPO-AR: a few steps with the real
judges rendering the tiny model's completions in Chromium; every reward component is called with G
completions of one prompt and logged. The CLI trains in a subprocess. Bad recipes fail with file:line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import pytest
import torch
import yaml

from aesdata.errors import AesdataError
from aesdata.executor import LocalExecutor
from aesdata.spec import load_pipeline
from aesdata.train.recipe import GRPORecipe, SFTRecipe, load_recipe
from aesdata.train.run import RECORD_NAME, TrainResult, run_recipe
from tests.frame_helpers import REPO, cli

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _corpus_rows(n: int = 24) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        if i % 4 == 3:
            rows.append(
                {
                    "instruction": f"Plot the monthly sales of store {i} as a line chart",
                    "kind": "plot",
                    "code": f"import matplotlib.pyplot as plt\nplt.plot([1, {i}, 3, {i % 5}])\nplt.title('Store {i}')\n",
                }
            )
        else:
            rows.append(
                {
                    "instruction": f"Build a landing page for the bakery number {i} with a menu",
                    "kind": "html",
                    "code": f"<!DOCTYPE html><html><head><title>Bakery {i}</title></head><body><h1>Bakery {i}</h1>"
                    f"<ul><li>Bread</li><li>Cake</li></ul><button>Order</button></body></html>",
                }
            )
    return rows


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Any:
    """One torch thread: on a shared 2-core machine two spinning threads made SFT 10x slower (115 s vs 9 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export with train and test splits, made by a real build: read_corpus -> select (splits) -> export."""
    folder = tmp_path_factory.mktemp("build")
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in _corpus_rows()) + "\n")
    (folder / "p.yaml").write_text("""name: traindata
shard_size: 8
stages:
  - stage: read_corpus
    path: corpus.jsonl
  - stage: select
    splits: {train: 0.7, test: 0.3}
  - stage: export
""")
    LocalExecutor(load_pipeline(folder / "p.yaml"), folder / "run", workers=1).run()
    out = folder / "run" / "dataset"
    assert sorted(p.name.split("-")[0] for p in (out / "data").glob("*.parquet")) == ["test", "train"]
    return out


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~100k-parameter Qwen2 with a byte-level BPE tokenizer trained here and a ChatML template."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    folder = tmp_path_factory.mktemp("tiny-model")
    texts = [r["instruction"] + "\n" + r["code"] for r in _corpus_rows()] * 4 + [
        "```html\n```python\n<|im_start|>user"
    ]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts,
        vocab_size=512,
        min_frequency=1,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        show_progress=False,
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tok.chat_template = CHATML
    config = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    Qwen2ForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _recipe(tmp: Path, body: dict[str, Any], name: str = "r.yaml") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def _losses(record: dict[str, Any]) -> list[float]:
    return [e["loss"] for e in record["log_history"] if "loss" in e]


def test_recipe_files_carry_the_papers_defaults(tiny_model: Path, export_dir: Path) -> None:
    over = {"model.name_or_path": str(tiny_model), "dataset.path": str(export_dir)}
    sft = load_recipe(REPO / "aesdata" / "data" / "recipes" / "sft.yaml", over).recipe
    assert isinstance(sft, SFTRecipe)
    assert (
        sft.training.num_train_epochs,
        sft.training.learning_rate,
        sft.training.lr_scheduler_type,
        sft.training.warmup_ratio,
        sft.training.max_length,
    ) == (3, 1e-5, "cosine", 0.1, 8192)
    # a shipped recipe's own paths are relative to the working directory
    assert sft.dataset.path == str(export_dir) and sft.training.output_dir == str(
        (Path.cwd() / "checkpoints" / "sft").resolve()
    )
    grpo = load_recipe(REPO / "aesdata" / "data" / "recipes" / "grpo_ar.yaml", over).recipe
    assert isinstance(grpo, GRPORecipe)
    t = grpo.training
    assert (t.learning_rate, t.num_generations, t.beta) == (3e-6, 8, 0.001)
    assert (
        t.per_device_train_batch_size * t.gradient_accumulation_steps // t.num_generations == 64
    )  # prompts/step
    r = grpo.judges.reward
    assert (r.formula, r.w_exec, r.w_static, r.w_interactive) == ("grpo_ar", 0.1, 0.8, 0.1)
    assert (
        grpo.dataset.split == "test"
        and grpo.disjoint_from is not None
        and grpo.disjoint_from.split == "train"
    )
    # the pydantic defaults are the paper's too, and every knob is documented
    assert SFTRecipe.model_fields["training"].default_factory().learning_rate == 1e-5
    for cls in (SFTRecipe, GRPORecipe):
        training = cls.model_fields["training"].annotation
        assert all(f.description for f in training.model_fields.values())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "recipe: sft\nmodel: {name_or_path: m}\ndataset:\n  path: d\n  splitt: train\n",
            r"r.yaml:5: key 'dataset.splitt' is not a known key",
        ),
        (
            "recipe: sft\nmodel: {name_or_path: m}\ndataset: {path: d}\ntraining:\n  learning_rate: -1\n",
            r"r.yaml:5: key 'training.learning_rate' expected",
        ),
        (
            "recipe: dpo\nmodel: {name_or_path: m}\ndataset: {path: d}\n",
            r"r.yaml:1: key 'recipe' must be 'sft' or 'grpo_ar'",
        ),
        (
            "recipe: sft\nmodel: {name_or_path: m}\ndataset: {path: d}\ntraining:\n  trl:\n    neftune_alpha: 5\n",
            r"r.yaml:6: key 'training.trl.neftune_alpha' is not a field of TRL's SFTConfig",
        ),
        (
            "recipe: sft\nmodel: {name_or_path: m}\ndataset: {path: d}\ntraining:\n  trl: {learning_rate: 1}\n",
            r"duplicates a recipe key",
        ),
        (
            "recipe: grpo_ar\nmodel: {name_or_path: m}\ndataset: {path: d}\ntraining:\n  num_generations: 3\n",
            r"must be a multiple of num_generations",
        ),
        (
            "recipe: grpo_ar\nmodel: {name_or_path: m}\ndataset: {path: d}\njudges:\n  reward: {w_statik: 1}\n",
            r"r.yaml:5: key 'judges.reward.w_statik' is not a known key",
        ),
        ("recipe: sft\nmodel: [m\n", r"r.yaml:\d+: YAML syntax error"),
    ],
)
def test_bad_recipes_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "r.yaml").write_text(text)
    with pytest.raises(AesdataError, match=expected):
        load_recipe(tmp_path / "r.yaml")


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, export_dir: Path) -> TrainResult:
    """SFT of the tiny model on the export's train split: ~50 steps, enough to emit HTML-like replies."""
    tmp = tmp_path_factory.mktemp("sft")
    path = _recipe(
        tmp,
        {
            "recipe": "sft",
            "model": {"name_or_path": str(tiny_model)},
            "dataset": {"path": str(export_dir)},
            "training": {
                "output_dir": str(tmp / "ckpt"),
                "learning_rate": 5e-3,
                "num_train_epochs": 10,
                "warmup_ratio": 0.05,
                "per_device_train_batch_size": 4,
                "gradient_accumulation_steps": 1,
                "max_length": 128,
                "logging_steps": 1,
                "save_strategy": "no",
            },
        },
    )
    return run_recipe(load_recipe(path))


def test_sft_loss_decreases_and_records_provenance(sft_run: TrainResult, export_dir: Path) -> None:
    losses = _losses(sft_run.record)
    assert len(losses) >= 40
    assert sum(losses[-5:]) / 5 < 0.4 * sum(losses[:5]) / 5, losses
    record = json.loads((sft_run.output_dir / RECORD_NAME).read_text())
    assert record["status"] == "complete" and record["recipe"]["kind"] == "sft"
    assert record["dataset"]["split"] == "train" and record["dataset"]["rows"] == len(
        datasets.load_dataset(str(export_dir))["train"]
    )
    revision = record["dataset"]["revision"]
    assert revision["type"] == "local" and len(revision["sha256"]) == 64 and revision["files"] == 2
    assert {"torch", "transformers", "trl"} <= set(record["versions"]) and record["device"] == "CPU"
    assert (sft_run.output_dir / "model.safetensors").is_file()


def test_sft_lora_merges_into_a_plain_model(tmp_path: Path, tiny_model: Path, export_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    path = _recipe(
        tmp_path,
        {
            "recipe": "sft",
            "model": {"name_or_path": str(tiny_model)},
            "dataset": {"path": str(export_dir), "kinds": ["plot"]},
            "tuning": "lora",
            "lora": {"r": 4, "alpha": 8},
            "training": {
                "output_dir": str(tmp_path / "lora"),
                "max_steps": 3,
                "per_device_train_batch_size": 2,
                "gradient_accumulation_steps": 1,
                "max_length": 128,
                "logging_steps": 1,
                "save_strategy": "no",
            },
        },
    )
    result = run_recipe(load_recipe(path))
    assert result.record["global_step"] == 3 and result.record["dataset"]["rows"] < 24
    assert not (tmp_path / "lora" / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "lora")
    assert not any("lora" in n for n, _ in merged.named_parameters())


def _grpo_body(tmp: Path, model: Path, export_dir: Path, **dataset: Any) -> dict[str, Any]:
    return {
        "recipe": "grpo_ar",
        "model": {"name_or_path": str(model)},
        "dataset": {"path": str(export_dir), "split": "test", "kinds": ["html"], **dataset},
        "judges": {"interactive": {"max_actions": 2, "max_scored": 1, "settle_ms": 0}},
        "training": {
            "output_dir": str(tmp / "grpo"),
            "max_steps": 2,
            "num_generations": 4,
            "per_device_train_batch_size": 4,
            "gradient_accumulation_steps": 1,
            "max_completion_length": 64,
            "logging_steps": 1,
            "save_strategy": "no",
            "log_completions": False,
        },
    }


def test_grpo_ar_trains_with_the_real_judges(
    tmp_path: Path, sft_run: TrainResult, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aesdata.train.rewards as reward_mod

    calls: dict[str, list[list[Any]]] = {}
    judges: list[Any] = []
    real = reward_mod.reward_functions

    def recording(judge_config: Any = None, judge: Any = None) -> list[Any]:
        judges.append(judge)
        wrapped = []
        for fn in real(judge_config, judge):

            async def rec(
                prompts: list[Any],
                completions: list[Any],
                completion_ids: Any = None,
                _fn: Any = fn,
                **kw: Any,
            ) -> list[float | None]:
                calls.setdefault(_fn.__name__, []).append(prompts)
                out = await _fn(prompts, completions, completion_ids, **kw)
                assert len(out) == len(completions)
                return out

            rec.__name__ = fn.__name__
            wrapped.append(rec)
        return wrapped

    monkeypatch.setattr(reward_mod, "reward_functions", recording)
    result = run_recipe(load_recipe(_recipe(tmp_path, _grpo_body(tmp_path, sft_run.output_dir, export_dir))))
    names = [
        "execution_reward",
        "static_reward",
        "interactive_reward",
        "aesthetic_reward",
        "webgen_r1_reward",
    ]
    assert sorted(calls) == sorted(names)
    for name in names:  # one call per step, G=4 completions of one prompt each time
        assert len(calls[name]) == 2
        for prompts in calls[name]:
            assert len(prompts) == 4 and all(p == prompts[0] for p in prompts)
    logs = [e for e in result.log_history if "reward" in e]
    assert len(logs) == 2
    for entry in logs:
        assert all(f"rewards/{n}/mean" in entry for n in names)
        assert entry["reward"] == pytest.approx(entry["rewards/aesthetic_reward/mean"])
    # real judging of every completion; those with code were rendered in Chromium
    rows = [fut.result() for fut in judges[0].memo.values()]
    assert rows and all(
        r["render_status"] in ("ok", "js_error", "blank", "timeout", "crash", "skipped") for r in rows
    )
    assert all(r.get("exec_score") in (1.0, -1.0) for r in rows)
    assert any(r["render_status"] == "ok" and r.get("screenshot") for r in rows)
    gated = [r for r in rows if r["exec_score"] < 0]
    assert gated, "a tiny model's pages should fail the execution gate"
    assert all(r["reward"] == pytest.approx(-0.1) for r in gated)  # the gate: w_exec * -1
    record = json.loads((tmp_path / "grpo" / RECORD_NAME).read_text())
    assert record["status"] == "complete" and record["generation"] == "transformers"
    assert (
        record["prompt_set_check"]["overlap"] == 0
        and record["prompt_set_check"]["against"]["split"] == "train"
    )
    assert record["judges"]["reward_functions"]["aesthetic_reward"] == 1.0
    assert record["judges"]["reward_functions"]["execution_reward"] == 0.0
    assert "design_judge" in record["judges"]["versions"] and record["judges"]["browser"]["version"]


def test_grpo_refuses_prompts_that_overlap_the_sft_split(
    tmp_path: Path, tiny_model: Path, export_dir: Path
) -> None:
    body = _grpo_body(tmp_path, tiny_model, export_dir, split="train")
    with pytest.raises(AesdataError, match=r"RL prompts also occur in the SFT split 'train'"):
        run_recipe(load_recipe(_recipe(tmp_path, body)))
    assert not (tmp_path / "grpo" / RECORD_NAME).exists()


def test_split_column_without_file_splits(tmp_path: Path, tiny_model: Path, export_dir: Path) -> None:
    """One file whose rows carry a split column: SFT on 'train' must not see the 'test' rows."""
    import datasets

    from aesdata.train.data import load_train_data
    from aesdata.train.recipe import DatasetSpec

    both = datasets.load_dataset(str(export_dir))
    one = tmp_path / "all.parquet"
    datasets.concatenate_datasets([both["train"], both["test"]]).to_parquet(one)
    train = load_train_data(DatasetSpec(path=str(one), split="train"))
    assert len(train.dataset) == len(both["train"]) and set(train.dataset["split"]) == {"train"}
    with pytest.raises(AesdataError, match="has no rows of split 'valid'"):
        load_train_data(DatasetSpec(path=str(one), split="valid"))


def test_cli_trains_sft_end_to_end(tmp_path: Path, tiny_model: Path, export_dir: Path) -> None:
    out = tmp_path / "cli-ckpt"
    proc = cli(
        "train",
        "sft",
        "--model",
        str(tiny_model),
        "--dataset",
        str(export_dir),
        "--output-dir",
        str(out),
        "--max-steps",
        "5",
        cwd=REPO,
        env={"OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "train_loss (mean)" in proc.stdout
    record = json.loads((out / RECORD_NAME).read_text())
    assert record["global_step"] == 5 and record["recipe"]["overrides"]["training.max_steps"] == 5
    bad = cli("train", "sft", "--model", str(tiny_model), "--dataset", str(tmp_path / "nope"), cwd=REPO)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "does not exist" in bad.stderr


def test_generation_and_precision_follow_the_device(tiny_model: Path, export_dir: Path) -> None:
    """The GPU path is planned the same way on any machine: vLLM and bf16 only where a GPU (and vLLM) is."""
    from aesdata.train.args import DevicePlan
    from aesdata.train.grpo import grpo_config_kwargs, resolve_vllm

    over = {"model.name_or_path": str(tiny_model), "dataset.path": str(export_dir)}
    recipe = load_recipe(REPO / "aesdata" / "data" / "recipes" / "grpo_ar.yaml", over).recipe
    assert isinstance(recipe, GRPORecipe)
    cpu, gpu = DevicePlan(False, 0, False), DevicePlan(True, 1, True)
    names = [
        "execution_reward",
        "static_reward",
        "interactive_reward",
        "aesthetic_reward",
        "webgen_r1_reward",
    ]
    assert resolve_vllm(recipe, cpu) is False
    kw = grpo_config_kwargs(recipe, gpu, names, use_vllm=True)
    assert (kw["use_vllm"], kw["vllm_mode"], kw["bf16"], kw["use_cpu"], kw["gradient_checkpointing"]) == (
        True,
        "colocate",
        True,
        False,
        True,
    )
    assert kw["reward_weights"] == [0, 0, 0, 1, 0] and (
        kw["beta"],
        kw["num_generations"],
        kw["learning_rate"],
    ) == (0.001, 8, 3e-6)
    kw = grpo_config_kwargs(recipe, cpu, names, use_vllm=False)
    assert (kw["use_vllm"], kw["bf16"], kw["use_cpu"], kw["gradient_checkpointing"]) == (
        False,
        False,
        True,
        False,
    )
    assert "vllm_mode" not in kw
    recipe.training.use_vllm = True
    with pytest.raises(AesdataError, match="no CUDA GPU is visible"):
        resolve_vllm(recipe, cpu)
    webgen = load_recipe(
        REPO / "aesdata" / "data" / "recipes" / "grpo_ar.yaml", {**over, "judges.reward.formula": "webgen_r1"}
    ).recipe
    assert grpo_config_kwargs(webgen, cpu, names, use_vllm=False)["reward_weights"] == [0, 0, 0, 0, 1]
