"""``export``: write the run's selected rows as a Hugging Face dataset folder.

Output folder (default ``<run>/dataset``)::

    data/train-00000-of-00002.parquet   rows per split, with HF features metadata (screenshots decode as Image)
    data/test-00000-of-00001.parquet
    images/score_histograms.png         score distributions (all rows vs exported rows), shown in the card
    README.md                           dataset card (``aesdata.dataset_card``): Hub YAML header, counts,
                                        scores, the selection funnel, judges, versions, the pipeline spec

Splits follow the Hub's file-name convention (``data/<split>-NNNNN-of-MMMMM.parquet``), which the Hub and
``datasets`` both detect, so the card declares no ``configs``: with ``configs`` in the card,
``datasets`` 5.2 keys its cache of a local folder on the card alone and a re-export (a changed
threshold) would load the previous rows from the cache (measured; no configs: the cache follows the files).

Rows: those with ``selected`` true when a selection step ran, else every row with code; the
``split`` column (from selection) picks the file, ``train`` when there is none. Columns: identity,
code, scores and provenance columns present in the run, the screenshot as an ``Image`` feature, and
conversational ``prompt`` / ``completion`` / ``messages`` columns that TRL's trainers read directly.
Rows are streamed shard by shard, so memory holds at most ``rows_per_shard`` rows per split.
``datasets.load_dataset(<folder>)`` loads it with one split per ``data/<split>-*`` group.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from aesdata.dataset_card import card_markdown, score_histograms
from aesdata.rundir import atomic_write_bytes
from aesdata.stage import ShardReader, Stage, StageConfig, register

EXPORT_COLUMNS = (
    "instruction_id",
    "kind",
    "category",
    "instruction",
    "source",
    "code",
    "data_csv",
    "gen_backend",
    "gen_model",
    "gen_params_json",
    "gen_candidate_index",
    "render_status",
    "screenshot",
    "screenshot_width",
    "screenshot_height",
    "exec_pass",
    "exec_score",
    "exec_findings_json",
    "static_score",
    "static_subscores_json",
    "static_findings_json",
    "static_rationale",
    "static_judge",
    "rubric_version",
    "vlm_score",
    "vlm_subscores_json",
    "vlm_rationale",
    "vlm_judge",
    "interactive_score",
    "interactive_max",
    "reward",
    "reward_json",
    "cluster_id",
    "cluster_size",
    "dup_signals",
    "split",
)
#: score columns summarised in the card (histograms, means)
SCORES = ("static_score", "vlm_score", "interactive_score", "reward")
_CHAT = ("prompt", "completion", "messages")
_MSG = pa.struct([("role", pa.string()), ("content", pa.string())])


class ExportConfig(StageConfig):
    out: str | None = Field(default=None, description="dataset folder (default: <run>/dataset)")
    rows_per_shard: int = Field(default=1000, gt=0, description="rows per data/<split>-*.parquet file")
    include_screenshots: bool = Field(default=True, description="store the screenshot PNG as an Image column")
    license: str = Field(
        default="other", description="license id for the card (e.g. apache-2.0, cc-by-4.0, other)"
    )
    pretty_name: str | None = Field(
        default=None, description="dataset title in the card (default: the pipeline name)"
    )


def fence(kind: str, code: str) -> str:
    """The assistant reply for ``code``: one fenced block (html or python), as the generator prompts ask."""
    return f"```{'html' if kind == 'html' else 'python'}\n{code.rstrip()}\n```"


def chat_columns(table: pa.Table) -> dict[str, pa.Array]:
    """Conversational ``prompt`` / ``completion`` / ``messages`` arrays from ``instruction``, ``kind``, ``code``."""
    kinds, instr, code = (table.column(c).to_pylist() for c in ("kind", "instruction", "code"))
    prompt = [[{"role": "user", "content": i}] for i in instr]
    completion = [[{"role": "assistant", "content": fence(k, c)}] for k, c in zip(kinds, code, strict=True)]
    return {
        "prompt": pa.array(prompt, pa.list_(_MSG)),
        "completion": pa.array(completion, pa.list_(_MSG)),
        "messages": pa.array([p + c for p, c in zip(prompt, completion, strict=True)], pa.list_(_MSG)),
    }


def features_metadata(schema: pa.Schema) -> bytes:
    """HF ``datasets`` features for ``schema`` (screenshots as Image) as Parquet schema metadata."""
    from datasets import Features, Image

    feats = Features.from_arrow_schema(schema)
    if "screenshot" in feats:
        feats["screenshot"] = Image()
    return json.dumps({"info": {"features": feats.to_dict()}}).encode()


class _SplitWriter:
    """Writes one split's rows into ``data/<split>-NNNNN.parquet`` files of at most ``rows`` rows."""

    def __init__(self, folder: Path, split: str, rows: int) -> None:
        self.folder, self.split, self.rows = folder, split, rows
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.files: list[Path] = []

    def add(self, table: pa.Table, meta: dict[bytes, bytes]) -> None:
        self.buffer.append(table)
        self.buffered += table.num_rows
        while self.buffered >= self.rows:
            self._flush(meta, self.rows)

    def _flush(self, meta: dict[bytes, bytes], n: int) -> None:
        data = pa.concat_tables(self.buffer)
        part, rest = data.slice(0, n), data.slice(n)
        path = self.folder / f"{self.split}-{len(self.files):05d}.parquet"
        pq.write_table(part.replace_schema_metadata(meta), path, compression="zstd")
        self.files.append(path)
        self.buffer, self.buffered = ([rest] if rest.num_rows else []), rest.num_rows

    def close(self, meta: dict[bytes, bytes], empty: pa.Table) -> list[str]:
        """Write what is left and rename files to ``<split>-NNNNN-of-MMMMM.parquet``; return their names."""
        if self.buffered or not self.files:
            if not self.buffer:
                self.buffer = [empty]
            self._flush(meta, max(self.buffered, 1))
        names = []
        for k, path in enumerate(self.files):
            final = path.with_name(f"{self.split}-{k:05d}-of-{len(self.files):05d}.parquet")
            path.rename(final)
            names.append(final.name)
        return names


