"""The VLM judge against a loopback chat-completions server (``vlm_double.ChatDouble``, a labelled test double).

Real HTTP on loopback; faults (5xx, stalls past the client timeout, garbage bodies, unreadable answers)
are retried or recorded; verdicts are cached and a rerun sends nothing.
"""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from aesdata.cache import RequestCache
from aesdata.judges.rubrics import OPENDESIGN, WEBGEN
from aesdata.judges.vlm import VLMJudge
from aesdata.llm.openai_compat import OpenAICompatBackend
from tests.vlm_double import ChatDouble


def _png(grey: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (grey, grey, grey)).save(buf, format="PNG")
    return buf.getvalue()


def _judge(srv: ChatDouble, rubric=OPENDESIGN, cache=None, **kw) -> VLMJudge:
    backend = OpenAICompatBackend(
        "double-vl", srv.base_url, timeout_s=0.5, max_retries=2, backoff_s=0.01, concurrency=4
    )
    return VLMJudge(backend, rubric, cache=cache, **kw)


def test_grades_images_with_structured_output():
    with ChatDouble() as srv:
        verdicts = asyncio.run(
            _judge(srv).grade([("a dark page", [_png(51)]), ("a light page", [_png(204)])])
        )
        body = srv.requests[0]
    assert [v.score for v in verdicts] == [80, 20]
    assert verdicts[0].subscores == {"alignment_score": 32, "aesthetics_score": 24, "structure_score": 24}
    assert body["response_format"]["type"] == "json_schema" and body["temperature"] == 0.0
    assert body["messages"][-1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_faults_are_retried_or_recorded():
    with ChatDouble(stall_s=1.0) as srv:
        judge = _judge(srv)
        items = [
            ("[fault:500] page", [_png(0)]),
            ("[fault:stall] page", [_png(0)]),
            ("[fault:garbage] page", [_png(0)]),
            ("[fault:unreadable] page", [_png(0)]),
            ("[fault:always500,always500,always500] page", [_png(0)]),
        ]
        verdicts = asyncio.run(judge.grade(items))
    assert [v.score for v in verdicts[:4]] == [100, 100, 100, 100]
    assert verdicts[0].attempts == 2 and verdicts[1].attempts == 2 and verdicts[2].attempts == 2
    assert verdicts[3].attempts == 2  # answered, unreadable, asked again
    assert verdicts[4].score is None and "gave up after 3 attempts" in verdicts[4].error


def test_server_without_structured_output_falls_back_to_parsing():
    with ChatDouble(refuse_schema=True) as srv:
        judge = _judge(srv, rubric=WEBGEN)
        (v,) = asyncio.run(judge.grade([("page", [_png(0)])]))
        assert judge.structured == "none"
        assert "response_format" not in srv.requests[-1]
    assert v.ok and v.score == 5.0


def test_cache_hit_on_rerun(tmp_path):
    cache = RequestCache(tmp_path / "requests.sqlite")
    items = [
        ("same page", [_png(100)]),
        ("[fault:unreadable,unreadable,unreadable] never readable", [_png(0)]),
    ]
    with ChatDouble() as srv:
        first = asyncio.run(_judge(srv, cache=cache).grade(items))
        sent = len(srv.requests)
        second = asyncio.run(_judge(srv, cache=cache).grade(items))
        resent = len(srv.requests) - sent
    assert first[0].score == second[0].score and second[0].cached and not first[0].cached
    assert first[1].error and "unreadable" in first[1].error  # unreadable answers are not cached ...
    assert resent == 1  # ... so only that one is asked again (and answered readably this time)
    assert second[1].ok
    other_rubric = _judge(ChatDouble(), rubric=WEBGEN, cache=cache)
    assert other_rubric.key_parts("same page", [_png(100)]) != _judge(ChatDouble(), cache=cache).key_parts(
        "same page", [_png(100)]
    )
    cache.close()


@pytest.mark.parametrize("structured", ["guided_json", "none"])
def test_structured_modes(structured):
    with ChatDouble() as srv:
        (v,) = asyncio.run(_judge(srv, structured=structured).grade([("page", [_png(0)])]))
        body = srv.requests[-1]
    assert v.score == 100
    assert ("guided_json" in body) == (structured == "guided_json") and "response_format" not in body
