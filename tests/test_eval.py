"""``aesdata eval`` end to end: PandasPlotBench against two tiny models served by a real ``transformers serve``
on loopback, resume, ``eval.json``, and ``aesdata eval compare`` (table + page, screenshot of the page).

The benchmark's 175 tasks are on the Hugging Face Hub, which tests cannot reach: the data is the hand-made
fixture in the published layout (``tests/fixtures/eval/make_pandasplotbench.py``). Model A is taught the
fixture's reference scripts for tasks 0-2 (and one web page, for the OpenDesign path); model B a wrong chart for task 0, a script that raises for task 1
and the reference for task 2; on the other tasks both answer whatever a random tiny model says.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from aesdata.cli import app
from aesdata.eval.benchmarks import load_plotbench, plotbench_instructs
from aesdata.generate.prompts import system_prompt
from tests.llm_helpers import HTML_REPLY, ServeProcess, build_tiny_chat_model
from tests.vlm_double import ChatDouble, _chat

FIXTURE = Path(__file__).parent / "fixtures" / "eval" / "pandasplotbench"
FORMATS = Path(__file__).parent / "fixtures" / "formats"
RAISES = "import matplotlib.pyplot as plt\nplt.bar(df['nope'], df['sales'])"
PAGE = "A page about coffee."  # model A answers it with a small HTML page (HTML_REPLY)
WRONG_CHART = "import matplotlib.pyplot as plt\nplt.plot(df['sales'], color='black')"


def _convs(replies: dict[int, str]) -> list[tuple[list[dict[str, str]], str]]:
    tasks = load_plotbench(FIXTURE, None)
    system = plotbench_instructs()["system_prompt"]
    return [
        (
            [{"role": "system", "content": system}, {"role": "user", "content": tasks[i]["instruction"]}],
            f"```python\n{code}\n```",
        )
        for i, code in replies.items()
    ]


@pytest.fixture(scope="module")
def served() -> dict[str, Any]:
    """Two tiny models in one ``transformers serve`` (models loaded by name on first use)."""
    import torch

    torch.set_num_threads(1)  # two cores shared with the server and the renderers: no thread oversubscription
    refs = {int(r["id"]): r["code_plot"] for r in pq.read_table(FIXTURE / "data").to_pylist()}
    root = Path(tempfile.mkdtemp(prefix="aesdata-eval-models-"))
    page = (
        [{"role": "system", "content": system_prompt("html", "website")}, {"role": "user", "content": PAGE}],
        HTML_REPLY,
    )
    a = build_tiny_chat_model(root / "model_a", convs=[*_convs({0: refs[0], 1: refs[1], 2: refs[2]}), page])
    b = build_tiny_chat_model(root / "model_b", convs=_convs({0: WRONG_CHART, 1: RAISES, 2: refs[2]}))
    server = ServeProcess(a, root / "serve.log", force_model=False)
    yield {"server": server, "a": str(a), "b": str(b), "root": root}
    server.stop()


class PlotJudgeDouble(ChatDouble):
    """TEST DOUBLE of a vision judge (no vision model runs on this machine): answers PandasPlotBench's
    judge prompts in its format, vis 90 when a reference image came along, else task 60."""

    def answer(self, body: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(body)
        images = [p for p in body["messages"][-1]["content"] if p.get("type") == "image_url"]
        score = 90 if len(images) == 2 else 60
        return 200, _chat(f"The plots match in the main idea.\n[FINAL SCORE]: {score}")


def _eval(served: dict[str, Any], model: str, out: Path, *extra: str) -> Any:
    args = ["eval", "pandasplotbench", "--model", model, "--llm-base-url", served["server"].base_url]
    args += ["--data", str(FIXTURE), "--limit", "10", "--out", str(out), "--max-tokens", "64", *extra]
    return CliRunner().invoke(app, args)


def test_eval_and_compare_end_to_end(served: dict[str, Any], tmp_path: Path) -> None:
    run_a, run_b = tmp_path / "a", tmp_path / "b"
    res = _eval(served, served["a"], run_a)
    assert res.exit_code == 0, res.output
    assert "PandasPlotBench: official metric" in res.output and "not the benchmark's official" in res.output
    doc = json.loads((run_a / "eval.json").read_text())
    assert doc["benchmark"] == "pandasplotbench" and doc["tasks"] == 10 and doc["model"] == served["a"]
    tasks = {t["task_id"]: t for t in doc["per_task"]}
    assert sorted(tasks, key=int) == [str(i) for i in range(10)]
    # the taught tasks ran the benchmark's gathered code (data-loading code + reply) and drew a plot
    for i in ("0", "1", "2"):
        assert tasks[i]["render_status"] == "ok" and tasks[i]["official"]["has_plot"], tasks[i]
        assert tasks[i]["official"]["wrong_lib"] is False and tasks[i]["exec_pass"] is True
    off = doc["official"]
    # without a VLM the official vis/task scores are withheld and say why; errors and plots are counted
    assert off["overall"]["scores"] == {} and "vis and task" in off["missing"]
    assert off["overall"]["tasks"] == 10 and off["overall"]["no_plots"] == 10 - sum(
        t["official"]["has_plot"] for t in doc["per_task"]
    )
    assert doc["offline"]["overall"]["exec_pass_rate"] >= 0.3 and doc["offline"]["overall"]["design"] > 0
    assert doc["primary_metric"].startswith("aesdata design score")
    assert "design_judge" in doc["offline"] and doc["versions"]
    spec = (run_a / "eval_pipeline.yaml").read_text()
    assert "stage: eval_judge" in spec and "plugins:" in spec

    shards = sorted((run_a / "stages").glob("*/shard-*.parquet"))
    mtimes = [p.stat().st_mtime_ns for p in shards]

    # with a judge VLM (a test double of one: no vision model runs here) the official vis/task scores come
    # from the benchmark's own prompts and [FINAL SCORE] parsing; the rerun resumes: only eval_judge is redone
    with PlotJudgeDouble() as judge:
        judged = _eval(served, served["a"], run_a, "--judge-model", "vl", "--judge-base-url", judge.base_url)
        assert judged.exit_code == 0, judged.output
    assert [p.stat().st_mtime_ns for p in shards if "eval_judge" not in str(p)] == [
        m for p, m in zip(shards, mtimes, strict=True) if "eval_judge" not in str(p)
    ]
    assert json.loads((run_a / "manifest.json").read_text())["status"] == "complete"
    jdoc = json.loads((run_a / "eval.json").read_text())
    plotted = [t for t in jdoc["per_task"] if t["official"]["has_plot"] and not t["official"]["wrong_lib"]]
    n = len(plotted)
    assert (
        n >= 3 and len(judge.requests) == 2 * n
    )  # a vis and a task request per plotted task, none for others
    vis_req = next(r for r in judge.requests if len(r["messages"][1]["content"]) == 3)
    assert vis_req["messages"][0]["content"] == plotbench_instructs()["system_prompt"]
    assert vis_req["messages"][1]["content"][0]["text"] == plotbench_instructs()["judge_instruct_vis"]
    gt = pq.read_table(FIXTURE / "data").to_pylist()[0]["plots_gt"][0]  # task 0's reference plot, sent second
    assert any(r["messages"][1]["content"][-1]["image_url"]["url"].endswith(gt) for r in judge.requests)
    # vis 90 and task 60 for each plotted task, 0 for the rest (no plot / wrong library, not asked):
    # vis mean = int(90 n / 10), good = n / 10; task mean = int(60 n / 10), good = 0, bad = (10 - n) / 10
    scores = jdoc["official"]["overall"]["scores"]
    assert scores["vis"]["mean"] == int(90 * n / 10) and scores["vis"]["good"] == round(n / 10, 2)
    assert scores["task"]["mean"] == int(60 * n / 10) and scores["task"]["good"] == 0.0
    assert scores["task"]["bad"] == round((10 - n) / 10, 2) and jdoc["official"]["missing"] is None
    assert jdoc["official"]["judge_model"] == "vl" and jdoc["primary_metric"].startswith(
        "PandasPlotBench vis"
    )

    res_b = _eval(served, served["b"], run_b)
    assert res_b.exit_code == 0, res_b.output
    doc_b = json.loads((run_b / "eval.json").read_text())
    tb = {t["task_id"]: t for t in doc_b["per_task"]}
    assert tb["1"]["official"]["error"] is True and tb["1"]["render_status"] == "exec_error"
    assert doc_b["official"]["overall"]["error_number"] >= 1

    page = tmp_path / "compare.html"
    cmp = CliRunner().invoke(app, ["eval", "compare", str(run_a), str(run_b), "--out", str(page)])
    assert cmp.exit_code == 0, cmp.output
    assert "overall" in cmp.output and "B wins" in cmp.output and "Page:" in cmp.output
    text = page.read_text()
    assert text.count('class="task"') == 10 and "biggest differences first" in text
    assert text.count("data:image/webp;base64,") >= 4 + 10 and "no render (exec_error)" in text
    assert text.count("reference (the benchmark") == 10 and "Official metric" in text  # + ground truth plots
    assert "missing: vis and task scores" in text  # B ran without a judge
    # task 1 (A drew the reference, B's script raised) is among the biggest differences
    first = text.index('class="task"')
    assert text.index("task 1</span>") < text.index("task 9</span>") and first > 0
    from aesdata.eval.compare import compare_docs

    result = compare_docs(doc, doc_b)
    t1 = next(t for t in result["tasks"] if t["task_id"] == "1")
    assert t1["winner"] == "A" and t1["b"] == 0.0
    assert result["overall"]["wins_a"] + result["overall"]["wins_b"] + result["overall"]["ties"] == 10
    diffs = [abs(t["diff"]) for t in result["tasks"]]
    assert diffs == sorted(diffs, reverse=True)
    _screenshot(page, tmp_path / "compare.png")


def _screenshot(page: Path, png: Path) -> None:
    """Render the compare page with the project's browser (kept for a human to look at)."""
    import asyncio

    from aesdata.render.browser_pool import BrowserPool, RenderConfig

    async def shoot() -> bytes:
        async with BrowserPool(RenderConfig(viewport_width=1280, viewport_height=900)) as pool:
            async with pool.open(page.read_text()) as session:
                return await session.page.screenshot(full_page=True)

    data = asyncio.run(shoot())
    png.write_bytes(data)
    assert len(data) > 10_000
    keep = Path(tempfile.gettempdir()) / "aesdata-eval-compare.png"
    keep.write_bytes(data)


