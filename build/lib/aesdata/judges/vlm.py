"""VLM judge: grade screenshots with a vision-language model under a versioned rubric.

The model is reached through the project's LLM backends (``aesdata.llm``): any OpenAI-compatible
endpoint (``vllm serve <vision model>``, hosted APIs) with retries, backoff and bounded concurrency,
or vLLM in-process (``backend: vllm``) where installed. Images travel as ``data:image/png;base64`` URLs.

Structured output: ``structured="json_schema"`` sends ``response_format: {type: json_schema}``;
``"guided_json"`` sends vLLM's ``guided_json`` extra; ``"none"`` sends neither. When the server refuses
``response_format`` (HTTP 400) the judge drops it for the rest of the run and relies on parsing, which
is robust: reasoning blocks are stripped, a fenced or bare JSON object is found, and failing that each
numeric field is read with a pattern. An answer that still cannot be read is re-asked up to
``parse_retries`` times, then recorded as an error (``VLMVerdict.error``), never raised.

Cache: verdicts (parsed, valid answers only) are stored in the shared request cache
(``aesdata.cache.RequestCache``) keyed by (model, rubric id, parameters, instruction, image hashes),
so a rerun pays nothing and an unreadable answer is never replayed. Images enter keys by hash only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from aesdata.cache import RequestCache, cache_key, hash_bytes
from aesdata.judges.rubrics import Rubric
from aesdata.llm.base import GenRequest, LLMBackend

Structured = Literal["json_schema", "guided_json", "none"]


@dataclass
class VLMVerdict:
    """One grade: ``score`` on the rubric's scale, ``subscores``, ``feedback``; ``error`` when no grade
    could be had; ``cached`` when it came from the cache; ``attempts`` HTTP attempts made; ``raw`` reply."""

    score: float | None
    subscores: dict[str, float] = field(default_factory=dict)
    feedback: str = ""
    error: str | None = None
    cached: bool = False
    attempts: int = 0
    raw: str | None = None

    @property
    def ok(self) -> bool:
        """True when a score was read."""
        return self.error is None and self.score is not None


def data_url(png: bytes, mime: str = "image/png") -> str:
    """``data:`` URL of image bytes (how images are sent to an OpenAI-compatible server)."""
    return f"data:{mime};base64,{base64.b64encode(png).decode()}"


_THINK = re.compile(r"<think>.*?</think>", re.S)
_FENCE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)


def parse_answer(text: str, rubric: Rubric) -> dict[str, Any]:
    """Read a rubric answer from model text: JSON (fenced, bare or embedded), else ``"field": number`` /
    ``field: n/40`` patterns per numeric field. Raises ``ValueError`` when a numeric field is missing.
    """
    text = _THINK.sub("", text or "").strip()
    candidates = [m.group(1) for m in _FENCE.finditer(text)]
    start = text.find("{")
    while start != -1:  # every balanced {...} from each opening brace
        depth = 0
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                candidates.append(text[start : i + 1])
                break
        start = text.find("{", start + 1)
    for cand in candidates:
        try:
            obj = json.loads(cand)
        except ValueError:
            continue
        if isinstance(obj, dict) and all(k in obj for k in rubric.fields):
            rubric.read(obj)  # validates numbers
            return obj
    found: dict[str, Any] = {}
    for key in rubric.fields:
        m = re.search(rf"{re.escape(key)}[\"']?\s*[:=]\s*\"?(-?\d+(?:\.\d+)?)", text, re.I)
        if m:
            found[key] = float(m.group(1))
    if len(found) < len(rubric.fields):
        raise ValueError(f"no {'/'.join(rubric.fields)} in the answer: {text[:160]!r}")
    fb = re.search(r"feedback[\"']?\s*[:=]\s*\"?([^\"\n]*)", text, re.I)
    found["feedback"] = fb.group(1).strip() if fb else ""
    return found


class VLMJudge:
    """Grade images under one rubric with one model.

    ``backend``: an ``LLMBackend`` (build it with ``aesdata.llm.make_backend``; give it no cache: verdicts
    are cached here). ``cache``: the shared ``RequestCache`` or None. ``params``: sampling parameters
    (default temperature 0, max_tokens 512). ``structured``: see module docstring.
    """

    def __init__(
        self,
        backend: LLMBackend,
        rubric: Rubric,
        *,
        cache: RequestCache | None = None,
        params: dict[str, Any] | None = None,
        structured: Structured = "json_schema",
        parse_retries: int = 2,
    ) -> None:
        self.backend = backend
        self.rubric = rubric
        self.cache = cache
        self.params = {"temperature": 0.0, "max_tokens": 512, **(params or {})}
        self.structured: Structured = structured
        self.parse_retries = parse_retries

    @property
    def judge_id(self) -> str:
        """``vlm:<model>`` (the ``vlm_judge`` column)."""
        return f"vlm:{self.backend.model}"

    def key_parts(self, instruction: str, images: list[bytes]) -> dict[str, Any]:
        """Cache key parts: model, rubric id, parameters, instruction, image hashes."""
        return {
            "judge": "vlm",
            "model": self.backend.model,
            "rubric": self.rubric.id,
            "params": self.params,
            "structured": self.structured,
            "instruction": instruction,
            "images": [hash_bytes(im) for im in images],
        }

    def _request(self, instruction: str, images: list[bytes], attempt: int) -> GenRequest:
        content: list[dict[str, Any]] = [
            {"type": "text", "text": self.rubric.user.format(instruction=instruction)}
        ]
        content += [{"type": "image_url", "image_url": {"url": data_url(im)}} for im in images]
        params = dict(self.params)
        schema = self.rubric.json_schema()
        if self.structured == "json_schema":
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": self.rubric.name, "schema": schema, "strict": True},
            }
        elif self.structured == "guided_json":
            params["guided_json"] = schema
        messages = [{"role": "system", "content": self.rubric.system}, {"role": "user", "content": content}]
        return GenRequest(messages=messages, params=params, key_extra={"attempt": attempt})

    async def _ask(self, items: list[tuple[str, list[bytes]]], attempt: int) -> list[VLMVerdict]:
        results = await self.backend.generate([self._request(ins, ims, attempt) for ins, ims in items])
        if self.structured != "none" and any(
            (r.error or "").startswith("HTTP 400")
            and (
                "response_format" in (r.error or "")
                or "guided" in (r.error or "")
                or "json_schema" in (r.error or "")
            )
            for r in results
        ):
            self.structured = "none"  # the server cannot constrain output: parse instead
            results = await self.backend.generate([self._request(ins, ims, attempt) for ins, ims in items])
        out = []
        for r in results:
            if not r.ok:
                out.append(VLMVerdict(None, error=r.error, attempts=r.attempts, raw=r.text))
                continue
            try:
                total, subs, feedback = self.rubric.read(parse_answer(r.text or "", self.rubric))
            except ValueError as e:
                out.append(VLMVerdict(None, error=f"unreadable answer: {e}", attempts=r.attempts, raw=r.text))
                continue
            out.append(VLMVerdict(total, subs, feedback, attempts=r.attempts, raw=r.text))
        return out

    async def grade(self, items: list[tuple[str, list[bytes]]]) -> list[VLMVerdict]:
        """Grade each ``(instruction, [png, ...])`` item; one verdict per item, in order.

        The first image is the one graded; a second one is a reference (PandasPlotBench ``vis``).
        Cached verdicts are returned without a request; unreadable answers are re-asked.
        """
        verdicts: list[VLMVerdict | None] = [None] * len(items)
        keys = [cache_key(self.key_parts(ins, ims)) for ins, ims in items]
        todo = []
        for i, key in enumerate(keys):
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                verdicts[i] = VLMVerdict(hit["score"], hit["subscores"], hit["feedback"], cached=True)
            elif not items[i][1]:
                verdicts[i] = VLMVerdict(None, error="no image to grade")
            else:
                todo.append(i)
        for attempt in range(self.parse_retries + 1):
            if not todo:
                break
            fresh = await self._ask([items[i] for i in todo], attempt)
            retry = []
            for i, v in zip(todo, fresh, strict=True):
                prior = verdicts[i]
                v.attempts += prior.attempts if prior is not None else 0
                verdicts[i] = v
                if v.ok and self.cache is not None:
                    await asyncio.to_thread(
                        self.cache.put,
                        keys[i],
                        {"score": v.score, "subscores": v.subscores, "feedback": v.feedback},
                        self.key_parts(*items[i]),
                    )
                elif not v.ok and (v.error or "").startswith("unreadable"):
                    retry.append(i)
            todo = retry
        return [v if v is not None else VLMVerdict(None, error="no result") for v in verdicts]
