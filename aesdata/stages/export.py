"""``export``: write the run's selected rows as a Hugging Face dataset folder.

Output folder (default ``<run>/dataset``)::

    data/train-00000-of-00002.parquet   rows with HF features metadata (screenshots decode as Image)
    README.md                           dataset card: YAML header the Hub reads, counts, provenance

Rows: those with ``selected`` true when a selection step ran, else every row. Columns: the
identity, code and score columns present in the run, the screenshot as an ``Image`` feature, and
conversational ``prompt`` / ``completion`` / ``messages`` columns that TRL's trainers read directly.
``datasets.load_dataset(<folder>)`` loads it.
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

from aesdata.rundir import atomic_write_bytes
from aesdata.schema import SAMPLE_SCHEMA, SCHEMA_VERSION
from aesdata.stage import ShardReader, Stage, StageConfig, register

EXPORT_COLUMNS = (
    "instruction_id", "kind", "category", "instruction", "source", "code", "data_csv",
    "gen_backend", "gen_model", "render_status", "screenshot", "exec_pass", "exec_score", "static_score",
    "static_subscores_json", "static_findings_json", "static_judge", "rubric_version", "vlm_score", "vlm_judge",
    "interactive_score", "reward", "cluster_id", "cluster_size", "split",
)


class ExportConfig(StageConfig):
    out: str | None = Field(default=None, description="dataset folder (default: <run>/dataset)")
    rows_per_shard: int = Field(default=2000, gt=0, description="rows per data/*.parquet file")
    include_screenshots: bool = Field(default=True, description="store the screenshot PNG as an Image column")


def _fence(kind: str, code: str) -> str:
    return f"```{'html' if kind == 'html' else 'python'}\n{code.rstrip()}\n```"


def _features_metadata(schema: pa.Schema) -> bytes:
    """HF ``datasets`` features for ``schema`` (screenshots as Image) as parquet schema metadata."""
    from datasets import Features, Image

    feats = Features.from_arrow_schema(schema)
    for name in ("screenshot",):
        if name in feats:
            feats[name] = Image()
    return json.dumps({"info": {"features": feats.to_dict()}}).encode()


@register
class Export(Stage):
    name = "export"
    summary = "Write selected rows as a Hugging Face dataset folder (data/train-*.parquet + card)."
    mode = "global"
    Config = ExportConfig
    requires = ("instruction", "code", "kind")
    uses = tuple(c for c in EXPORT_COLUMNS if c not in ("instruction", "code", "kind")) + ("selected",)
    config: ExportConfig

    @property
    def out_dir(self) -> Path:
        return (self.context.spec_dir / self.config.out).resolve() if self.config.out else self.context.run_dir / "dataset"

    def run_global(self, shards: ShardReader) -> pa.Table:
        tmp = self.out_dir.with_name(f".{self.out_dir.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "data").mkdir(parents=True)
        kept: list[pa.Table] = []
        all_ids: list[pa.Array] = []
        for table in shards:
            all_ids.append(table.column("id"))
            if "selected" in table.column_names:
                table = table.filter(pc.fill_null(table.column("selected"), False))
            if table.num_rows:
                kept.append(self._shape(table))
        data = pa.concat_tables(kept) if kept else self._shape(pa.table({c: pa.array([], SAMPLE_SCHEMA.field(c).type) for c in ("id", *self.requires)}))
        n_files = max(1, -(-data.num_rows // self.config.rows_per_shard))
        meta = {b"huggingface": _features_metadata(data.schema)}
        for k in range(n_files):
            part = data.slice(k * self.config.rows_per_shard, self.config.rows_per_shard)
            part = part.replace_schema_metadata(meta)
            pq.write_table(part, tmp / "data" / f"train-{k:05d}-of-{n_files:05d}.parquet", compression="zstd")
        atomic_write_bytes(tmp / "README.md", self._card(data).encode())
        if self.out_dir.exists():
            shutil.rmtree(self.out_dir)
        tmp.rename(self.out_dir)
        ids = pa.concat_arrays([c.combine_chunks() for c in all_ids]) if all_ids else pa.array([], pa.string())
        return pa.table({"id": ids})

    def _shape(self, table: pa.Table) -> pa.Table:
        cols = ["id"] + [c for c in EXPORT_COLUMNS if c in table.column_names]
        if not self.config.include_screenshots and "screenshot" in cols:
            cols.remove("screenshot")
        out = table.select(cols)
        kinds, instr, code = (table.column(c).to_pylist() for c in ("kind", "instruction", "code"))
        msg = pa.struct([("role", pa.string()), ("content", pa.string())])
        prompt = [[{"role": "user", "content": i}] for i in instr]
        completion = [[{"role": "assistant", "content": _fence(k, c)}] for k, c in zip(kinds, code)]
        out = out.append_column("prompt", pa.array(prompt, pa.list_(msg)))
        out = out.append_column("completion", pa.array(completion, pa.list_(msg)))
        return out.append_column("messages", pa.array([p + c for p, c in zip(prompt, completion)], pa.list_(msg)))

    def _card(self, data: pa.Table) -> str:
        name = self.context.run_dir.name
        counts: dict[str, int] = {}
        for k in data.column("kind").to_pylist():
            counts[k] = counts.get(k, 0) + 1
        rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(counts.items()))
        return f"""---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
tags:
- aesdata
- code-generation
- html
- visualization
size_categories:
- n<1K
---

# {name}

Built with [aesdata](https://github.com/) (schema {SCHEMA_VERSION}): instructions paired with HTML pages or
plotting scripts that were rendered and judged. {data.num_rows} rows.

| kind | rows |
|---|---|
{rows}

Columns: `prompt` / `completion` / `messages` are conversational columns that TRL's SFTTrainer reads;
`code` is the candidate, `screenshot` its render, and the judge columns its scores.
"""

    def summarize(self, run_dir: Path) -> dict[str, Any]:
        files = sorted(str(p.relative_to(self.out_dir)) for p in (self.out_dir / "data").glob("*.parquet"))
        rows = sum(pq.ParquetFile(self.out_dir / f).metadata.num_rows for f in files)
        return {"dataset": str(self.out_dir), "rows": rows, "files": files}
