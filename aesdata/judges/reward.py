"""Rewards: the judges' verdicts combined into one number, and TRL-compatible reward functions.

Combination (pure functions over one judged row, see ``RewardConfig``):

- ``grpo_ar`` (AesCoder GRPO-AR): ``r = w_exec * exec + w_static * static_n + w_inter * inter_n`` with
  default weights 0.1 / 0.8 / 0.1. ``exec`` is +1 / -1. Normalisation is explicit: ``static_n =
  static / static_scale`` (100 for the design judge and OpenDesign, 5 for WebGen, ...) and ``inter_n =
  interactive / interactive_scale`` (``max_scored``, 3 by default). Execution failure gates the others:
  the reward is then ``w_exec * -1`` (-0.1), or ``gate_reward`` when set.
- ``webgen_r1`` (WebGen-R1 cascade): structure check fails -> 0; render fails -> 0; else
  ``s_vis + 0.1 * s_func + 0.1 * s_format`` with ``s_vis`` the static grade on 0..5, ``s_func`` 1 when the
  page raised no console or runtime error, ``s_format`` 1 when the completion had the expected format
  (code in a fenced block, reasoning closed).

``reward_functions(config)`` returns named async functions ``f(prompts, completions, completion_ids=None,
**kwargs) -> list[float | None]`` for ``GRPOTrainer(reward_funcs=...)``: ``execution_reward``,
``static_reward``, ``interactive_reward``, ``aesthetic_reward`` (the combined GRPO-AR reward) and
``webgen_r1_reward``. They share one judging of each completion (extract code, render, judge), so
passing several of them costs one render per completion; TRL logs each as ``rewards/<name>/mean``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import Field

from aesdata.stage import StageConfig


class RewardConfig(StageConfig):
    """How the judges' scores become one reward."""

    formula: Literal["grpo_ar", "webgen_r1"] = Field(
        "grpo_ar", description="grpo_ar (AesCoder) or webgen_r1 (cascade)"
    )
    w_exec: float = Field(0.1, description="weight of the execution score (+1 / -1)")
    w_static: float = Field(0.8, description="weight of the normalised static score")
    w_interactive: float = Field(0.1, description="weight of the normalised interactive score")
    static_source: Literal["auto", "design", "vlm"] = Field(
        "auto",
        description="static score from the VLM judge (auto: when it graded the row) or the design judge",
    )
    static_scale: float | None = Field(
        None, gt=0, description="divide the static score by this; None = the judge's own scale"
    )
    interactive_scale: float | None = Field(
        None, gt=0, description="divide the interactive score by this; None = max_scored"
    )
    gate_reward: float | None = Field(None, description="reward when execution fails; None = w_exec * -1")


def static_component(
    row: dict[str, Any], config: RewardConfig, vlm_scale: float | None
) -> tuple[float | None, str, float]:
    """Pick the static score for the reward: (score, source, scale). Score None when neither judge has one."""
    use_vlm = config.static_source == "vlm" or (
        config.static_source == "auto" and row.get("vlm_score") is not None
    )
    if use_vlm and row.get("vlm_score") is not None:
        return float(row["vlm_score"]), "vlm", config.static_scale or vlm_scale or 100.0
    if config.static_source == "vlm":
        return None, "vlm", config.static_scale or vlm_scale or 100.0
    score = row.get("static_score")
    return (None if score is None else float(score)), "design", config.static_scale or 100.0


