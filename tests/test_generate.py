"""Generation: code extraction, prompts, synthesis pieces, and whole builds against a real model
(``transformers serve`` on loopback, and the transformers backend in-process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from aesdata.cache import RequestCache
from aesdata.executor import LocalExecutor
from aesdata.generate.extract import extract_code, fenced_blocks, strip_think
from aesdata.generate.prompts import normalize_category, system_prompt
from aesdata.generate.synthesis import Embedder, decontaminate, parse_instruction_list, semantic_dedup
from aesdata.spec import load_pipeline
from tests.llm_helpers import (
    HTML_REPLY,
    SYNTH_ITEMS,
    TAUGHT_INSTRUCTION,
    FaultProxy,
    ServeProcess,
    shared_serve,
    shared_tiny_model,
)

FORMATS = Path(__file__).parent / "fixtures" / "formats"
ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- extraction
def test_extract_fenced_and_think() -> None:
    ex = extract_code(
        "<think>plan: a ```html block```</think>\nSure!\n```html\n<!DOCTYPE html><html></html>\n```", "html"
    )
    assert (ex.code, ex.status) == ("<!DOCTYPE html><html></html>", "ok")
    visible, cut = strip_think("reasoning only</think>```python\nimport x\n```")
    assert visible.startswith("```python") and not cut
    assert extract_code("<think>I will write the page but", "html").status == "truncated"
    assert extract_code("Sorry, I cannot help with that.", "html").status == "no_code"


def test_extract_merges_files() -> None:
    reply = """Files:

