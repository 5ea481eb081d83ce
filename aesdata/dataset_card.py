"""The dataset card of an export: Hub YAML metadata, contents, score histograms, funnel, provenance.

Input: the light per-row columns of the run (kind, category, split, judges, scores, ``exported``), the
files written per split and the run manifest. Output: ``README.md`` text (``card_markdown``) and a PNG
of score histograms (``score_histograms``). The YAML header is ``huggingface_hub.DatasetCardData``'s
(license, task and size categories, tags), so the Hub reads it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pyarrow as pa

from aesdata.rundir import atomic_write_bytes
from aesdata.schema import DESCRIPTIONS, SAMPLE_SCHEMA, SCHEMA_VERSION


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


def score_histograms(stats: pa.Table, folder: Path, scores: tuple[str, ...]) -> list[str]:
    """Draw one panel per column of ``scores`` present in ``stats``: every row in grey, exported rows (the
    ``exported`` column) in colour, into ``folder/score_histograms.png``. Returns the card's image paths."""
    present = [c for c in scores if c in stats.column_names and stats.column(c).null_count < stats.num_rows]
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


def card_markdown(
    stats: pa.Table,
    files: dict[str, list[str]],
    images: list[str],
    manifest: dict[str, Any],
    *,
    fallback_name: str,
    pretty_name: str | None,
    license: str,
    columns: tuple[str, ...],
    scores: tuple[str, ...],
) -> str:
    """The dataset card (README.md): Hub YAML metadata and a body describing contents and provenance.

    ``stats``: the light columns of every row with ``exported`` marking the kept ones; ``files``: data files
    per split; ``images``: card image paths; ``manifest``: the run manifest (pipeline, versions, funnel);
    ``fallback_name``: the title when the manifest names no pipeline; ``columns``: the exported columns
    described; ``scores``: the score columns averaged.
    """
    from huggingface_hub import DatasetCardData

    pipeline = manifest.get("pipeline", {})
    name = pipeline.get("name") or fallback_name
    rows = stats.filter(stats.column("exported"))
    kinds = sorted({k for k in rows.column("kind").to_pylist() if k})
    data = DatasetCardData(
        pretty_name=pretty_name or name,
        license=license,
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
        f"# {pretty_name or name}\n",
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
                ["kind", "category", "rows", *[f"mean {c}" for c in scores if c in rows.column_names]],
                _means(rows, scores),
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
                + "\n".join(f"-- {r['rule']}: {r['description']}\n{r['sql']}\n" for r in funnel["rule_sql"])
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
    described = [c for c in columns if c in SAMPLE_SCHEMA.names]
    parts += [
        "## Columns\n",
        "`prompt` / `completion` / `messages` are conversational columns (lists of `{role, content}`) that "
        "TRL's `SFTTrainer` and `GRPOTrainer` read directly; the other columns are passed to reward functions.\n",
        _md_table(["column", "description"], [[f"`{c}`", DESCRIPTIONS[c]] for c in described]),
    ]
    if pipeline.get("text"):
        parts += [
            "## Pipeline\n",
            "The exact pipeline spec this dataset was built from:\n",
            f"````yaml\n{pipeline['text'].rstrip()}\n````\n",
        ]
    return "\n".join(parts)


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


def _means(rows: pa.Table, all_scores: tuple[str, ...]) -> list[list[Any]]:
    scores = [c for c in all_scores if c in rows.column_names]
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
