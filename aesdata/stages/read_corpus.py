"""``read_corpus``: the source stage for an existing candidate corpus (JSONL, Parquet or CSV).

Input: one or more files whose rows carry an instruction and candidate code, either inline
(``code`` column) or as a file next to the corpus (``code_file``, a path relative to the corpus
file). Optional columns: ``instruction_id``, ``kind`` (html | plot; else the config's ``kind``, else
guessed from the code), ``category``, ``source``, ``data_csv`` or ``data_file`` (CSV a plot script reads
as ``data.csv``). Column names can be mapped with ``columns: {instruction: prompt, code: html}``.
Every other column is kept as JSON in ``meta_json``.

Output: whole sample rows with a stable, content-derived ``id`` (sha256 of kind, instruction and
code; repeats of the same content get ``-2``, ``-3``... so no row is lost).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import Field

from aesdata.errors import AesdataError
from aesdata.stage import Stage, StageConfig, register

_KNOWN = {"instruction", "instruction_id", "kind", "category", "source", "code", "code_file", "data_csv", "data_file", "response"}


class ReadCorpusConfig(StageConfig):
    path: str | list[str] = Field(description="corpus file(s): .jsonl, .parquet or .csv, relative to the pipeline file")
    kind: Literal["html", "plot"] | None = Field(default=None, description="kind of every row when the corpus has no kind column")
    columns: dict[str, str] = Field(default_factory=dict, description="map of aesdata column -> corpus column name")
    source: str | None = Field(default=None, description="value of the source column (default: the file name)")


def content_id(kind: str, instruction: str, code: str) -> str:
    """Stable id of a candidate: sha256 over kind, instruction and code (16 hex digits)."""
    return hashlib.sha256("\x1f".join((kind, instruction, code)).encode()).hexdigest()[:16]


def guess_kind(code: str) -> str:
    """'html' when the code looks like markup, else 'plot'."""
    head = code.lstrip()[:200].lower()
    return "html" if head.startswith("<") or "<html" in head or "<body" in head or "<div" in head else "plot"


@register
class ReadCorpus(Stage):
    name = "read_corpus"
    summary = "Read candidates (instruction + code + metadata) from JSONL / Parquet / CSV files."
    mode = "source"
    Config = ReadCorpusConfig
    outputs = ("id", "instruction_id", "kind", "category", "instruction", "source", "meta_json", "data_csv",
               "gen_backend", "gen_model", "response", "code")
    config: ReadCorpusConfig

    def _paths(self) -> list[Path]:
        raw = [self.config.path] if isinstance(self.config.path, str) else self.config.path
        paths = []
        for p in raw:
            path = (self.context.spec_dir / p).resolve()
            if not path.is_file():
                raise AesdataError(f"Corpus file {path} does not exist.", "Check the 'path' of the read_corpus step.")
            paths.append(path)
        return paths

    def fingerprint_extra(self) -> dict[str, Any]:
        """The corpus files' content hashes: editing the corpus redoes the build."""
        out = {}
        for p in self._paths():
            out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        return out

    def read(self) -> Iterator[pa.Table]:
        seen: dict[str, int] = {}
        for path in self._paths():
            rows = _read_rows(path)
            yield pa.Table.from_pylist([self._row(path, n, r, seen) for n, r in enumerate(rows, 1)])

    def _row(self, path: Path, n: int, raw: dict[str, Any], seen: dict[str, int]) -> dict[str, Any]:
        rename = {v: k for k, v in self.config.columns.items()}
        row = {rename.get(k, k): v for k, v in raw.items()}
        where = f"{path.name} row {n}"
        instruction = row.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            raise _missing(path, where, "instruction", raw)
        code = row.get("code")
        if code is None and row.get("code_file"):
            code_path = (path.parent / str(row["code_file"])).resolve()
            code = _read_text(code_path, f"{where}: code_file")
        if not isinstance(code, str):
            raise _missing(path, where, "code (or code_file)", raw)
        data_csv = row.get("data_csv")
        if data_csv is None and row.get("data_file"):
            data_csv = _read_text((path.parent / str(row["data_file"])).resolve(), f"{where}: data_file")
        kind = row.get("kind") or self.config.kind or guess_kind(code)
        if kind not in ("html", "plot"):
            raise AesdataError(f"{where}: kind is {kind!r}; expected 'html' or 'plot'.", f"Fix the row in {path}.")
        rid = content_id(kind, instruction, code)
        seen[rid] = seen.get(rid, 0) + 1
        if seen[rid] > 1:
            rid = f"{rid}-{seen[rid]}"
        meta = {k: v for k, v in row.items() if k not in _KNOWN}
        return {
            "id": rid,
            "instruction_id": str(row.get("instruction_id") or hashlib.sha256(instruction.encode()).hexdigest()[:12]),
            "kind": kind,
            "category": row.get("category"),
            "instruction": instruction,
            "source": row.get("source") or self.config.source or path.name,
            "meta_json": json.dumps(meta, default=str, ensure_ascii=False) if meta else None,
            "data_csv": data_csv,
            "gen_backend": "corpus",
            "gen_model": None,
            "response": row.get("response"),
            "code": code,
        }


def _missing(path: Path, where: str, column: str, raw: dict[str, Any]) -> AesdataError:
    return AesdataError(
        f"Corpus {path}: {where} has no usable {column!r} value (columns found: {', '.join(raw) or 'none'}).",
        "Add the column, or map yours with `columns: {instruction: <your column>, code: <your column>}` in the read_corpus step.",
    )


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AesdataError(f"{what} {path} does not exist.") from None
    except UnicodeDecodeError as e:
        raise AesdataError(f"{what} {path} is not UTF-8 text (bad byte at offset {e.start}).", "Re-encode it as UTF-8.") from None


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL, Parquet or CSV file as dicts; ``AesdataError`` for unreadable input."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        text = _read_text(path, "Corpus file")
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise AesdataError(f"Corpus {path} line {n} is not valid JSON ({e.msg} at column {e.colno}).",
                                   "Each line must be one JSON object.") from None
            if not isinstance(obj, dict):
                raise AesdataError(f"Corpus {path} line {n} is a JSON {type(obj).__name__}, not an object.")
            rows.append(obj)
        return rows
    if suffix == ".parquet":
        try:
            return pq.read_table(path).to_pylist()
        except (OSError, pa.ArrowException) as e:
            raise AesdataError(f"Corpus {path} is not a readable Parquet file ({str(e).splitlines()[0]}).") from None
    if suffix in (".csv", ".tsv"):
        _read_text(path, "Corpus file")  # UTF-8 check with a clear message
        try:
            opts = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",", newlines_in_values=True)
            return pacsv.read_csv(path, parse_options=opts).to_pylist()
        except pa.ArrowException as e:
            raise AesdataError(f"Corpus {path} is not a readable CSV file ({str(e).splitlines()[0]}).") from None
    raise AesdataError(f"Corpus {path} has an unknown format {suffix!r}.", "Use .jsonl, .parquet or .csv.")
