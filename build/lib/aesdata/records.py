"""Read records (one dict per row) from the files users bring: JSONL/JSON, Parquet, CSV/TSV, HF folders.

One reader for every source stage (``read_corpus``, ``instructions``). Errors name the file and,
for JSONL, the line; non-UTF-8 text gets its own message. Parquet is streamed in batches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aesdata.errors import AesdataError

SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet", ".csv", ".tsv")


def read_text(path: Path, what: str = "File") -> str:
    """The UTF-8 text of ``path``; ``AesdataError`` when it is missing or not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AesdataError(f"{what} {path} does not exist.") from None
    except UnicodeDecodeError as e:
        raise AesdataError(
            f"{what} {path} is not UTF-8 text (bad byte at offset {e.start}).", "Re-encode it as UTF-8."
        ) from None
    except OSError as e:
        raise AesdataError(f"Cannot read {what.lower()} {path}: {e.strerror}.") from None


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a JSONL/JSON, Parquet or CSV/TSV file or a Hugging Face dataset folder.

    Raises ``AesdataError`` for a missing path, an unknown extension or an unreadable file.
    """
    if not path.exists():
        raise AesdataError(f"Input {path} does not exist.", "Check the path in the pipeline file.")
    if path.is_dir():
        yield from _read_hf_folder(path)
        return
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        for n, line in enumerate(read_text(path, "Input file").splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise AesdataError(
                    f"{path} line {n} is not valid JSON ({e.msg} at column {e.colno}).",
                    "Each line of a .jsonl file must be one JSON object.",
                ) from None
            if not isinstance(obj, dict):
                raise AesdataError(f"{path} line {n} is a JSON {type(obj).__name__}, not an object.")
            yield obj
    elif suffix == ".json":
        try:
            data = json.loads(read_text(path, "Input file"))
        except ValueError as e:
            raise AesdataError(f"{path} is not valid JSON ({e}).") from None
        yield from (data if isinstance(data, list) else data.get("data", [data]))
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
                yield from batch.to_pylist()
        except (OSError, pa.ArrowException) as e:
            raise AesdataError(f"{path} is not a readable Parquet file ({str(e).splitlines()[0]}).") from None
    elif suffix in (".csv", ".tsv"):
        import io

        import pandas as pd

        try:
            frame = pd.read_csv(
                io.StringIO(read_text(path, "Input file")),
                sep="\t" if suffix == ".tsv" else ",",
                dtype=str,
                keep_default_na=False,
            )
        except (ValueError, pd.errors.ParserError) as e:
            raise AesdataError(f"{path} is not a readable CSV file ({str(e).splitlines()[0]}).") from None
        yield from frame.to_dict(orient="records")
    else:
        raise AesdataError(
            f"Cannot read {path}: unknown file type {suffix!r}.",
            "Use .jsonl, .json, .parquet, .csv or a Hugging Face dataset folder.",
        )


def _read_hf_folder(path: Path) -> Iterator[dict[str, Any]]:
    """A ``save_to_disk`` folder (every split, in order) or a data folder ``load_dataset`` understands."""
    import datasets

    try:
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            ds = datasets.load_from_disk(str(path))
        else:
            ds = datasets.load_dataset(str(path))
    except (OSError, ValueError, FileNotFoundError) as e:
        raise AesdataError(
            f"{path} is not a Hugging Face dataset folder ({str(e).splitlines()[0]})."
        ) from None
    splits = ds.values() if isinstance(ds, datasets.DatasetDict) else [ds]
    for split in splits:
        images = [name for name, feat in split.features.items() if isinstance(feat, datasets.Image)]
        yield from split.remove_columns(images)