def grpo_ar(
    row: dict[str, Any], config: RewardConfig, vlm_scale: float | None = None
) -> tuple[float, dict[str, Any]]:
    """AesCoder's GRPO-AR reward of one judged row; returns (reward, components for ``reward_json``)."""
    exec_score = float(row.get("exec_score") or -1.0)
    parts: dict[str, Any] = {
        "formula": "grpo_ar",
        "weights": [config.w_exec, config.w_static, config.w_interactive],
        "exec": exec_score,
    }
    if exec_score < 0:
        reward = config.gate_reward if config.gate_reward is not None else config.w_exec * exec_score
        parts.update({"gated": True, "reward": reward})
        return reward, parts
    static, source, s_scale = static_component(row, config, vlm_scale)
    inter = row.get("interactive_score")
    i_scale = config.interactive_scale or float(row.get("interactive_max") or 3)
    static_n = 0.0 if static is None else min(max(static / s_scale, 0.0), 1.0)
    inter_n = 0.0 if inter is None else min(max(float(inter) / i_scale, 0.0), 1.0)
    reward = config.w_exec * exec_score + config.w_static * static_n + config.w_interactive * inter_n
    parts.update(
        {
            "gated": False,
            "static": static,
            "static_source": source,
            "static_scale": s_scale,
            "static_n": round(static_n, 6),
            "interactive": inter,
            "interactive_scale": i_scale,
            "interactive_n": round(inter_n, 6),
            "reward": round(reward, 6),
        }
    )
    return reward, parts


def webgen_r1(
    row: dict[str, Any], config: RewardConfig, vlm_scale: float | None = None, format_ok: bool | None = None
) -> tuple[float, dict[str, Any]]:
    """WebGen-R1's cascaded reward of one judged row (see module docstring)."""
    parts: dict[str, Any] = {"formula": "webgen_r1"}
    if not row.get("code"):
        parts.update({"stage": "structure", "reward": 0.0})
        return 0.0, parts
    if row.get("render_status") not in ("ok", "js_error"):
        parts.update({"stage": "render", "render_status": row.get("render_status"), "reward": 0.0})
        return 0.0, parts
    static, source, s_scale = static_component(row, config, vlm_scale)
    s_vis = 0.0 if static is None else 5.0 * min(max(static / s_scale, 0.0), 1.0)
    s_func = 1.0 if row.get("render_status") == "ok" and not _has_errors(row) else 0.0
    s_format = 1.0 if format_ok is None or format_ok else 0.0
    reward = s_vis + 0.1 * s_func + 0.1 * s_format
    parts.update(
        {
            "stage": "scored",
            "s_vis": round(s_vis, 4),
            "static_source": source,
            "s_func": s_func,
            "s_format": s_format,
            "reward": round(reward, 6),
        }
    )
    return reward, parts


def _has_errors(row: dict[str, Any]) -> bool:
    from aesdata.judges.execution import page_errors

    uncaught, other = page_errors(row.get("console_errors_json"))
    return bool(uncaught or other)


def combine(
    row: dict[str, Any], config: RewardConfig, vlm_scale: float | None = None, format_ok: bool | None = None
) -> tuple[float, dict[str, Any]]:
    """The reward ``config.formula`` names, for one judged row."""
    if config.formula == "webgen_r1":
        return webgen_r1(row, config, vlm_scale, format_ok)
    return grpo_ar(row, config, vlm_scale)


# ---------------------------------------------------------------------------------------------- TRL
RewardFn = Callable[..., Awaitable[list[float | None]]]


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
    from aesdata.generate.extract import fenced_blocks, strip_think

    visible, unfinished = strip_think(text)
    return not unfinished and any(b.closed for b in fenced_blocks(visible))