def test_eval_errors_are_one_paragraph(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["eval", "webgen-bench", "--model", "m", "--llm-base-url", "http://x/v1"])
    assert res.exit_code == 1 and "WebGen-Bench is not shipped" in res.output
    res = CliRunner().invoke(app, ["eval", "pandasplotbench", "--model", "m"])
    assert res.exit_code == 1 and "needs an endpoint" in res.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    res = CliRunner().invoke(
        app,
        [
            "eval",
            "pandasplotbench",
            "--model",
            "m",
            "--llm-base-url",
            "http://x/v1",
            "--data",
            str(bad),
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert res.exit_code == 1 and "not in the PandasPlotBench layout" in res.output
    res = CliRunner().invoke(app, ["eval", "compare", str(tmp_path / "nope"), str(tmp_path / "nope2")])
    assert res.exit_code == 1 and "does not exist" in res.output


def test_train_recipe_ends_with_an_eval(served: dict[str, Any], tmp_path: Path) -> None:
    """A recipe's ``eval:`` key scores the trained checkpoint (transformers backend, in-process)."""
    import yaml

    from aesdata.train.recipe import load_recipe
    from aesdata.train.run import run_recipe

    (msgs, reply) = _convs({0: pq.read_table(FIXTURE / "data").to_pylist()[0]["code_plot"]})[0]
    data = tmp_path / "sft.jsonl"
    row = {"prompt": msgs, "completion": [{"role": "assistant", "content": reply}]}
    data.write_text("\n".join(json.dumps(row) for _ in range(4)) + "\n")
    recipe = tmp_path / "r.yaml"
    body = {
        "recipe": "sft",
        "model": {"name_or_path": served["a"]},
        "dataset": {"path": str(data)},
        "training": {
            "output_dir": str(tmp_path / "ckpt"),
            "max_steps": 2,
            "learning_rate": 1e-6,
            "per_device_train_batch_size": 2,
            "gradient_accumulation_steps": 1,
            "max_length": 1024,
            "save_strategy": "no",
        },
        "eval": {
            "benchmark": "pandasplotbench",
            "data": str(FIXTURE),
            "limit": 2,
            "max_tokens": 64,
            "device": "cpu",
        },
    }
    recipe.write_text(yaml.safe_dump(body))
    result = run_recipe(load_recipe(recipe))
    ev = result.record["eval"]
    assert ev["benchmark"] == "pandasplotbench" and Path(ev["eval_json"]).is_file()
    doc = json.loads(Path(ev["eval_json"]).read_text())
    assert doc["tasks"] == 2 and doc["model"] == str(tmp_path / "ckpt")
    assert ev["official"]["tasks"] == 2 and ev["offline"]["tasks"] == 2
    saved = json.loads((tmp_path / "ckpt" / "aesdata_train.json").read_text())
    assert saved["status"] == "complete" and saved["eval"]["run"] == str(
        tmp_path / "ckpt" / "eval_pandasplotbench"
    )


def test_opendesign_eval_html_with_judge(served: dict[str, Any], tmp_path: Path) -> None:
    """The HTML path: OpenDesign tasks -> a page from the tiny chat model -> sealed Chromium -> the OpenDesign
    rubric through the VLM judge (a test double grading the screenshot's pixels) -> official stats."""
    data = tmp_path / "opendesign.jsonl"
    rows = [
        {"id": 1, "prompt": PAGE, "category": "Website"},
        {"id": 2, "prompt": "A 3D scene of a spinning cube.", "category": "3D Design"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = served["a"]
    with ChatDouble() as judge:
        args = ["eval", "opendesign", "--model", model, "--llm-base-url", served["server"].base_url]
        args += ["--data", str(data), "--out", str(tmp_path / "od"), "--max-tokens", "64"]
        args += ["--judge-model", "vl", "--judge-base-url", judge.base_url]
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "od" / "eval.json").read_text())
    tasks = {t["task_id"]: t for t in doc["per_task"]}
    assert tasks["1"]["render_status"] == "ok" and tasks["1"]["category"] == "Website"
    total = tasks["1"]["official"]["total"]
    assert total is not None and 0 <= total <= 100 and tasks["1"]["official"]["rubric"] == "opendesign@1"
    # the second task's reply had no page: not graded, counts 0 (never a blank stand-in)
    assert tasks["2"]["official"]["total"] is None and tasks["2"]["official"]["failed_render"]
    web = doc["official"]["by_category"]["Website"]
    assert web["total"] == round(total, 2) and web["good_rate"] == (1.0 if total >= 75 else 0.0)
    assert doc["official"]["overall"]["total"] == round(total / 2, 2) and doc["official"]["missing"] is None
    assert doc["offline"]["by_category"]["Website"]["interactivity"] is not None
    assert len(judge.requests) == 1  # only the rendered page was sent to the judge


class GradeDouble(ChatDouble):
    """TEST DOUBLE of a vision judge: answers WebGen-Bench's appearance prompt with a grade and
    ArtifactsBench's checklist prompt with an overall score, in each benchmark's reply format."""

    def answer(self, body: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(body)
        text = body["messages"][-1]["content"][0]["text"]
        if "Overall Score" in text:
            return 200, _chat('```json\n{\n  "Overall Score": "55"\n}\n``` Reason: solid.')
        return 200, _chat("Analysis: clean layout.\n\nGrade: 4")


def test_eval_judge_webgen_and_artifacts(tmp_path: Path) -> None:
    """``eval_judge`` with each benchmark's own prompt and parsing (stage run directly on rendered rows)."""
    import asyncio
    import io

    import pyarrow as pa
    from PIL import Image

    from aesdata.eval.benchmarks import load_artifacts, load_webgen
    from aesdata.eval.stages import EvalJudge, EvalJudgeConfig, EvalVLMConfig
    from aesdata.stage import StageContext

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "navy").save(buf, "PNG")
    png = {"bytes": buf.getvalue(), "path": None}
    checkout = tmp_path / "WebGen-Bench"
    (checkout / "data").mkdir(parents=True)
    (checkout / "data" / "test.jsonl").write_text((FORMATS / "webgen_bench.jsonl").read_text())
    (checkout / "src" / "grade_appearance_bolt_diy").mkdir(parents=True)
    (checkout / "src" / "grade_appearance_bolt_diy" / "prompt.py").write_text(
        'appearance_prompt = """Grade the page built for: {instruction}\\nGrade: [1-5]"""\n'
    )
    art = tmp_path / "artifacts_bench.json"
    art.write_text(
        json.dumps([{"index": 3, "question": "Make a clock.", "checklist": "CHECK-1", "class": "GAME"}])
    )
    ctx = StageContext(spec_dir=tmp_path, run_dir=tmp_path, stage_dir=tmp_path / "s")

    def judge(bench: str, path: Path, rows: list[dict[str, Any]], base_url: str) -> list[dict[str, Any]]:
        cfg = EvalJudgeConfig(
            benchmark=bench, path=str(path), vlm=EvalVLMConfig(model="vl", base_url=base_url)
        )
        stage = EvalJudge(cfg, ctx)
        for r in rows:
            r.update(code="<html></html>", response="<html><body>x</body></html>", render_status="ok")
            r.update(screenshot=png, screenshot_viewport=png)

        async def go() -> pa.Table:
            await stage.asetup()
            try:
                return await stage.aprocess(pa.Table.from_pylist(rows))
            finally:
                await stage.ateardown()

        return asyncio.run(go()).to_pylist()

    with GradeDouble() as dbl:
        web = judge("webgen_bench", checkout, load_webgen(checkout, 1), dbl.base_url)
        (req,) = dbl.requests
        assert req["messages"][0]["content"] == "You are a helpful assistant."
        assert req["messages"][1]["content"][0]["text"].startswith(
            "Grade the page built for: Please implement"
        )
        art_rows = judge("artifactsbench", art, load_artifacts(art, None), dbl.base_url)
        areq = dbl.requests[1]
        assert areq["temperature"] == 0.7 and "CHECK-1" in areq["messages"][1]["content"][0]["text"]
        assert "<html><body>x</body></html>" in areq["messages"][1]["content"][0]["text"]  # the whole answer
    w = json.loads(web[0]["eval_scores_json"])
    assert w["grade"] == 4 and w["ui_cases"] >= 2 and w["ui_accuracy"] is None and web[0]["eval_category"]
    a = json.loads(art_rows[0]["eval_scores_json"])
    assert (
        a["score"] == 55.0 and art_rows[0]["eval_category"] == "GAME" and art_rows[0]["eval_task_id"] == "3"
    )
