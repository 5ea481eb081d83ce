"""Test-only: a corpus whose rows carry render / judge / dedup values, and a stage that writes them.

``test_inject_scores`` is a real registered map stage (run by the real executor) standing in for the
render, judge and dedup steps: it copies the values a test put in each corpus row's extra fields into
the declared columns and draws a real PNG screenshot with Pillow (failed renders get none), so
selection, export, the report and the Hub push can be tested without a browser or a model.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pyarrow as pa
from PIL import Image, ImageDraw

from aesdata.stage import Stage, StageConfig, register

INJECTED = (
    "render_status",
    "render_error",
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
    "interactive_score",
    "interactive_max",
    "interactive_trace_json",
    "vlm_score",
    "vlm_rationale",
    "vlm_judge",
    "reward",
    "cluster_id",
    "cluster_size",
    "dup_signals",
)

SCORED_PIPE = """name: s
shard_size: 8
plugins: [tests.select_helpers]
stages:
  - stage: read_corpus
    path: corpus.jsonl
  - stage: test_inject_scores
  - stage: select
    filters: {filters}
{extra}  - stage: export
"""

_PALETTES = [
    ((30, 41, 59), (99, 102, 241), (241, 245, 249)),
    ((6, 78, 59), (16, 185, 129), (236, 253, 245)),
    ((124, 45, 18), (249, 115, 22), (255, 247, 237)),
    ((15, 23, 42), (236, 72, 153), (253, 242, 248)),
]


def page_png(seed: int, score: float, width: int = 640, height: int = 480) -> bytes:
    """A PNG that looks like a small rendered page (header, hero, cards); lower scores look messier."""
    rnd = random.Random(seed)
    dark, accent, light = _PALETTES[seed % len(_PALETTES)]
    img = Image.new("RGB", (width, height), light)
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, width, 56], fill=dark)
    d.text((24, 20), f"Page {seed}", fill=light)
    for k in range(3):
        d.rounded_rectangle([width - 240 + k * 70, 20, width - 186 + k * 70, 36], 6, fill=accent)
    jitter = int((100 - score) / 4)
    d.rounded_rectangle([24 + rnd.randint(0, jitter), 80, width - 24, 200], 14, fill=accent)
    d.text((48, 120), "Build something beautiful", fill=light)
    for k in range(3):
        x = 24 + k * (width - 48) // 3 + rnd.randint(0, jitter)
        d.rounded_rectangle(
            [x, 224, x + (width - 48) // 3 - 16, height - 32], 12, fill=(255, 255, 255), outline=accent
        )
        d.line([x + 16, 260, x + 120, 260], fill=dark, width=3)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _cluster(i: int) -> str:
    """Rows 8k and 8k+2 (two instructions) are near-duplicates; so are 12k+5, 7, 9 and 11 (a cluster of 4)."""
    if i % 8 in (0, 2):
        return f"k{i - i % 8:03d}"
    if i % 12 in (5, 7, 9, 11):
        return f"q{i - i % 12:03d}"
    return f"k{i:03d}"


def write_scored_corpus(folder: Path, n: int = 24, name: str = "corpus.jsonl") -> Path:
    """``n`` html/plot candidates, two per instruction, with scores, failures and near-duplicate clusters.

    Every 7th row failed to render; some rows of different instructions share a cluster (see ``_cluster``).
    """
    rnd = random.Random(7)
    cats = ["website", "game_dev", "data_visualization", "ui_component"]
    rows = []
    for i in range(n):
        plot = i % 5 == 4
        failed = i % 7 == 6
        score = None if failed else float(round(rnd.uniform(20, 98), 1))
        instr = i // 2
        rows.append(
            {
                "instruction_id": f"ins{instr:03d}",
                "instruction": f"Make {'a chart of sales' if plot else 'a landing page'} number {instr}",
                "kind": "plot" if plot else "html",
                "category": "matplotlib" if plot else cats[instr % len(cats)],
                "code": f"<!doctype html><html><body><h1>Page {i}</h1></body></html>"
                if not plot
                else f"import matplotlib\nprint({i})\n",
                "render_status": "exec_error" if failed else "ok",
                "render_error": "Traceback: boom" if failed else None,
                "exec_pass": not failed and i % 11 != 3,
                "exec_score": -1.0 if failed or i % 11 == 3 else 1.0,
                "static_score": score,
                "static_subscores_json": json.dumps({"contrast": score, "alignment": score})
                if score is not None
                else None,
                "static_findings_json": json.dumps([f"finding {i}: low contrast in footer"])
                if score is not None
                else None,
                "static_rationale": f"Row {i}: clean hierarchy, accent colour used consistently."
                if score is not None
                else None,
                "static_judge": "design@1",
                "rubric_version": "opendesign-v1",
                "vlm_score": None if score is None else float(min(100, max(0, score + rnd.uniform(-40, 40)))),
                "vlm_rationale": None
                if score is None
                else f"VLM says row {i} looks {'good' if score > 60 else 'cluttered'}.",
                "vlm_judge": "vlm:test-model",
                "interactive_score": None if failed else float(i % 4),
                "interactive_max": 3,
                "reward": None if score is None else round(score / 100, 3),
                "cluster_id": _cluster(i),
                "dup_signals": None if _cluster(i) == f"k{i:03d}" else "visual",
            }
        )
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r["cluster_id"]] = sizes.get(r["cluster_id"], 0) + 1
    for r in rows:
        r["cluster_size"] = sizes[r["cluster_id"]]
    path = folder / name
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@register
class InjectScores(Stage):
    """Copies injected render/judge/dedup values from ``meta_json`` into their columns; draws a screenshot."""

    name = "test_inject_scores"
    summary = "test stage: write render/judge/dedup columns from the corpus's extra fields"
    mode = "map"
    Config = StageConfig
    requires = ("meta_json",)
    outputs = INJECTED

    def process(self, table: pa.Table) -> pa.Table:
        out: list[dict] = []
        for k, raw in enumerate(table.column("meta_json").to_pylist()):
            meta = json.loads(raw or "{}")
            row = {c: meta.get(c) for c in INJECTED}
            if row["render_status"] == "ok":
                seed = int(table.column("id")[k].as_py()[:6], 16) % 1000
                png = page_png(seed, row["static_score"] or 50)
                row.update(
                    screenshot={"bytes": png, "path": None}, screenshot_width=640, screenshot_height=480
                )
            out.append(row)
        return pa.Table.from_pylist(out)


def build_scored_run(
    folder: Path,
    n: int = 40,
    filters: str = "[renders_ok, exec_pass, design_min]",
    extra: str = "    best_of_n: 1\n    splits: {train: 0.8, test: 0.2}\n",
    export: str = "",
) -> Path:
    """Build a run of ``n`` scored rows through read_corpus -> test_inject_scores -> select -> export; return it."""
    from aesdata.executor import LocalExecutor
    from aesdata.spec import load_pipeline

    folder.mkdir(parents=True, exist_ok=True)
    write_scored_corpus(folder, n)
    pipe = folder / "p.yaml"
    pipe.write_text(SCORED_PIPE.format(filters=filters, extra=extra) + export)
    run = folder / "runs" / "s"
    LocalExecutor(load_pipeline(pipe), run, workers=1).run()
    return run
