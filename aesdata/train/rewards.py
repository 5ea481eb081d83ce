"""TRL reward functions: the judges as ``GRPOTrainer(reward_funcs=...)`` rewards.

Each reward is a module-level async function with TRL's signature
``f(prompts, completions, completion_ids=None, **kwargs) -> list[float | None]``; ``kwargs`` may carry the
dataset columns ``kind`` (html | plot, default html) and ``instruction`` (default: the prompt's last user
message). TRL logs each as ``rewards/<name>/mean``:

- ``execution_reward``: +1 when the completion's code ran and passed the execution judge, else -1;
- ``static_reward``: the static design score, normalised to 0..1 (VLM grade when one is configured);
- ``interactive_reward``: the interactive agent's score, normalised to 0..1 (None for plots);
- ``aesthetic_reward``: AesCoder's GRPO-AR combination (``aesdata.judges.reward.grpo_ar``);
- ``webgen_r1_reward``: the WebGen-R1 cascade (``aesdata.judges.reward.webgen_r1``).

Used as they are, they share one default ``RewardJudge`` (built-in judges, default config).
``reward_functions(judge_config)`` returns the same five functions bound to a ``RewardJudge`` of that
config, which is what ``aesdata train`` passes. The functions of one set share one judging of each
completion (extract code, render, judge), so passing several costs one render per completion.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aesdata.generate.extract import extract_code, fenced_blocks, strip_think
from aesdata.judges.reward import grpo_ar, static_component, webgen_r1
from aesdata.judges.runner import JudgeConfig, Judges

RewardFn = Callable[..., Awaitable[list[float | None]]]
Row = dict[str, Any]


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or a conversational list of messages (last assistant turn)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        for msg in reversed(completion):
            if isinstance(msg, dict) and msg.get("role", "assistant") == "assistant":
                content = msg.get("content")
                if isinstance(content, list):
                    return "".join(p.get("text", "") for p in content if isinstance(p, dict))
                return str(content or "")
    return str(completion)


def format_ok(text: str, kind: str) -> bool:
    """WebGen-R1's format term: the reply closed any reasoning and put its code in a fenced block."""
    visible, unfinished = strip_think(text)
    return not unfinished and any(b.closed for b in fenced_blocks(visible))


class RewardJudge:
    """Judges completions once and serves every reward function of a set from the same verdicts.

    ``judge_config``: a ``JudgeConfig``; the browser pool and plot workers start lazily on the event loop of
    the first call (TRL runs async rewards on one daemon loop) and live until ``aclose``. Verdicts of the
    last ``memo_size`` completions are kept so that the named functions of one step share them.
    """

    def __init__(self, judge_config: JudgeConfig | None = None, memo_size: int = 4096) -> None:
        self.config = judge_config or JudgeConfig()
        self.memo: OrderedDict[str, asyncio.Future[Row]] = OrderedDict()
        self.memo_size = memo_size
        self.judges: Judges | None = None
        self.lock: asyncio.Lock | None = None

    async def runner(self) -> Judges:
        """The started ``Judges`` (started on first use)."""
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:
            if self.judges is None:
                judges = Judges(self.config)
                await judges.start()
                self.judges = judges
        return self.judges

    async def judged(self, completions: list[Any], kinds: list[str], instructions: list[str]) -> list[Row]:
        """Render and judge each completion (memoised by kind, instruction and text); rows in order."""
        runner = await self.runner()
        futures = []
        for comp, kind, ins in zip(completions, kinds, instructions, strict=True):
            text = completion_text(comp)
            key = hashlib.sha256(f"{kind}\0{ins}\0{text}".encode()).hexdigest()
            fut = self.memo.get(key)
            if fut is None:
                code = extract_code(text, kind).code

                async def one(
                    text: str = text, code: str | None = code, kind: str = kind, ins: str = ins
                ) -> Row:
                    (row,) = await runner.render_and_judge(
                        [{"kind": kind, "code": code, "instruction": ins}], format_ok=[format_ok(text, kind)]
                    )
                    return row

                fut = asyncio.ensure_future(one())
                self.memo[key] = fut
                while len(self.memo) > self.memo_size:
                    self.memo.popitem(last=False)
            futures.append(fut)
        return list(await asyncio.gather(*futures))

    async def aclose(self) -> None:
        """Close the browser pool and plot workers."""
        if self.judges is not None:
            await self.judges.close()
            self.judges = None


# ------------------------------------------------------------------------------ what each reward reads
def _execution(row: Row, judge: RewardJudge) -> float | None:
    return float(row.get("exec_score") or -1.0)


