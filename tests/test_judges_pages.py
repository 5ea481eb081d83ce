"""The judges on real pages in the real browser pool: known-answer pairs, the interactive agent, the judge
stage (with the VLM switch on), the TRL reward functions and ``aesdata score``."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pyarrow as pa
from PIL import Image

from aesdata.judges import interactive
from aesdata.judges.runner import JudgeConfig, Judges
from aesdata.judges.score_cli import score_files
from aesdata.render.browser_pool import BrowserPool, RenderConfig
from aesdata.render.html import render_html
from aesdata.schema import sub_schema
from aesdata.stage import StageContext
from aesdata.stages.judge import Judge, JudgeStageConfig
from aesdata.train.rewards import RewardJudge, reward_functions
from tests.judge_helpers import TEMPLATES, page, pairs
from tests.vlm_double import ChatDouble

#: which judge must flag each defect, and how
_FLAGGED = {
    "contrast": lambda r: "contrast" in r["static_findings_json"],
    "overlap": lambda r: "overlaps" in r["static_findings_json"],
    "overflow": lambda r: "scrolls horizontally" in r["static_findings_json"],
    "dead_button": lambda r: r["interactive_score"] == 0,
    "script_error": lambda r: not r["exec_pass"] and "uncaught" in r["exec_findings_json"],
    "broken_image": lambda r: "broken image" in r["static_findings_json"],
    "unclosed_tags": lambda r: not r["exec_pass"] and "tag-pair" in r["exec_findings_json"],
    "tiny_text": lambda r: "below 12px" in r["static_findings_json"],
}


def test_known_answer_pairs_rank_clean_above_defective():
    async def run():
        async with Judges(JudgeConfig()) as judges:
            items = [{"kind": "html", "code": page(t), "instruction": t} for t in TEMPLATES]
            items += [{"kind": "html", "code": page(t, d), "instruction": t} for t, d, _ in pairs()]
            return await judges.render_and_judge(items)

    rows = asyncio.run(run())
    clean = dict(zip(TEMPLATES, rows[: len(TEMPLATES)], strict=False))
    assert all(r["exec_pass"] and r["interactive_score"] == 1 for r in clean.values()), [
        (r["exec_findings_json"], r["interactive_trace_json"]) for r in clean.values()
    ]
    ranked = flagged = 0
    misses = []
    for (t, d, _), row in zip(pairs(), rows[len(TEMPLATES) :], strict=False):
        ranked += clean[t]["reward"] > row["reward"]
        flagged += _FLAGGED[d](row)
        if not (clean[t]["reward"] > row["reward"] and _FLAGGED[d](row)):
            misses.append(
                (
                    t,
                    d,
                    clean[t]["reward"],
                    row["reward"],
                    row["static_findings_json"],
                    row["exec_findings_json"],
                )
            )
    n = len(pairs())
    assert n >= 40
    assert ranked >= 0.95 * n, misses
    assert flagged >= 0.95 * n, misses


_CONTROLS = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>controls</title>
<style>body{font-family:sans-serif;padding:24px} button,select,input{margin:8px;font-size:16px}</style></head><body>
<h1>Controls</h1><p id="out">idle</p>
<button id="live" onclick="document.getElementById('out').textContent='clicked ' + Date.now()">Working button</button>
<button id="dead">Dead button</button>
<select onchange="document.getElementById('out').textContent='chose ' + this.value"><option>a</option><option>b</option></select>
<canvas id="game" width="300" height="150" style="border:1px solid #333"></canvas>
<canvas id="still" width="300" height="150" style="border:1px solid #999"></canvas>
<script>
const g = document.getElementById('game').getContext('2d'); let x = 20;
function draw(){ g.clearRect(0,0,300,150); g.fillStyle='#2563eb'; g.fillRect(x,60,30,30); }
const game = document.getElementById('game'); game.tabIndex = 0; draw();
game.addEventListener('keydown', e => { if (e.key.startsWith('Arrow')) { x += 40; draw(); } });
const s = document.getElementById('still').getContext('2d'); s.fillStyle='#999'; s.fillRect(20,60,30,30);
</script></body></html>"""


def test_interactive_agent_tells_working_from_dead_controls():
    async def run():
        async with BrowserPool(RenderConfig()) as pool:
            async with pool.open(_CONTROLS) as session:
                candidates = await session.page.evaluate(interactive.FIND_JS)
                watch_results = {}
                with interactive._Watch(session.page) as watch:
                    for c in candidates:
                        entry = await interactive.observe_action(session.page, c, watch, settle_ms=150)
                        watch_results[
                            entry["target"] + ("#" + str(c["i"]) if c["kind"] == "keys" else "")
                        ] = entry
                result = await interactive.explore(
                    session.page, max_actions=5, max_scored=5, settle_ms=150, blocked=session.blocked
                )
                return watch_results, result

    observed, result = asyncio.run(run())
    outcome = {k: v["outcome"] for k, v in observed.items()}
    assert outcome['button "Working button"'] == "changed"
    assert outcome['button "Dead button"'] == "no_change"
    assert [v for k, v in outcome.items() if k.startswith("select")] == ["changed"], outcome
    keys = {k: v for k, v in outcome.items() if k.startswith("canvas")}
    assert sorted(keys.values()) == ["changed", "no_change"], (
        keys
    )  # the game answers arrows, the still canvas not
    assert result.max_scored == 5 and len(result.trace) >= 4
    assert 1 <= result.score < len(result.trace)
    assert {"step", "action", "target", "outcome", "changed", "score"} <= set(result.trace[0])


