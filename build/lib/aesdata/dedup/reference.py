"""Reference sets for dedup: rows of code (and optional screenshots) that run rows must not repeat.

A reference file is Parquet or JSONL with a ``code`` column; optional ``id``, ``kind`` (html | plot) and ``screenshot`` (Parquet: PNG bytes or an HF image struct ``{bytes, path}``; JSONL: a
PNG path relative to the file). Files are read in batches, never whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from aesdata.errors import AesdataError

_BATCH = 256


@dataclass
class ReferenceBatch:
    """One batch of reference rows: ids (``ref:<file stem>:<id or row number>``), kinds (None when the
    file has none), codes, PNGs."""

    ids: list[str]
    kinds: list[str | None]
    codes: list[str]
    screenshots: list[bytes | None]


def _png(value: object, base: Path) -> bytes | None:
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    if isinstance(value, bytes):
        return value
    if isinstance(value, str) and value:
        path = (base / value).resolve()
        if not path.is_file():
            raise AesdataError(
                f"Reference screenshot {path} does not exist.", "Fix the path or drop the screenshot field."
            )
        return path.read_bytes()
    return None


def _batch(path: Path, start: int, rows: list[dict]) -> ReferenceBatch:
    out = ReferenceBatch([], [], [], [])
    for n, row in enumerate(rows, start):
        code = row.get("code")
        if not isinstance(code, str):
            raise AesdataError(
                f"Reference file {path}, row {n + 1}: no 'code' text (columns: {', '.join(row) or 'none'}).",
                "A reference set needs a 'code' column (optional: id, kind, screenshot).",
            )
        out.ids.append(f"ref:{path.stem}:{row.get('id') if row.get('id') is not None else n + 1}")
        out.kinds.append(row.get("kind"))
        out.codes.append(code)
        out.screenshots.append(_png(row.get("screenshot"), path.parent))
    return out


def read_reference(path: Path) -> Iterator[ReferenceBatch]:
    """Yield the rows of one reference file in batches; raise ``AesdataError`` for a bad file."""
    if not path.is_file():
        raise AesdataError(
            f"Reference set {path} does not exist.", "Check the 'reference' paths of the dedup step."
        )
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        start = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH):
            rows = batch.to_pylist()
            yield _batch(path, start, rows)
            start += len(rows)
    elif suffix in (".jsonl", ".json"):
        rows: list[dict] = []
        start = 0
        with path.open(encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise AesdataError(
                        f"Reference file {path}, line {line_no}: not JSON ({e.msg})."
                    ) from None
                if len(rows) == _BATCH:
                    yield _batch(path, start, rows)
                    start, rows = start + len(rows), []
        if rows:
            yield _batch(path, start, rows)
    else:
        raise AesdataError(
            f"Reference set {path} is neither .parquet nor .jsonl.", "Convert it to Parquet or JSONL."
        )