def _static(row: Row, judge: RewardJudge) -> float | None:
    score, _, scale = static_component(row, judge.config.reward, row.get("_vlm_scale"))
    return None if score is None else min(max(score / scale, 0.0), 1.0)


def _interactive(row: Row, judge: RewardJudge) -> float | None:
    if row.get("interactive_score") is None:
        return None
    return float(row["interactive_score"]) / float(row.get("interactive_max") or 3)


def _aesthetic(row: Row, judge: RewardJudge) -> float | None:
    config = judge.config.reward.model_copy(update={"formula": "grpo_ar"})
    return grpo_ar(row, config, row.get("_vlm_scale"))[0]


def _webgen_r1(row: Row, judge: RewardJudge) -> float | None:
    return webgen_r1(row, judge.config.reward, row.get("_vlm_scale"), row.get("_format_ok"))[0]


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, list):
        users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return completion_text([{**users[-1], "role": "assistant"}]) if users else ""
    return str(prompt)


async def _score(
    judge: RewardJudge,
    pick: Callable[[Row, RewardJudge], float | None],
    prompts: list[Any],
    completions: list[Any],
    kwargs: dict[str, Any],
) -> list[float | None]:
    n = len(completions)
    kinds = list(kwargs.get("kind") or ["html"] * n)
    instructions = list(kwargs.get("instruction") or [_prompt_text(p) for p in prompts])
    return [pick(row, judge) for row in await judge.judged(completions, kinds, instructions)]


_DEFAULT: RewardJudge | None = None


def default_judge() -> RewardJudge:
    """The ``RewardJudge`` the module-level functions share (default ``JudgeConfig``)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = RewardJudge()
    return _DEFAULT


# ------------------------------------------------------------------------------ the TRL reward functions
async def execution_reward(
    prompts: list[Any], completions: list[Any], completion_ids: Any = None, **kwargs: Any
) -> list[float | None]:
    """+1 when the completion's code ran and passed the execution judge, else -1."""
    return await _score(default_judge(), _execution, prompts, completions, kwargs)


async def static_reward(
    prompts: list[Any], completions: list[Any], completion_ids: Any = None, **kwargs: Any
) -> list[float | None]:
    """The static design score normalised to 0..1 (the VLM grade when a VLM judge is configured)."""
    return await _score(default_judge(), _static, prompts, completions, kwargs)


async def interactive_reward(
    prompts: list[Any], completions: list[Any], completion_ids: Any = None, **kwargs: Any
) -> list[float | None]:
    """The interactive agent's score normalised to 0..1; None for plots."""
    return await _score(default_judge(), _interactive, prompts, completions, kwargs)


async def aesthetic_reward(
    prompts: list[Any], completions: list[Any], completion_ids: Any = None, **kwargs: Any
) -> list[float | None]:
    """AesCoder's GRPO-AR reward: 0.1 exec + 0.8 static + 0.1 interactive, gated by execution."""
    return await _score(default_judge(), _aesthetic, prompts, completions, kwargs)


async def webgen_r1_reward(
    prompts: list[Any], completions: list[Any], completion_ids: Any = None, **kwargs: Any
) -> list[float | None]:
    """WebGen-R1's cascade: 0 on a structure or render failure, else s_vis + 0.1 s_func + 0.1 s_format."""
    return await _score(default_judge(), _webgen_r1, prompts, completions, kwargs)


_PICKS: dict[RewardFn, Callable[[Row, RewardJudge], float | None]] = {
    execution_reward: _execution,
    static_reward: _static,
    interactive_reward: _interactive,
    aesthetic_reward: _aesthetic,
    webgen_r1_reward: _webgen_r1,
}


def reward_functions(
    judge_config: JudgeConfig | None = None, judge: RewardJudge | None = None
) -> list[RewardFn]:
    """The five reward functions (module docstring), bound to ``judge`` or to a new ``RewardJudge`` of
    ``judge_config``: same names and docstrings, one shared judging. In order: execution, static,
    interactive, aesthetic, webgen_r1."""
    shared = judge or RewardJudge(judge_config)

    def bind(module_fn: RewardFn) -> RewardFn:
        pick = _PICKS[module_fn]

        async def fn(
            prompts: list[Any], completions: list[Any], completion_ids: Any = None, **kwargs: Any
        ) -> list[float | None]:
            return await _score(shared, pick, prompts, completions, kwargs)

        fn.__name__ = fn.__qualname__ = module_fn.__name__
        fn.__doc__ = module_fn.__doc__
        return fn

    return [bind(f) for f in _PICKS]
