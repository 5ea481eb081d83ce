"""Rewards: the judges' verdicts combined into one number.

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

The TRL reward functions built on these live in ``aesdata.train.rewards``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from aesdata.config import StageConfig


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
