"""Instruction sources: read the files users bring and turn each record into an instruction row.

Readers: JSONL / JSON, Parquet, CSV files and Hugging Face dataset folders (``save_to_disk``
folders via ``datasets.load_from_disk``, data folders via ``datasets.load_dataset(folder)``).
Formats (auto-detected from the field names, or named):

- ``opendesign``: ``{id, prompt, category}`` (OpenDesign benchmark).
- ``webgen_bench``: ``{id, instruction, Category, application_type, ui_instruct}`` (WebGen-Bench).
- ``pandasplotbench``: ``{id, code_plot, code_data, data_csv, task__plot_description, task__plot_style}``;
  the CSV travels with the row in ``data_csv``, the data-loading code is part of the instruction and
  ``code_plot`` is the reference script.
- ``websight``: ``{text, llm_generated_idea}``: the idea is the instruction, ``text`` its HTML.
- ``generic``: ``instruction`` or ``prompt`` (+ optional ``id``, ``kind``, ``category``, ``code``/``html``).

Every adapter returns a ``SourceRecord``: the identity columns plus ``code`` when the corpus has some
(kept as a candidate in curate mode).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aesdata.errors import AesdataError
from aesdata.generate.prompts import normalize_category
from aesdata.records import read_records

FORMATS = ("auto", "opendesign", "webgen_bench", "pandasplotbench", "websight", "generic")


@dataclass
class SourceRecord:
    """One instruction (and maybe its corpus code) read from a file."""

    instruction_id: str
    kind: str
    category: str
    instruction: str
    source: str
    meta: dict[str, Any]
    data_csv: str | None = None
    code: str | None = None


def instruction_id(kind: str, instruction: str) -> str:
    """sha256 of ``kind|instruction`` (16 hex): the same request gets the same id in every run."""
    return hashlib.sha256(f"{kind}|{instruction}".encode()).hexdigest()[:16]


# readers -----------------------------------------------------------------------


# formats -----------------------------------------------------------------------


def detect_format(record: dict[str, Any]) -> str:
    """Name the format of ``record`` from its field names (``generic`` when none matches)."""
    keys = set(record)
    if {"task__plot_description", "code_data"} <= keys or {"code_plot", "data_csv"} <= keys:
        return "pandasplotbench"
    if {"llm_generated_idea", "text"} <= keys:
        return "websight"
    if "instruction" in keys and ("application_type" in keys or "ui_instruct" in keys or "Category" in keys):
        return "webgen_bench"
    if {"prompt", "category"} <= keys:
        return "opendesign"
    if "instruction" in keys or "prompt" in keys:
        return "generic"
    raise AesdataError(
        f"Cannot tell the format of a record with fields {sorted(keys)}.",
        "Give it an `instruction` (or `prompt`) field, or set `format:` to one of "
        + ", ".join(FORMATS[1:])
        + ".",
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _meta(record: dict[str, Any], used: set[str]) -> dict[str, Any]:
    """The record's other fields, without binary payloads (screenshots are not instruction data)."""
    return {k: v for k, v in record.items() if k not in used and v is not None and not _binary(v)}


def _binary(value: Any) -> bool:
    return isinstance(value, bytes | bytearray) or (
        isinstance(value, dict) and isinstance(value.get("bytes"), bytes)
    )


def _opendesign(r: dict[str, Any], source: str, kind: str | None, category: str | None) -> SourceRecord:
    instr = _text(r.get("prompt"))
    cat = normalize_category(category or r.get("category"), "html")
    return SourceRecord(
        instruction_id("html", instr),
        "html",
        cat,
        instr,
        source,
        {
            "source_id": r.get("id"),
            "source_category": r.get("category"),
            **_meta(r, {"id", "prompt", "category"}),
        },
    )


#: WebGen-Bench ``application_type`` -> aesdata category (the system prompt); other types are websites
WEBGEN_CATEGORIES = {
    "Browser-Based Games": "game_dev",
    "Analytics Platforms/Dashboards": "data_visualization",
}


def webgen_category(application_type: str | None) -> str:
    """aesdata's category for a WebGen-Bench ``application_type`` (games, dashboards; else ``website``)."""
    return WEBGEN_CATEGORIES.get(str(application_type or "").strip(), "website")