**index.html**
```html
<!DOCTYPE html><html><head><link rel="stylesheet" href="style.css"></head>
<body><h1>Hi</h1><script src="script.js"></script></body></html>
```
**style.css**
```css
h1 { color: teal; }
```
```javascript
// script.js
document.querySelector('h1').onclick = () => alert(1);
```
```js:extra.js
console.log('unreferenced');
```"""
    ex = extract_code(reply, "html")
    assert ex.status == "ok" and ex.files[:2] == ["index.html", "style.css"]
    assert "<style>\nh1 { color: teal; }\n</style>" in ex.code and "stylesheet" not in ex.code
    assert "onclick" in ex.code and 'src="script.js"' not in ex.code
    assert ex.code.index("unreferenced") < ex.code.index("</body>")


def test_extract_unfenced_truncated_and_plots() -> None:
    whole = "Here you go:\n<!DOCTYPE html>\n<html><body>x</body></html>\nEnjoy!"
    assert extract_code(whole, "html").code == "<!DOCTYPE html>\n<html><body>x</body></html>"
    cut = extract_code("```html\n<!DOCTYPE html><html><body><div>", "html")
    assert cut.status == "truncated" and cut.code.endswith("<div>")
    assert extract_code("```html\n<html></html>\n```", "html", finish_reason="length").status == "truncated"
    plot = extract_code(
        "```\nprint(1)\n```\n```python\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\n```", "plot"
    )
    assert plot.code == "import matplotlib.pyplot as plt\nplt.plot([1, 2])" and plot.status == "ok"
    assert extract_code("import seaborn as sns\nsns.histplot([1])", "plot").status == "ok"
    assert [b.lang for b in fenced_blocks("~~~py\nx=1\n~~~\n```svg\n<svg/>\n```")] == ["python", "html"]


def test_prompts() -> None:
    assert normalize_category("3D Design") == "3d_design" and normalize_category("Game Dev") == "game_dev"
    assert normalize_category("Weird") == "website" and normalize_category("plotly", "plot") == "plotly"
    assert "Three.js" in system_prompt("html", "3d_design") and "```html" in system_prompt("html", "game_dev")
    assert "seaborn" in system_prompt("plot", "seaborn") and "data.csv" in system_prompt("plot", "seaborn")
    assert system_prompt("html", "website", {"website": "custom"}) == "custom"


# ---------------------------------------------------------------- synthesis pieces
def test_parse_instruction_list() -> None:
    assert parse_instruction_list('```json\n["Build a pricing table with three tiers", "x"]\n```') == [
        "Build a pricing table with three tiers"
    ]
    assert parse_instruction_list(
        "1. Build a weather dashboard with hourly charts\n- Make a recipe site with filters"
    ) == ["Build a weather dashboard with hourly charts", "Make a recipe site with filters"]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def test_semantic_dedup_and_decontamination(embedder: Embedder) -> None:
    texts = SYNTH_ITEMS + ["A retro arcade snake game with neon colors and a high-score table."]
    emb = embedder.encode(texts)
    assert emb.shape == (5, 384) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    kept, dropped = semantic_dedup(emb, cosine=0.9)
    assert len(kept) == 4 and [(d.index, d.reason) for d in dropped] in (
        [(1, "duplicate")],
        [(0, "duplicate")],
    )
    kept_k, _ = semantic_dedup(emb, method="kmeans", keep_fraction=0.6)
    assert len(kept_k) == 3
    bench = [
        "Create a user interface for a life insurance website.",
        "Design a snake game in retro arcade style with neon colours and a table of high scores.",
    ]
    ok, contaminated = decontaminate(
        texts, bench, embeddings=emb, benchmark_embeddings=embedder.encode(bench)
    )
    assert [(d.index, d.reason) for d in contaminated] == [
        (3, "contaminated_ngram"),
        (4, "contaminated_embedding"),
    ]
    assert contaminated[1].matched == bench[1] and ok == [0, 1, 2]
    ok_ngram_only, _ = decontaminate(texts, bench, cosine_threshold=None)
    assert ok_ngram_only == [0, 1, 2, 4]


# ---------------------------------------------------------------- builds against a real model
@pytest.fixture(scope="session")
def serve() -> ServeProcess:
    return shared_serve()


def write_pipeline(folder: Path, stages: str, name: str = "gen") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipe.yaml"
    path.write_text(f"name: {name}\nshard_size: 2\nstages:\n{stages}")
    return path


def generate_step(base_url: str, model: str, **extra: object) -> str:
    cfg = {
        "backend": "openai",
        "base_url": base_url,
        "model": model,
        "n": 2,
        "temperature": 0.0,
        "max_tokens": 120,
        "backoff_s": 0.01,
        **extra,
    }
    return "  - stage: generate\n" + "".join(f"    {k}: {json.dumps(v)}\n" for k, v in cfg.items())


def instructions_step(path: Path | list[Path]) -> str:
    paths = [str(p) for p in path] if isinstance(path, list) else str(path)
    return f"  - stage: instructions\n    path: {json.dumps(paths)}\n"


def rows(run: Path, step: str = "generate") -> list[dict]:
    return pq.read_table(sorted((run / "stages" / step).glob("shard-*.parquet"))).to_pylist()


def coffee_instructions(tmp_path: Path, n: int = 3, extra: list[str] | None = None) -> Path:
    path = tmp_path / "instr.jsonl"
    lines = [
        {
            "instruction": TAUGHT_INSTRUCTION if i == 0 else f"A page about coffee number {i}.",
            "category": "website",
        }
        for i in range(n)
    ]
    lines += [{"instruction": t, "category": "website"} for t in extra or []]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_build_generates_candidates(serve: ServeProcess, tmp_path: Path) -> None:
    # the file names an endpoint that does not exist; the override (what --llm-base-url passes) wins
    path = coffee_instructions(tmp_path, 1)
    spec = write_pipeline(
        tmp_path,
        instructions_step([path, FORMATS / "opendesign.jsonl"])
        + generate_step("http://127.0.0.1:9/v1", serve.model, seed=7),
    )
    LocalExecutor(load_pipeline(spec, {"llm_base_url": serve.base_url}), tmp_path / "run").run()
    out = rows(tmp_path / "run")
    assert len(out) == 12 and sorted({r["gen_candidate_index"] for r in out}) == [0, 1]
    taught = [r for r in out if r["instruction"] == TAUGHT_INSTRUCTION]
    assert [r["gen_status"] for r in taught] == ["ok", "ok"]
    assert taught[0]["response"] == HTML_REPLY and taught[0]["code"] == HTML_REPLY.split("```html\n")[
        1
    ].removesuffix("\n```")
    assert taught[0]["gen_prompt_tokens"] > 100 and taught[0]["gen_backend"] == "openai"
    assert json.loads(taught[1]["gen_params_json"])["seed"] == 8
    assert taught[0]["id"] != taught[1]["id"] and taught[1]["id"].endswith(
        "-2"
    )  # same code twice: distinct ids
    # other requests get whatever the tiny model makes of them: recorded, never an error
    assert all(r["gen_status"] in ("ok", "truncated", "no_code") and r["gen_error"] is None for r in out)
    assert all((r["code"] is None) == (r["gen_status"] == "no_code") for r in out)
    assert {r["category"] for r in out} == {
        "website",
        "3d_design",
        "data_visualization",
        "game_dev",
        "ui_component",
    }
    assert len({r["id"] for r in out}) == 12
    assert len(RequestCache(tmp_path / "run" / "cache" / "requests.sqlite")) == 12


def test_build_survives_faults(serve: ServeProcess, tmp_path: Path) -> None:
    def fault(n: int, body: dict) -> str | None:
        if "ALWAYS FAIL" in body["messages"][-1]["content"]:
            return "500"
        return {1: "503", 2: "garbage", 4: "429"}.get(n)

    proxy = FaultProxy(serve.base_url, fault)
    try:
        path = coffee_instructions(tmp_path, 2, ["Make a page. ALWAYS FAIL"])
        spec = write_pipeline(
            tmp_path,
            instructions_step(path)
            + generate_step(proxy.base_url, serve.model, max_retries=2, concurrency=2),
        )
        result = LocalExecutor(load_pipeline(spec), tmp_path / "run").run()
        out = rows(tmp_path / "run")
        failed = [r for r in out if "ALWAYS FAIL" in r["instruction"]]
        assert [r["gen_status"] for r in failed] == ["error", "error"] and "HTTP 500" in failed[0][
            "gen_error"
        ]
        assert failed[0]["code"] is None and failed[0]["id"] != failed[1]["id"]
        assert all(r["gen_status"] != "error" for r in out if r not in failed)
        assert result.steps[-1].failures == 2
        assert proxy.forwarded == 4  # faults were retried; only good requests reached the model
    finally:
        proxy.close()


def test_rerun_after_kill_pays_no_request_twice(serve: ServeProcess, tmp_path: Path) -> None:
    proxy = FaultProxy(serve.base_url)
    try:
        path = coffee_instructions(tmp_path, 3)
        spec = write_pipeline(
            tmp_path, instructions_step(path) + generate_step(proxy.base_url, serve.model, concurrency=1)
        )
        proxy.hold(
            after=3
        )  # the 4th request is parked: requests 1-3 are answered and cached, nothing in flight
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "aesdata", "build", str(spec), "--out", str(tmp_path / "run")],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.time() + 120
        while proxy.held == 0 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proxy.held == 1 and proxy.forwarded == 3, (
            proc.stderr.read().decode() if proc.poll() is not None else ""
        )
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        proxy.release(drop=True)  # the killed build's parked request never reaches the model
        assert not list((tmp_path / "run" / "stages" / "generate").glob("*.done"))  # shard 0 had not finished
        result = LocalExecutor(load_pipeline(spec), tmp_path / "run").run()
        assert result.steps[-1].rows == 6
        assert proxy.forwarded == 6  # 3 before the kill + 3 after: none paid twice
        cache = RequestCache(tmp_path / "run" / "cache" / "requests.sqlite")
        assert len(cache) == 6
        LocalExecutor(load_pipeline(spec), tmp_path / "run").run()  # finished: nothing is sent again
        assert proxy.forwarded == 6
    finally:
        proxy.close()


def test_synthesis_build(serve: ServeProcess, tmp_path: Path) -> None:
    stage = f"""  - stage: synthesize_instructions
    backend: openai
    base_url: {serve.base_url}
    model: {json.dumps(serve.model)}
    categories: [website]
    keywords: {{website: [coffee shop]}}
    per_keyword: 4
    rounds: 2
    temperature: 0.0
    max_tokens: 120
    decontamination:
      benchmarks: [{json.dumps(str(FORMATS / "opendesign.jsonl"))}]
