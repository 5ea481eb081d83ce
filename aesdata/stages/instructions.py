"""Source stages for the front of a pipeline: ``instructions`` (read instruction files) and
``synthesize_instructions`` (an LLM writes them, as in AesCoder).

Both output instruction rows: ``id`` (= ``instruction_id``), ``kind``, ``category``, ``instruction``,
``source``, ``meta_json``, ``data_csv``. With ``keep_code: true`` (curate mode) a record that carries
code (WebSight's HTML, PandasPlotBench's reference script, a generic ``code`` column) becomes a
candidate row instead: ``id`` from kind, instruction and code, ``gen_backend: corpus``, ``code`` set.
Exact repeats of an instruction (or of an instruction + code pair) are read once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field

from aesdata.cache import RequestCache
from aesdata.errors import AesdataError
from aesdata.generate.adapters import FORMATS, SourceRecord, instruction_id, load_instructions
from aesdata.generate.prompts import WEB_CATEGORIES
from aesdata.generate.synthesis import (
    SEED_KEYWORDS,
    Embedder,
    decontaminate,
    parse_instruction_list,
    semantic_dedup,
    synthesis_requests,
)
from aesdata.ids import content_id
from aesdata.llm import GENERATOR_OVERRIDES, LLMConfig, make_backend
from aesdata.rundir import atomic_write_json
from aesdata.schema import COLUMN_GROUPS
from aesdata.stage import Stage, StageConfig, register

_OUTPUTS = (*COLUMN_GROUPS["identity"], "gen_backend", "code")


def _resolve(spec_dir: Path, paths: str | list[str]) -> list[Path]:
    return [(spec_dir / p).resolve() for p in ([paths] if isinstance(paths, str) else paths)]


def _file_hashes(paths: list[Path]) -> dict[str, str]:
    """Content hash per input (file bytes, or every file of a folder): edited inputs redo the step."""
    out = {}
    for p in paths:
        h = hashlib.sha256()
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            if f.is_file():
                h.update(f.read_bytes())
        out[str(p)] = h.hexdigest()[:16] if p.exists() else "missing"
    return out


def _row(rec: SourceRecord, keep_code: bool) -> dict[str, Any]:
    """An instruction row, or a corpus candidate row when ``keep_code`` and the record has code."""
    candidate = keep_code and rec.code is not None
    return {
        "id": content_id(rec.kind, rec.instruction, rec.code or "") if candidate else rec.instruction_id,
        "instruction_id": rec.instruction_id,
        "kind": rec.kind,
        "category": rec.category,
        "instruction": rec.instruction,
        "source": rec.source,
        "meta_json": json.dumps(rec.meta, ensure_ascii=False, default=str) if rec.meta else None,
        "data_csv": rec.data_csv,
        "gen_backend": "corpus" if candidate else None,
        "code": rec.code if candidate else None,
    }


class InstructionsConfig(StageConfig):
    path: str | list[str] = Field(
        description="instruction file(s) or HF dataset folder(s), relative to the pipeline file"
    )
    format: Literal[FORMATS] = Field(
        default="auto", description="record layout; auto detects it from the field names"
    )  # type: ignore[valid-type]
    kind: Literal["html", "plot"] | None = Field(
        default=None, description="kind of every row (generic format)"
    )
    category: str | None = Field(default=None, description="category of every row (overrides the records')")
    keep_code: bool = Field(
        default=False, description="curate mode: rows whose record has code become candidates"
    )
    source: str | None = Field(
        default=None, description="value of the source column (default: the file name)"
    )


@register
class Instructions(Stage):
    name = "instructions"
    summary = "Read instructions (OpenDesign, WebGen-Bench, PandasPlotBench, WebSight or generic) from files."
    mode = "source"
    Config = InstructionsConfig
    outputs = _OUTPUTS
    config: InstructionsConfig

    def fingerprint_extra(self) -> dict[str, Any]:
        return _file_hashes(_resolve(self.context.spec_dir, self.config.path))

    def read(self) -> Iterator[pa.Table]:
        seen: set[str] = set()
        rows: list[dict[str, Any]] = []
        limit = self.context.limit
        for path in _resolve(self.context.spec_dir, self.config.path):
            for rec in load_instructions(
                path,
                self.config.format,
                kind=self.config.kind,
                category=self.config.category,
                source=self.config.source,
            ):
                row = _row(rec, self.config.keep_code)
                if row["id"] in seen:
                    continue
                seen.add(row["id"])
                rows.append(row)
                if limit is not None and len(rows) >= limit:
                    break
            if limit is not None and len(rows) >= limit:
                break
        if rows:
            yield pa.Table.from_pylist(rows)


class DedupConfig(StageConfig):
    method: Literal["threshold", "kmeans"] = Field(
        default="threshold",
        description="threshold: join items whose "
        "cosine >= cosine; kmeans: keep_fraction of the items as clusters",
    )
    cosine: float = Field(
        default=0.9, gt=0, le=1, description="threshold method: similarity that makes two requests one"
    )
    keep_fraction: float = Field(default=0.5, gt=0, le=1, description="kmeans method: clusters / requests")


class DecontaminationConfig(StageConfig):
    benchmarks: list[str] = Field(
        default_factory=list, description="benchmark prompt files (any instruction format)"
    )
    ngram: int = Field(default=5, ge=1, description="word n-gram size for the Jaccard check")
    jaccard: float = Field(default=0.5, gt=0, le=1, description="drop at n-gram Jaccard >= this")
    cosine: float | None = Field(
        default=0.85, description="drop at embedding cosine >= this (null: n-grams only)"
    )


class SynthesizeConfig(LLMConfig):
    categories: list[str] = Field(
        default_factory=lambda: list(WEB_CATEGORIES), description="categories to write requests for"
    )
    keywords: dict[str, list[str]] | None = Field(
        default=None, description="seed keywords per category (default: built-in)"
    )
    per_keyword: int = Field(default=5, ge=1, description="requests asked for per keyword and round")
    rounds: int = Field(default=1, ge=1, description="times each keyword is asked (distinct samples)")
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 1024
    seed: int | None = None
    min_chars: int = Field(default=20, description="shorter requests are dropped")
    dedup: DedupConfig | None = Field(default_factory=DedupConfig, description="semantic dedup (null: off)")
    decontamination: DecontaminationConfig = Field(default_factory=DecontaminationConfig)


@register
class SynthesizeInstructions(Stage):
    name = "synthesize_instructions"
    summary = "Write web instructions with an LLM from seed keywords, dedup them semantically, decontaminate."
    mode = "source"
    Config = SynthesizeConfig
    overrides = GENERATOR_OVERRIDES
    outputs = _OUTPUTS
    config: SynthesizeConfig

    def fingerprint_extra(self) -> dict[str, Any]:
        return _file_hashes(_resolve(self.context.spec_dir, self.config.decontamination.benchmarks))

    def _keywords(self) -> dict[str, list[str]]:
        table = self.config.keywords or SEED_KEYWORDS
        missing = [c for c in self.config.categories if c not in table]
        if missing:
            raise AesdataError(
                f"No seed keywords for categories {missing}.", "Add them under `keywords:` in the step."
            )
        return {c: table[c] for c in self.config.categories}

    def read(self) -> Iterator[pa.Table]:
        cfg = self.config
        cache = RequestCache(self.context.cache_path())
        backend = make_backend(cfg, cache)
        params: dict[str, Any] = {
            "temperature": cfg.temperature,
            "top_p": cfg.top_p,
            "max_tokens": cfg.max_tokens,
        }
        if cfg.seed is not None:
            params["seed"] = cfg.seed
        try:
            backend.load()
            jobs = synthesis_requests(self._keywords(), cfg.per_keyword, params, cfg.rounds)
            results = asyncio.run(_generate_and_close(backend, [j[2] for j in jobs]))
        finally:
            backend.close()
            cache.close()
        texts, origins, seen = [], [], set()
        failed = 0
        for (category, keyword, _), res in zip(jobs, results, strict=True):
            if not res.ok:
                failed += 1
                continue
            for text in parse_instruction_list(res.text or "", cfg.min_chars):
                if text.lower() not in seen:
                    seen.add(text.lower())
                    texts.append(text)
                    origins.append((category, keyword))
        report: dict[str, Any] = {
            "model": backend.model,
            "requests": len(jobs),
            "failed_requests": failed,
            "written": len(texts),
            "dropped": [],
        }
        keep = list(range(len(texts)))
        embedder = (
            Embedder()
            if texts and (cfg.dedup is not None or cfg.decontamination.cosine is not None)
            else None
        )
        emb = embedder.encode(texts) if embedder else None
        if cfg.dedup is not None and emb is not None:
            keep, dups = semantic_dedup(
                emb,
                method=cfg.dedup.method,
                cosine=cfg.dedup.cosine,
                keep_fraction=cfg.dedup.keep_fraction,
                seed=cfg.seed or 0,
            )
            report["dropped"] += [
                {
                    "text": texts[d.index],
                    "reason": d.reason,
                    "matched": texts[int(d.matched)],
                    "score": round(d.score, 4),
                }
                for d in dups
            ]
        report["after_dedup"] = len(keep)
        bench = [
            r.instruction
            for p in _resolve(self.context.spec_dir, cfg.decontamination.benchmarks)
            for r in load_instructions(p)
        ]
        if bench:
            dc = cfg.decontamination
            sub = [texts[i] for i in keep]
            kept_sub, contaminated = decontaminate(
                sub,
                bench,
                ngram=dc.ngram,
                jaccard_threshold=dc.jaccard,
                cosine_threshold=dc.cosine,
                embeddings=emb[keep] if emb is not None else None,
                benchmark_embeddings=embedder.encode(bench)
                if embedder is not None and dc.cosine is not None
                else None,
            )
            report["dropped"] += [
                {"text": sub[d.index], "reason": d.reason, "matched": d.matched, "score": round(d.score, 4)}
                for d in contaminated
            ]
            keep = [keep[i] for i in kept_sub]
        report["kept"] = len(keep)
        self.context.stage_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.context.stage_dir / "synthesis_report.json", report)
        source = f"synthesized:{backend.model}"
        rows = [
            _row(
                SourceRecord(
                    instruction_id("html", texts[i]),
                    "html",
                    origins[i][0],
                    texts[i],
                    source,
                    {"keyword": origins[i][1]},
                ),
                keep_code=False,
            )
            for i in keep
        ]
        if rows:
            yield pa.Table.from_pylist(rows)


async def _generate_and_close(backend: Any, requests: list[Any]) -> list[Any]:
    """Run ``backend.generate`` and close its connections on the same event loop."""
    try:
        return await backend.generate(requests)
    finally:
        await backend.aclose()