def _webgen(r: dict[str, Any], source: str, kind: str | None, category: str | None) -> SourceRecord:
    instr = _text(r.get("instruction"))
    used = {"id", "instruction", "Category", "application_type", "ui_instruct"}
    meta = {
        "source_id": r.get("id"),
        "source_category": r.get("Category"),
        "application_type": r.get("application_type"),
        "ui_instruct": r.get("ui_instruct"),
        **_meta(r, used),
    }
    cat = normalize_category(category) if category else webgen_category(r.get("application_type"))
    return SourceRecord(instruction_id("html", instr), "html", cat, instr, source, meta)


def pandasplotbench_instruction(description: str, style: str, code_data: str) -> str:
    """The request text of a PandasPlotBench task: what to plot, how it should look, how the data loads."""
    parts = [description.strip()]
    if style.strip():
        parts.append(style.strip())
    if code_data.strip():
        parts.append(f"The data is in data.csv; load it with:\n```python\n{code_data.strip()}\n```")
    return "\n\n".join(parts)


def _plotbench(r: dict[str, Any], source: str, kind: str | None, category: str | None) -> SourceRecord:
    instr = pandasplotbench_instruction(
        _text(r.get("task__plot_description")), _text(r.get("task__plot_style")), _text(r.get("code_data"))
    )
    used = {
        "id",
        "code_plot",
        "code_data",
        "data_csv",
        "task__plot_description",
        "task__plot_style",
        "plots_gt",
    }
    meta = {"source_id": r.get("id"), "code_data": r.get("code_data"), **_meta(r, used)}
    return SourceRecord(
        instruction_id("plot", instr),
        "plot",
        normalize_category(category, "plot"),
        instr,
        source,
        meta,
        data_csv=_text(r.get("data_csv")) or None,
        code=_text(r.get("code_plot")) or None,
    )


def _websight(r: dict[str, Any], source: str, kind: str | None, category: str | None) -> SourceRecord:
    instr = _text(r.get("llm_generated_idea"))
    return SourceRecord(
        instruction_id("html", instr),
        "html",
        normalize_category(category or "website"),
        instr,
        source,
        _meta(r, {"text", "llm_generated_idea", "image"}),
        code=_text(r.get("text")) or None,
    )


def _generic(r: dict[str, Any], source: str, kind: str | None, category: str | None) -> SourceRecord:
    k = kind or _text(r.get("kind")) or "html"
    if k not in ("html", "plot"):
        raise AesdataError(f"Unknown kind {k!r} in {source}.", "Use kind html or plot.")
    instr = _text(r.get("instruction") or r.get("prompt"))
    code = _text(r.get("code") or r.get("html")) or None
    used = {"id", "instruction", "prompt", "kind", "category", "code", "html", "data_csv"}
    return SourceRecord(
        instruction_id(k, instr),
        k,
        normalize_category(category or r.get("category"), k),
        instr,
        source,
        {"source_id": r.get("id"), **_meta(r, used)},
        data_csv=_text(r.get("data_csv")) or None,
        code=code,
    )


_ADAPTERS: dict[str, Callable[[dict[str, Any], str, str | None, str | None], SourceRecord]] = {
    "opendesign": _opendesign,
    "webgen_bench": _webgen,
    "pandasplotbench": _plotbench,
    "websight": _websight,
    "generic": _generic,
}


def load_instructions(
    path: Path,
    fmt: str = "auto",
    *,
    kind: str | None = None,
    category: str | None = None,
    source: str | None = None,
) -> Iterator[SourceRecord]:
    """Yield one ``SourceRecord`` per record of ``path`` with a non-empty instruction.

    ``fmt``: one of ``FORMATS`` (``auto`` detects it from the first record); ``kind`` / ``category``
    override what the record says; ``source`` defaults to the file name.
    """
    if fmt not in FORMATS:
        raise AesdataError(f"Unknown instruction format {fmt!r}.", "Use one of " + ", ".join(FORMATS) + ".")
    name = source or path.name
    adapter = None if fmt == "auto" else _ADAPTERS[fmt]
    for record in read_records(path):
        if not isinstance(record, dict):
            raise AesdataError(
                f"{path} holds a {type(record).__name__} where a record (mapping) was expected."
            )
        if adapter is None:
            adapter = _ADAPTERS[detect_format(record)]
        row = adapter(record, name, kind, category)
        if row.instruction:
            yield row