"""
    spec = write_pipeline(tmp_path, stage + generate_step(serve.base_url, serve.model, n=1), name="synth")
    LocalExecutor(load_pipeline(spec), tmp_path / "run").run()
    instr = rows(tmp_path / "run", "synthesize_instructions")
    texts = sorted(r["instruction"] for r in instr)
    assert len(texts) == 2 and SYNTH_ITEMS[2] in texts and SYNTH_ITEMS[3] not in texts
    assert {r["category"] for r in instr} == {"website"} and instr[0]["source"].startswith("synthesized:")
    report = json.loads(
        (tmp_path / "run" / "stages" / "synthesize_instructions" / "synthesis_report.json").read_text()
    )
    assert report["requests"] == 2 and report["written"] == 4 and report["kept"] == 2
    reasons = sorted(d["reason"] for d in report["dropped"])
    assert reasons == ["contaminated_ngram", "duplicate"]
    assert any(
        d["matched"] == "Create a user interface for a life insurance website." for d in report["dropped"]
    )
    assert len(rows(tmp_path / "run")) == 2  # and each synthesized instruction got a candidate


def test_transformers_backend_build(tmp_path: Path) -> None:
    model = shared_tiny_model()
    stage = f"""  - stage: generate
    backend: transformers
    model: {json.dumps(str(model))}
    device: cpu
    n: 1
    temperature: 0.0
    max_tokens: 120
"""
    path = coffee_instructions(tmp_path, 2)
    spec = write_pipeline(tmp_path, instructions_step(path) + stage)
    LocalExecutor(load_pipeline(spec), tmp_path / "run").run()
    out = rows(tmp_path / "run")
    assert out[0]["instruction"] == TAUGHT_INSTRUCTION and out[0]["gen_status"] == "ok"
    assert out[0]["gen_backend"] == "transformers" and out[1]["gen_status"] in ("ok", "truncated", "no_code")
    assert out[0]["code"] == HTML_REPLY.split("```html\n")[1].removesuffix("\n```")
