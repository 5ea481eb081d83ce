"""``read_corpus``: the source stage for an existing candidate corpus (JSONL, Parquet or CSV).

Input: one or more files (or Hugging Face dataset folders) whose rows carry an instruction and candidate code, either inline
(``code`` column) or as a file next to the corpus (``code_file``, a path relative to the corpus
file). Optional columns: ``instruction_id``, ``kind`` (html | plot; else the config's ``kind``, else
guessed from the code), ``category``, ``source``, ``data_csv`` or ``data_file`` (CSV a plot script reads
as ``data.csv``). Column names can be mapped with ``columns: {instruction: prompt, code: html}``.
Every other column, and ``code_file`` / ``data_file`` for provenance, is kept as JSON in ``meta_json``.

Multi-file pages: ``code_file`` may name a folder (its ``index.html`` is the page), or a row may add
``files_root`` (a folder relative to the corpus file, e.g. the page's own folder); the folder's css,
js and images are then served to the page at its origin, as a static server would
(``meta_json.files_root``, an absolute path, read by the render stage).

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
from pydantic import Field

from aesdata.errors import AesdataError
from aesdata.generate.adapters import instruction_id
from aesdata.ids import content_id, guess_kind
from aesdata.records import read_records, read_text
from aesdata.schema import COLUMN_GROUPS
from aesdata.stage import Stage, StageConfig, register

_KNOWN = {
    "instruction",
    "instruction_id",
    "kind",
    "category",
    "source",
    "code",
    "code_file",
    "data_csv",
    "data_file",
    "response",
}


class ReadCorpusConfig(StageConfig):
    path: str | list[str] = Field(
        description="corpus file(s) (.jsonl, .json, .parquet, .csv) or HF dataset folders, relative to the pipeline file"
    )
    kind: Literal["html", "plot"] | None = Field(
        default=None, description="kind of every row when the corpus has no kind column"
    )
    columns: dict[str, str] = Field(
        default_factory=dict, description="map of aesdata column -> corpus column name"
    )
    source: str | None = Field(
        default=None, description="value of the source column (default: the file name)"
    )


@register
class ReadCorpus(Stage):
    name = "read_corpus"
    summary = "Read candidates (instruction + code + metadata) from JSONL / Parquet / CSV files."
    mode = "source"
    Config = ReadCorpusConfig
    outputs = (
        *COLUMN_GROUPS["identity"],
        "gen_backend",
        "gen_model",
        "response",
        "code",
    )
    config: ReadCorpusConfig

    def _paths(self) -> list[Path]:
        raw = [self.config.path] if isinstance(self.config.path, str) else self.config.path
        paths = []
        for p in raw:
            path = (self.context.spec_dir / p).resolve()
            if not path.exists():
                raise AesdataError(
                    f"Corpus file {path} does not exist.", "Check the 'path' of the read_corpus step."
                )
            paths.append(path)
        return paths

    def fingerprint_extra(self) -> dict[str, Any]:
        """Content hashes of the corpus and of every file its rows point to: editing any of them redoes the build."""
        out = {}
        for p in self._paths():
            h = hashlib.sha256()
            if p.is_dir():
                for f in sorted(x for x in p.rglob("*") if x.is_file()):
                    h.update(f"{f.relative_to(p)}\0{f.stat().st_size}\0{f.stat().st_mtime_ns}\0".encode())
            else:
                h.update(p.read_bytes())
                for row in read_records(p):
                    for key in ("code_file", "data_file"):
                        ref = row.get(self.config.columns.get(key, key))
                        if ref and (p.parent / str(ref)).is_file():
                            h.update((p.parent / str(ref)).read_bytes())
            out[str(p)] = h.hexdigest()[:16]
        return out

    def read(self) -> Iterator[pa.Table]:
        seen: dict[str, int] = {}
        for path in self._paths():
            rows = list(read_records(path))
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
            if code_path.is_dir():  # a multi-file page: its folder, served as the page's origin
                row.setdefault("files_root", str(code_path))
                code_path = code_path / "index.html"
            code = read_text(code_path, f"{where}: code_file")
        if row.get("files_root"):
            row["files_root"] = str((path.parent / str(row["files_root"])).resolve())
        if not isinstance(code, str):
            raise _missing(path, where, "code (or code_file)", raw)
        data_csv = row.get("data_csv")
        if data_csv is None and row.get("data_file"):
            data_csv = read_text((path.parent / str(row["data_file"])).resolve(), f"{where}: data_file")
        kind = row.get("kind") or self.config.kind or guess_kind(code)
        if kind not in ("html", "plot"):
            raise AesdataError(
                f"{where}: kind is {kind!r}; expected 'html' or 'plot'.", f"Fix the row in {path}."
            )
        rid = content_id(kind, instruction, code)
        seen[rid] = seen.get(rid, 0) + 1
        if seen[rid] > 1:
            rid = f"{rid}-{seen[rid]}"
        meta = {k: v for k, v in row.items() if k not in _KNOWN or k in ("code_file", "data_file")}
        return {
            "id": rid,
            "instruction_id": str(row.get("instruction_id") or instruction_id(kind, instruction)),
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