def _rendered_table(htmls: list[str]) -> pa.Table:
    async def run():
        async with BrowserPool(RenderConfig(load_timeout_s=3, settle_timeout_s=2)) as pool:
            return [await render_html(pool, h) for h in htmls]

    renders = asyncio.run(run())
    rows = [
        {
            "id": f"r{i}",
            "kind": "html",
            "code": h,
            "instruction": "a small counter page",
            "plot_figures": None,
            **r,
        }
        for i, (h, r) in enumerate(zip(htmls, renders, strict=False))
    ]
    cols = ("id", *Judge.requires)
    return pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows], schema=sub_schema(list(cols)))


def test_judge_stage_scores_rows_and_vlm_is_one_switch_away(tmp_path):
    table = _rendered_table(
        [page("counter"), page("counter", "contrast"), "<html><body><script>while(true){}</script>"]
    )
    assert table.column("render_status").to_pylist()[:2] == ["ok", "ok"]
    with ChatDouble() as srv:
        cfg = JudgeStageConfig(
            vlm={"base_url": srv.base_url, "model": "double-vl", "max_retries": 1},
            interactive={"max_actions": 3, "max_scored": 2},
        )
        ctx = StageContext(spec_dir=tmp_path, run_dir=tmp_path, stage_dir=tmp_path / "judge")
        stage = Judge(cfg, ctx)

        async def run():
            await stage.asetup()
            try:
                return await stage.aprocess(table)
            finally:
                await stage.ateardown()

        out = asyncio.run(run())
        stage.teardown()
        assert len(srv.requests) == 2  # the two pages that rendered
    rows = out.to_pylist()
    assert out.schema.names == list(Judge.outputs)
    good, low, hung = rows
    assert good["exec_pass"] and good["static_score"] > low["static_score"]
    assert (
        good["vlm_score"] is not None
        and good["vlm_judge"] == "vlm:double-vl"
        and good["rubric_version"] == "opendesign@1"
    )
    assert json.loads(good["reward_json"])["static_source"] == "vlm"
    assert good["interactive_max"] == 2 and good["interactive_score"] == 1
    assert not hung["exec_pass"] and hung["reward"] == -0.1 and hung["vlm_score"] is None
    assert stage.failures(out) == 1
    assert (tmp_path / "cache" / "requests.sqlite").exists()


def test_trl_reward_functions_share_one_judging():
    judge = RewardJudge(JudgeConfig(interactive={"max_actions": 2, "max_scored": 1}))
    funcs = reward_functions(judge=judge)
    prompts = [[{"role": "user", "content": "a counter page"}]] * 3
    completions = [
        [{"role": "assistant", "content": f"```html\n{page('counter')}\n```"}],
        [{"role": "assistant", "content": f"```html\n{page('counter', 'script_error')}\n```"}],
        [{"role": "assistant", "content": "Sorry, I cannot help with that."}],
    ]

    async def run():
        try:
            return [
                await f(prompts=prompts, completions=completions, completion_ids=None, trainer_state=None)
                for f in funcs
            ]
        finally:
            await judge.aclose()

    results = dict(zip([f.__name__ for f in funcs], asyncio.run(run()), strict=False))
    assert list(results) == [
        "execution_reward",
        "static_reward",
        "interactive_reward",
        "aesthetic_reward",
        "webgen_r1_reward",
    ]
    assert len(judge.memo) == 3  # five functions, one judging per completion
    assert results["execution_reward"] == [1.0, -1.0, -1.0]
    assert results["aesthetic_reward"][0] > 0.8 and results["aesthetic_reward"][1:] == [-0.1, -0.1]
    # a small clean counter page in a stock font is "good" (70-89) under design@4, not near-perfect
    assert 0.7 < results["static_reward"][0] < 0.95 and results["static_reward"][2] is None
    assert results["interactive_reward"][0] == 1.0
    assert results["webgen_r1_reward"][0] > 4 and results["webgen_r1_reward"][2] == 0.0


def test_score_files_table_and_json(tmp_path, capsys):
    html = tmp_path / "page.html"
    html.write_text(page("landing"))
    png = tmp_path / "shot.png"
    buf = io.BytesIO()
    Image.new("RGB", (1280, 800), "white").save(buf, format="PNG")
    png.write_bytes(buf.getvalue())
    assert score_files([html, png], as_json=True) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["kind"] for r in lines] == ["html", "image"]
    assert lines[0]["exec_pass"] is True and lines[0]["static_score"] > lines[1]["static_score"]
    assert any("blank" in f for f in lines[1]["findings"])
    from rich.console import Console

    console = Console(record=True, width=200)
    assert score_files([png], console=console) == 0
    text = console.export_text()
    assert "shot.png" in text and "nearly blank" in text
    try:
        score_files([Path(tmp_path / "x.txt")])
    except Exception as e:
        assert "unknown file type" in str(e)
    else:
        raise AssertionError("a .txt file must be refused")