@register
class Export(Stage):
    name = "export"
    summary = (
        "Write selected rows as a Hugging Face dataset folder (data/<split>-*.parquet, histograms, card)."
    )
    mode = "global"
    Config = ExportConfig
    requires = ("instruction", "code", "kind")
    uses = tuple(c for c in EXPORT_COLUMNS if c not in ("instruction", "code", "kind")) + ("selected",)
    config: ExportConfig

    @property
    def out_dir(self) -> Path:
        return (
            (self.context.spec_dir / self.config.out).resolve()
            if self.config.out
            else self.context.rundir.dataset_path
        )

    def run_global(self, shards: ShardReader) -> pa.Table:
        tmp = self.out_dir.with_name(f".{self.out_dir.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "data").mkdir(parents=True)
        writers: dict[str, _SplitWriter] = {}
        stats: list[pa.Table] = []
        ids: list[pa.ChunkedArray] = []
        meta: dict[bytes, bytes] | None = None
        empty: pa.Table | None = None
        for table in shards:
            ids.append(table.column("id"))
            keep = pc.is_valid(table.column("code"))
            if "selected" in table.column_names:
                keep = pc.and_(keep, pc.fill_null(table.column("selected"), False))
            stats.append(self._stats(table, keep))
            shaped = self._shape(table.filter(keep))
            if meta is None:
                meta = {b"huggingface": features_metadata(shaped.schema)}
                empty = shaped.slice(0, 0)
            splits = (
                shaped.column("split").to_pylist()
                if "split" in shaped.column_names
                else ["train"] * shaped.num_rows
            )
            for name in dict.fromkeys(splits):
                part = (
                    shaped.filter(pa.array([s == name for s in splits])) if len(set(splits)) > 1 else shaped
                )
                writers.setdefault(name, _SplitWriter(tmp / "data", name, self.config.rows_per_shard)).add(
                    part, meta
                )
        assert meta is not None and empty is not None, "a run always has at least one shard"
        if not writers:
            writers["train"] = _SplitWriter(tmp / "data", "train", self.config.rows_per_shard)
        files = {
            name: w.close(meta, empty)
            for name, w in sorted(writers.items(), key=lambda kv: (kv[0] != "train", kv[0]))
        }
        summary = pa.concat_tables(stats)
        images = score_histograms(summary, tmp / "images", SCORES)
        atomic_write_bytes(tmp / "README.md", self.card(summary, files, images).encode())
        if self.out_dir.exists():
            shutil.rmtree(self.out_dir)
        tmp.rename(self.out_dir)
        return pa.table({"id": pa.concat_arrays([c.combine_chunks() for c in ids])})

    def _shape(self, table: pa.Table) -> pa.Table:
        cols = ["id"] + [c for c in EXPORT_COLUMNS if c in table.column_names]
        if not self.config.include_screenshots and "screenshot" in cols:
            cols.remove("screenshot")
        out = table.select(cols)
        for name, arr in chat_columns(table).items():
            out = out.append_column(name, arr)
        return out

    @staticmethod
    def _stats(table: pa.Table, keep: pa.Array) -> pa.Table:
        """The light columns the card summarises (no code, no images), with ``exported`` marking kept rows."""
        cols = [
            c
            for c in ("kind", "category", "split", "static_judge", "rubric_version", "vlm_judge", *SCORES)
            if c in table.column_names
        ]
        return table.select(cols).append_column("exported", keep)

    # ------------------------------------------------------------------ the card
    def card(self, stats: pa.Table, files: dict[str, list[str]], images: list[str]) -> str:
        """The dataset card (README.md) of this export (see ``aesdata.dataset_card``)."""
        return card_markdown(
            stats,
            files,
            images,
            self.context.rundir.manifest_or_empty(),
            fallback_name=self.context.run_dir.name,
            pretty_name=self.config.pretty_name,
            license=self.config.license,
            columns=("id", *EXPORT_COLUMNS),
            scores=SCORES,
        )

    def summarize(self, run_dir: Path) -> dict[str, Any]:
        files = sorted(str(p.relative_to(self.out_dir)) for p in (self.out_dir / "data").glob("*.parquet"))
        splits: dict[str, int] = {}
        for f in files:
            split = Path(f).name.rsplit("-", 3)[0]
            splits[split] = splits.get(split, 0) + pq.ParquetFile(self.out_dir / f).metadata.num_rows
        return {"dataset": str(self.out_dir), "rows": sum(splits.values()), "splits": splits, "files": files}
