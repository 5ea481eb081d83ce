"""``aesdata build --model X`` changes the generator only, and the run records what ran.

The overrides are written into the configs of the steps that generate (not into the environment), so
they are validated, fingerprinted, recorded in the manifest and pickled to workers with the config; a
VLM judge keeps the model its pipeline names even when ``AESDATA_MODEL`` is set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aesdata.executor.plan import plan_build
from aesdata.judges.runner import Judges
from aesdata.rundir import RunDir
from aesdata.spec import load_pipeline
from tests.frame_helpers import cli
from tests.vlm_double import ChatDouble

PAGE = "<!DOCTYPE html><html><body><h1>hello</h1></body></html>"


class GeneratorDouble(ChatDouble):
    """Answers every chat request with one fenced HTML page; records the request bodies."""

    def answer(self, body: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(body)
        content = f"```html\n{PAGE}\n```"
        return 200, {
            "id": "x",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20},
        }


def _pipeline(folder: Path, with_judge: bool) -> Path:
    (folder / "ins.jsonl").write_text(
        "".join(json.dumps({"instruction": f"a page about {t}", "category": "website"}) + "\n" for t in "abc")
    )
    text = (
        "name: ov\nshard_size: 2\nstages:\n"
        "  - stage: instructions\n    path: ins.jsonl\n"
        "  - stage: generate\n    backend: openai\n    base_url: http://127.0.0.1:9/v1\n"
        "    model: file-model\n    n: 1\n    backoff_s: 0.01\n    max_retries: 0\n"
    )
    if with_judge:
        text += (
            "  - stage: render\n  - stage: judge\n"
            "    vlm: {base_url: http://127.0.0.1:9/v1, model: vision-model, concurrency: 4}\n"
        )
    path = folder / "ov.yaml"
    path.write_text(text)
    return path


def test_model_override_changes_the_generator_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AESDATA_MODEL", "from-the-environment")  # must reach nothing
    path = _pipeline(tmp_path, with_judge=True)
    plain = load_pipeline(path)
    over = load_pipeline(path, {"model": "cli-model", "llm_base_url": None})
    gen = {s.id: s for s in over.steps}["generate"].config
    judge = {s.id: s for s in over.steps}["judge"].config
    assert gen.model == "cli-model" and gen.base_url == "http://127.0.0.1:9/v1"
    assert judge.vlm.model == "vision-model" and over.overrides == {"model": "cli-model"}
    # the judge's VLM backend is built from its own config: the environment does not reach it
    assert Judges(judge)._make_vlm()["html"].backend.model == "vision-model"
    # fingerprinted: the generate step and everything after it change, the source step does not
    a = [p.fingerprint for p in plan_build(plain, RunDir(tmp_path / "r"), None)]
    b = [p.fingerprint for p in plan_build(over, RunDir(tmp_path / "r"), None)]
    assert a[0] == b[0] and all(x != y for x, y in zip(a[1:], b[1:], strict=True))
    # tuning keys (requests in flight, browsers) change no fingerprint, also nested in the judge's configs
    tuned = (
        path.read_text()
        .replace("concurrency: 4", "concurrency: 2")
        .replace("  - stage: render\n", "  - stage: render\n    concurrency: 5\n    browsers: 1\n")
        + "    render: {concurrency: 3}\n"
    )
    path.write_text(tuned)
    c = [p.fingerprint for p in plan_build(load_pipeline(path), RunDir(tmp_path / "r"), None)]
    assert c == a


def test_build_records_and_uses_the_cli_model(tmp_path: Path) -> None:
    path = _pipeline(tmp_path, with_judge=False)
    with GeneratorDouble() as server:
        res = cli(
            "build",
            str(path),
            "--model",
            "cli-model",
            "--llm-base-url",
            server.base_url,
            cwd=tmp_path,
        )
        assert res.returncode == 0, res.stderr
        assert len(server.requests) == 3 and {r["model"] for r in server.requests} == {"cli-model"}
    manifest = json.loads((tmp_path / "runs" / "ov" / "manifest.json").read_text())
    assert manifest["pipeline"]["overrides"] == {"model": "cli-model", "llm_base_url": server.base_url}
    gen = {s["id"]: s for s in manifest["steps"]}["generate"]
    assert gen["config"]["model"] == "cli-model" and gen["config"]["base_url"] == server.base_url
    # an override no step takes is said, not silently dropped
    only = tmp_path / "only.yaml"
    only.write_text("name: only\nstages:\n  - stage: instructions\n    path: ins.jsonl\n")
    res = cli("build", str(only), "--model", "x", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "--model is not used" in " ".join(res.stderr.split())
