"""``export``: write the run's selected rows as a Hugging Face dataset folder.

Output folder (default ``<run>/dataset``)::

    data/train-00000-of-00002.parquet   rows per split, with HF features metadata (screenshots decode as Image)
    data/test-00000-of-00001.parquet
    images/score_histograms.png         score distributions (all rows vs exported rows), shown in the card
    README.md                           dataset card: YAML header the Hub reads (license, task and size
                                        categories, tags), counts, scores, the selection funnel, judges and
                                        rubric versions, browser/font versions, the pipeline spec

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

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from aesdata.rundir import atomic_write_bytes
from aesdata.schema import DESCRIPTIONS, SAMPLE_SCHEMA, SCHEMA_VERSION
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


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` value for ``n`` rows."""
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
    ):
        if n < limit:
            return name
    return "100M<n<1B"


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
            else self.context.run_dir / "dataset"
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
        images = self._histograms(summary, tmp / "images")
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
    def _manifest(self) -> dict[str, Any]:
        try:
            return json.loads((self.context.run_dir / "manifest.json").read_text())
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _histograms(stats: pa.Table, folder: Path) -> list[str]:
        """Draw one panel per score column present: every row in grey, exported rows in colour. Returns image paths."""
        present = [
            c for c in SCORES if c in stats.column_names and stats.column(c).null_count < stats.num_rows
        ]
        if not present:
            return []
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        fig = Figure(figsize=(3.4 * len(present), 2.8), dpi=110)
        fig.subplots_adjust(
            left=0.3 / len(present), right=1 - 0.1 / len(present), bottom=0.12, top=0.8, wspace=0.25
        )
        exported = stats.column("exported").to_pylist()
        for k, col in enumerate(present):
            ax = fig.add_subplot(1, len(present), k + 1)
            values = stats.column(col).to_pylist()
            every = [v for v in values if v is not None]
            kept = [v for v, e in zip(values, exported, strict=True) if v is not None and e]
            lo, hi = min(every), max(every)
            style: dict[str, Any] = {"histtype": "stepfilled"}
            if (
                all(float(v).is_integer() for v in every) and hi - lo <= 20
            ):  # small integer scales: one bar per value
                bins: Any = [lo - 0.5 + i for i in range(int(hi - lo) + 2)]
                style = {"histtype": "bar", "rwidth": 0.6}
            else:
                bins = [lo + (hi - lo) * i / 20 for i in range(21)] if hi > lo else 10
            ax.hist(every, bins=bins, color="#cbd5e1", label="all rows", **style)
            ax.hist(kept, bins=bins, color="#6366f1", label="exported", **style)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(f"{col}  ({len(kept)} of {len(every)} exported)", fontsize=9)
            ax.tick_params(labelsize=8)
            ax.spines[["top", "right"]].set_visible(False)
        fig.legend(*ax.get_legend_handles_labels(), loc="upper right", ncols=2, fontsize=8, frameon=False)
        folder.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        atomic_write_bytes(folder / "score_histograms.png", buf.getvalue())
        return ["images/score_histograms.png"]

    def card(self, stats: pa.Table, files: dict[str, list[str]], images: list[str]) -> str:
        """The dataset card (README.md): Hub YAML metadata and a body describing contents and provenance."""
        from huggingface_hub import DatasetCardData

        manifest = self._manifest()
        pipeline = manifest.get("pipeline", {})
        name = pipeline.get("name") or self.context.run_dir.name
        rows = stats.filter(stats.column("exported"))
        kinds = sorted({k for k in rows.column("kind").to_pylist() if k})
        data = DatasetCardData(
            pretty_name=self.config.pretty_name or name,
            license=self.config.license,
            language=["en"],
            task_categories=["text-generation"],
            size_categories=[size_category(rows.num_rows)],
            tags=[
                "aesdata",
                "code-generation",
                "aesthetics",
                *(["html", "web"] if "html" in kinds else []),
                *(["visualization", "plotting"] if "plot" in kinds else []),
            ],
        )
        parts = [
            f"---\n{data.to_yaml()}\n---\n",
            f"# {self.config.pretty_name or name}\n",
            f"{pipeline.get('description') or 'Instructions paired with HTML pages or plotting scripts that were rendered and judged.'}\n",
            f"Built with **aesdata** {manifest.get('aesdata_version', '')} (sample schema {SCHEMA_VERSION}) from pipeline "
            f"`{name}` (spec hash `{pipeline.get('spec_hash', '?')}`): **{rows.num_rows} rows** exported of {stats.num_rows} candidates.\n",
            '```python\nfrom datasets import load_dataset\nds = load_dataset("<this repo or folder>")  # splits: '
            + ", ".join(files)
            + "\n```\n",
            "## Contents\n",
            _md_table(["split", "kind", "category", "rows"], _count_rows(rows)),
        ]
        if images:
            parts.append("## Scores\n")
            parts += [f"![score histograms]({p})\n" for p in images]
            parts.append(
                _md_table(
                    ["kind", "category", "rows", *[f"mean {c}" for c in SCORES if c in rows.column_names]],
                    _means(rows),
                )
            )
        funnel = next(
            (
                s["funnel"]
                for s in manifest.get("summaries", {}).values()
                if isinstance(s, dict) and "funnel" in s
            ),
            None,
        )
        if funnel:
            parts += [
                "## Selection funnel\n",
                f"{funnel['selected']} of {funnel['total']} rows kept. Each rule drops rows; "
                "`drop_reason` in the run records the first rule that dropped a row.\n",
                _md_table(
                    ["rule", "in", "dropped", "left", "what it keeps"],
                    [
                        [f"`{r['rule']}`", r["in"], r["dropped"], r["out"], r["description"]]
                        for r in funnel["rules"]
                    ],
                ),
            ]
            if funnel.get("rule_sql"):
                parts.append(
                    "Rules (SQL over the `samples` table, DuckDB):\n\n```sql\n"
                    + "\n".join(
                        f"-- {r['rule']}: {r['description']}\n{r['sql']}\n" for r in funnel["rule_sql"]
                    )
                    + "```\n"
                )
        parts += ["## Judges and rubrics\n", _md_table(["column", "judge / rubric", "rows"], _judges(rows))]
        versions = manifest.get("versions", {})
        if versions:
            parts += [
                "## Environment\n",
                "Versions that change pixels or scores (browser, fonts, judges, libraries):\n",
                _md_table(["component", "version"], [[k, f"`{v}`"] for k, v in sorted(versions.items())]),
            ]
        columns = [c for c in ("id", *EXPORT_COLUMNS) if c in SAMPLE_SCHEMA.names]
        parts += [
            "## Columns\n",
            "`prompt` / `completion` / `messages` are conversational columns (lists of `{role, content}`) that "
            "TRL's `SFTTrainer` and `GRPOTrainer` read directly; the other columns are passed to reward functions.\n",
            _md_table(["column", "description"], [[f"`{c}`", DESCRIPTIONS[c]] for c in columns]),
        ]
        if pipeline.get("text"):
            parts += [
                "## Pipeline\n",
                "The exact pipeline spec this dataset was built from:\n",
                f"````yaml\n{pipeline['text'].rstrip()}\n````\n",
            ]
        return "\n".join(parts)

    def summarize(self, run_dir: Path) -> dict[str, Any]:
        files = sorted(str(p.relative_to(self.out_dir)) for p in (self.out_dir / "data").glob("*.parquet"))
        splits: dict[str, int] = {}
        for f in files:
            split = Path(f).name.rsplit("-", 3)[0]
            splits[split] = splits.get(split, 0) + pq.ParquetFile(self.out_dir / f).metadata.num_rows
        return {"dataset": str(self.out_dir), "rows": sum(splits.values()), "splits": splits, "files": files}


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured markdown table (cells with ``|`` escaped)."""

    def cell(v: Any) -> str:
        text = "-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _group(rows: pa.Table, keys: list[str], aggs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    keys = [k for k in keys if k in rows.column_names]
    return sorted(
        rows.group_by(keys).aggregate(aggs).to_pylist(), key=lambda r: tuple(str(r[k]) for k in keys)
    )


def _count_rows(rows: pa.Table) -> list[list[Any]]:
    if not rows.num_rows:
        return []
    if "split" not in rows.column_names:
        rows = rows.append_column("split", pa.array(["train"] * rows.num_rows))
    return [
        [r["split"], r["kind"], r.get("category"), r["kind_count"]]
        for r in _group(rows, ["split", "kind", "category"], [("kind", "count")])
    ]


def _means(rows: pa.Table) -> list[list[Any]]:
    scores = [c for c in SCORES if c in rows.column_names]
    if not rows.num_rows:
        return []
    return [
        [r["kind"], r.get("category"), r["kind_count"], *(r[f"{c}_mean"] for c in scores)]
        for r in _group(rows, ["kind", "category"], [("kind", "count"), *((c, "mean") for c in scores)])
    ]


def _judges(rows: pa.Table) -> list[list[Any]]:
    out = []
    for col in ("static_judge", "rubric_version", "vlm_judge"):
        if col in rows.column_names and rows.num_rows:
            out += [
                [f"`{col}`", r[col], r[f"{col}_count"]]
                for r in _group(rows, [col], [(col, "count")])
                if r[col] is not None
            ]
    return out
