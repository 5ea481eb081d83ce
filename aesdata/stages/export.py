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
It runs as tasks (``run_tasks``): one per input shard, one per data file, one for the card, so no
process holds more than a shard's or a file's rows; the driver only lays out the files from row counts.
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
from aesdata.stage import GlobalJob, Stage, StageConfig, Tasks, register

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


def _piece_path(work: Path, i: int, split: str) -> Path:
    return work / f"shard-{i:05d}-{split}.parquet"


def _export_shard(stage: Export, job: GlobalJob, i: int, work: Path) -> dict[str, Any]:
    """Task: shape shard ``i``'s exported rows into one piece per split, its card statistics into a stats
    file, and write the step's output shard (ids); return rows per split."""
    table = job.read(i)
    keep = pc.is_valid(table.column("code"))
    if "selected" in table.column_names:
        keep = pc.and_(keep, pc.fill_null(table.column("selected"), False))
    shaped = stage.shape(table.filter(keep))
    meta = {b"huggingface": features_metadata(shaped.schema)}
    shaped = shaped.replace_schema_metadata(meta)
    if i == 0:
        pq.write_table(shaped.slice(0, 0), work / "empty.parquet")
    pq.write_table(Export.stats(table, keep), work / f"stats-{i:05d}.parquet")
    splits = (
        shaped.column("split").to_pylist() if "split" in shaped.column_names else ["train"] * shaped.num_rows
    )
    counts: dict[str, int] = {}
    for name in dict.fromkeys(splits):
        part = shaped.filter(pa.array([s == name for s in splits])) if len(set(splits)) > 1 else shaped
        pq.write_table(part, _piece_path(work, i, name))
        counts[name] = part.num_rows
    job.write(stage, i, table.select(["id"]))
    return counts


def _write_file(pieces: list[tuple[Path, int, int]], path: Path) -> int:
    """Task: one data file from slices ``(piece, offset, rows)`` of the pieces, in order."""
    parts = [pq.read_table(p).slice(offset, n) for p, offset, n in pieces]
    data = pa.concat_tables(parts)
    meta = {b"huggingface": (data.schema.metadata or {})[b"huggingface"]}
    pq.write_table(data.replace_schema_metadata(meta), path, compression="zstd")
    return data.num_rows


def _layout(
    counts: list[dict[str, int]], rows: int, work: Path, data: Path
) -> dict[str, list[tuple[Path, list]]]:
    """Each split's files (``<split>-NNNNN-of-MMMMM.parquet``, at most ``rows`` rows, filled in shard
    order) as ``{split: [(path, [(piece, offset, rows), ...])]}``; ``train`` first, then by name."""
    names = sorted({s for c in counts for s in c}, key=lambda s: (s != "train", s))
    out: dict[str, list[tuple[Path, list]]] = {}
    for split in names:
        total = sum(c.get(split, 0) for c in counts)
        n_files = max(1, -(-total // rows))
        files: list[list[tuple[Path, int, int]]] = [[] for _ in range(n_files)]
        at = 0
        for i, c in enumerate(counts):
            left, offset = c.get(split, 0), 0
            while left:
                k = at // rows
                take = min(left, rows - at % rows)
                files[k].append((_piece_path(work, i, split), offset, take))
                at, offset, left = at + take, offset + take, left - take
        out[split] = [(data / f"{split}-{k:05d}-of-{n_files:05d}.parquet", f) for k, f in enumerate(files)]
    if not out:
        out["train"] = [(data / "train-00000-of-00001.parquet", [(work / "empty.parquet", 0, 0)])]
    return out


def _write_card(stage: Export, n_shards: int, files: dict[str, list[str]], work: Path, tmp: Path) -> None:
    """Task: the score histograms and the card from the shards' statistics files."""
    stats = pa.concat_tables([pq.read_table(work / f"stats-{i:05d}.parquet") for i in range(n_shards)])
    images = score_histograms(stats, tmp / "images", SCORES)
    atomic_write_bytes(tmp / "README.md", stage.card(stats, files, images).encode())


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

    def run_tasks(self, job: GlobalJob, tasks: Tasks) -> None:
        """Export as tasks: one per input shard (shape its rows, one piece per split, write its ids), one per
        data file (slices of the pieces, in shard order, so the files are those of one sequential pass),
        one for the card; then the folder replaces the previous export."""
        tmp = self.out_dir.with_name(f".{self.out_dir.name}.tmp")
        work = job.work_dir
        for folder in (tmp, work):
            shutil.rmtree(folder, ignore_errors=True)
        (tmp / "data").mkdir(parents=True)
        work.mkdir(parents=True)
        counts = tasks.map(
            _export_shard, [(self, job, i, work) for i in range(job.n_shards)], name="shards", memory_gb=1.0
        )
        layout = _layout(counts, self.config.rows_per_shard, work, tmp / "data")
        files = [(pieces, path) for split in layout.values() for path, pieces in split]
        tasks.map(_write_file, files, name="files", memory_gb=1.0)
        names = {split: [path.name for path, _ in fs] for split, fs in layout.items()}
        tasks.map(_write_card, [(self, job.n_shards, names, work, tmp)], name="card", memory_gb=1.0)
        if self.out_dir.exists():
            shutil.rmtree(self.out_dir)
        tmp.rename(self.out_dir)
        shutil.rmtree(work, ignore_errors=True)

    def shape(self, table: pa.Table) -> pa.Table:
        """Exported rows' columns: id, the export columns present, chat columns."""
        cols = ["id"] + [c for c in EXPORT_COLUMNS if c in table.column_names]
        if not self.config.include_screenshots and "screenshot" in cols:
            cols.remove("screenshot")
        out = table.select(cols)
        for name, arr in chat_columns(table).items():
            out = out.append_column(name, arr)
        return out

    @staticmethod
    def stats(table: pa.Table, keep: pa.Array) -> pa.Table:
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
