"""Training rows: load a recipe's dataset (export folder, data file or Hub repo), pick its split, fingerprint it.

Inputs: a ``DatasetSpec`` (path, split, revision, column mapping, kinds, limit). Output: a
``TrainData`` with the ``datasets.Dataset`` of rows and the revision that identifies them (sha256
over the data files of a local dataset, the commit sha of a Hub dataset).

Splits: a split is either a file split (``data/test-*.parquet``) or, when rows carry the ``split``
column that aesdata's select stage writes, the rows whose ``split`` has that value. Both are honoured,
so SFT on ``train`` never sees rows assigned to ``test`` even when every row sits in one file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aesdata.errors import AesdataError
from aesdata.train.recipe import DatasetSpec

_BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".ndjson": "json", ".csv": "csv"}
_DATA_SUFFIXES = tuple(_BUILDERS) + (".arrow",)


@dataclass
class TrainData:
    """Rows for a trainer plus where they came from: ``source``, ``split`` and ``revision`` (JSON-able)."""

    dataset: Any  # datasets.Dataset
    source: str
    split: str
    revision: dict[str, Any] = field(default_factory=dict)


def folder_revision(path: Path) -> dict[str, Any]:
    """sha256 over the relative names and bytes of the data files under ``path`` (or of one file)."""
    files = (
        [path]
        if path.is_file()
        else sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix in _DATA_SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
    )
    digest = hashlib.sha256()
    for f in files:
        h = hashlib.sha256()
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digest.update(f"{f.name if path.is_file() else f.relative_to(path)}\0{h.hexdigest()}\n".encode())
    return {"type": "local", "path": str(path), "sha256": digest.hexdigest(), "files": len(files)}


def hub_revision(repo_id: str, revision: str | None) -> dict[str, Any]:
    """The commit sha a Hub dataset ``revision`` resolves to (``sha`` None when the Hub cannot be asked)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        sha = HfApi().dataset_info(repo_id, revision=revision).sha
    except (HfHubHTTPError, OfflineModeIsEnabled, OSError) as e:
        return {
            "type": "hub",
            "repo_id": repo_id,
            "revision": revision,
            "sha": None,
            "error": str(e).splitlines()[0],
        }
    return {"type": "hub", "repo_id": repo_id, "revision": revision, "sha": sha}


def _load_all(source: str, revision: str | None) -> tuple[Any, dict[str, Any]]:
    """A ``DatasetDict`` of every split of ``source`` and its revision."""
    import datasets

    path = Path(source)
    try:
        if path.is_file():
            builder = _BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise AesdataError(
                    f"Dataset file {path} has an unknown format {path.suffix!r}.",
                    "Use .parquet, .jsonl or .csv.",
                )
            return datasets.load_dataset(builder, data_files=str(path)), folder_revision(path)
        if path.is_dir():
            return datasets.load_dataset(str(path)), folder_revision(path)
        if path.is_absolute() or source.startswith("."):
            raise AesdataError(
                f"Dataset {source} does not exist.",
                "Pass an export folder (e.g. runs/demo/dataset), a data file, or a Hub repo id owner/name.",
            )
        rev = hub_revision(source, revision)
        return datasets.load_dataset(source, revision=rev["sha"] or revision), rev
    except AesdataError:
        raise
    except (FileNotFoundError, ValueError, OSError, datasets.exceptions.DatasetNotFoundError) as e:
        raise AesdataError(
            f"Cannot load dataset {source}: {str(e).splitlines()[0] if str(e) else type(e).__name__}.",
            "Check the path or repo id; Hub datasets need network access (HF_HUB_OFFLINE unset).",
        ) from None


def _pick_split(all_splits: Any, split: str, source: str) -> Any:
    """The rows of ``split``: the file split of that name and/or rows whose ``split`` column has that value."""
    names = list(all_splits)
    ds = all_splits[split] if split in all_splits else (all_splits[names[0]] if len(names) == 1 else None)
    if ds is None:
        raise AesdataError(
            f"Dataset {source} has no split {split!r} (splits: {', '.join(names)}).",
            "Set dataset.split to one of them.",
        )
    if "split" in ds.column_names:
        values = set(ds.unique("split")) - {None}
        if values:
            if split not in values:
                raise AesdataError(
                    f"Dataset {source} has no rows of split {split!r} (its rows' splits: "
                    f"{', '.join(sorted(values))}).",
                    "Set dataset.split to one of them.",
                )
            return ds.filter(lambda s: s == split, input_columns="split")
    if split not in all_splits:
        raise AesdataError(
            f"Dataset {source} has no split {split!r}: its only split is {names[0]!r} and its rows "
            "carry no `split` column.",
            f"Set dataset.split: {names[0]}, or run the select stage with "
            "`splits:` to hold instructions out.",
        )
    return ds


def load_train_data(spec: DatasetSpec) -> TrainData:
    """Load ``spec``'s rows: map columns, pick the split, keep ``kinds``, cut to ``limit``."""
    all_splits, revision = _load_all(spec.path, spec.revision)
    rename = {theirs: ours for ours, theirs in spec.columns.items()}
    for split_name in list(all_splits):
        cols = all_splits[split_name].column_names
        missing = [c for c in rename if c not in cols]
        if missing:
            raise AesdataError(
                f"dataset.columns maps column(s) {', '.join(missing)} that {spec.path} does not have "
                f"(columns: {', '.join(cols)}).",
                "Fix dataset.columns in the recipe.",
            )
        clash = [ours for theirs, ours in rename.items() if ours in cols and ours != theirs]
        all_splits[split_name] = all_splits[split_name].remove_columns(clash).rename_columns(rename)
    ds = _pick_split(all_splits, spec.split, spec.path)
    if spec.kinds:
        if "kind" in ds.column_names:
            ds = ds.filter(lambda k: k in spec.kinds, input_columns="kind")
        elif len(spec.kinds) == 1:
            ds = ds.add_column("kind", [spec.kinds[0]] * len(ds))
    if spec.limit:
        ds = ds.select(range(min(spec.limit, len(ds))))
    if len(ds) == 0:
        raise AesdataError(
            f"Dataset {spec.path} split {spec.split!r} has no rows"
            f"{' of kinds ' + ', '.join(spec.kinds) if spec.kinds else ''}.",
            "Check dataset.split and dataset.kinds.",
        )
    return TrainData(ds, spec.path, spec.split, revision)


def instruction_texts(ds: Any) -> list[str]:
    """One instruction per row: the ``instruction`` column, else the last user message of ``prompt`` (or ``messages``)."""
    if "instruction" in ds.column_names:
        return [str(x) for x in ds["instruction"]]
    col = "prompt" if "prompt" in ds.column_names else "messages" if "messages" in ds.column_names else None
    if col is None:
        raise AesdataError(
            f"Rows have neither an instruction nor a prompt column (columns: {', '.join(ds.column_names)}).",
            "Map yours with dataset.columns: {instruction: <your column>}.",
        )
    out = []
    for value in ds[col]:
        if isinstance(value, str):
            out.append(value)
        else:
            users = [m["content"] for m in value if m.get("role") == "user"]
            out.append(str(users[-1] if users else ""))
    return out


def normalise(text: str) -> str:
    """Instruction text compared for overlap: whitespace collapsed, case folded."""
    return " ".join(text.split()).casefold()