class RewardJudge:
    """Judges completions once and serves every named reward function from the same verdicts.

    ``judge_config``: an ``aesdata.judges.runner.JudgeConfig``; the browser pool and plot workers start
    lazily on the event loop of the first call (TRL runs async rewards on one daemon loop) and live until
    ``aclose``. Verdicts of the last ``memo_size`` completions are kept so that the named functions of one
    step share them.
    """

    def __init__(self, judge_config: Any = None, memo_size: int = 4096) -> None:
        from aesdata.judges.runner import JudgeConfig

        self.config = judge_config or JudgeConfig()
        self.memo: OrderedDict[str, asyncio.Future[dict[str, Any]]] = OrderedDict()
        self.memo_size = memo_size
        self._judges: Any = None
        self._lock: asyncio.Lock | None = None

    async def _runner(self) -> Any:
        from aesdata.judges.runner import Judges

        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._judges is None:
                judges = Judges(self.config)
                await judges.start()
                self._judges = judges
        return self._judges

    async def judged(
        self, completions: list[Any], kinds: list[str], instructions: list[str]
    ) -> list[dict[str, Any]]:
        """Render and judge each completion (memoised by kind, instruction and text); rows in order."""
        from aesdata.generate.extract import extract_code

        runner = await self._runner()
        futures = []
        for comp, kind, ins in zip(completions, kinds, instructions, strict=True):
            text = completion_text(comp)
            key = hashlib.sha256(f"{kind}\0{ins}\0{text}".encode()).hexdigest()
            fut = self.memo.get(key)
            if fut is None:
                code = extract_code(text, kind).code

                async def one(
                    text: str = text, code: str | None = code, kind: str = kind, ins: str = ins
                ) -> dict[str, Any]:
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
        if self._judges is not None:
            await self._judges.close()
            self._judges = None


def reward_functions(judge_config: Any = None, judge: RewardJudge | None = None) -> list[RewardFn]:
    """Named async TRL reward functions sharing one ``RewardJudge``.

    Each is ``f(prompts, completions, completion_ids=None, **kwargs) -> list[float | None]``; ``kwargs`` may
    carry dataset columns ``kind`` (html | plot, default html) and ``instruction`` (default: the prompt's
    last user message). Returns, in order: execution_reward (+1 / -1), static_reward (normalised 0..1),
    interactive_reward (normalised 0..1, None for plots), aesthetic_reward (combined GRPO-AR) and
    webgen_r1_reward (cascade).
    """
    shared = judge or RewardJudge(judge_config)

    def prompt_text(prompt: Any) -> str:
        if isinstance(prompt, list):
            users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
            return completion_text([{**users[-1], "role": "assistant"}]) if users else ""
        return str(prompt)

    async def rows_for(
        prompts: list[Any], completions: list[Any], kwargs: dict[str, Any]
    ) -> list[dict[str, Any]]:
        n = len(completions)
        kinds = list(kwargs.get("kind") or ["html"] * n)
        instructions = list(kwargs.get("instruction") or [prompt_text(p) for p in prompts])
        return await shared.judged(completions, kinds, instructions)

    def make(name: str, pick: Callable[[dict[str, Any]], float | None]) -> RewardFn:
        async def fn(
            prompts: list[Any], completions: list[Any], completion_ids: Any = None, **kwargs: Any
        ) -> list[float | None]:
            return [pick(row) for row in await rows_for(prompts, completions, kwargs)]

        fn.__name__ = fn.__qualname__ = name
        fn.__doc__ = f"TRL reward `{name}`: see aesdata.judges.reward.reward_functions."
        return fn

    def static_n(row: dict[str, Any]) -> float | None:
        score, _, scale = static_component(row, cfg, row.get("_vlm_scale"))
        return None if score is None else min(max(score / scale, 0.0), 1.0)

    def inter_n(row: dict[str, Any]) -> float | None:
        if row.get("interactive_score") is None:
            return None
        return float(row["interactive_score"]) / float(row.get("interactive_max") or 3)

    cfg = shared.config.reward
    return [
        make("execution_reward", lambda r: float(r.get("exec_score") or -1.0)),
        make("static_reward", static_n),
        make("interactive_reward", inter_n),
        make(
            "aesthetic_reward",
            lambda r: grpo_ar(r, cfg.model_copy(update={"formula": "grpo_ar"}), r.get("_vlm_scale"))[0],
        ),
        make("webgen_r1_reward", lambda r: webgen_r1(r, cfg, r.get("_vlm_scale"), r.get("_format_ok"))[0]),
    ]
