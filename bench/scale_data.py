"""Synthetic run rows for the scale bench: cheap stand-in screenshots and code with near-duplicates.

Deterministic from the row number: rows come in groups of ``GROUP`` (one instruction each); a group's
pages share a layout (a few coloured blocks drawn on a 64x48 PNG) and a code template, and its variants
recolour one word, shift a block by a pixel or repeat the page exactly, so dedup finds exact, code
near-duplicate and visual clusters. About 1 KB of code and 300 bytes of PNG per row.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator

import pyarrow as pa
from PIL import Image, ImageDraw
from pydantic import Field

from aesdata.schema import sub_schema
from aesdata.stage import Stage, StageConfig, register

GROUP = 4
COLUMNS = (
    "instruction_id",
    "instruction",
    "kind",
    "category",
    "code",
    "screenshot",
    "render_status",
    "static_score",
)
_WORDS = "alpha beta gamma delta sales report chart revenue orders users growth north south".split()


def _png(seed: int, shift: int) -> bytes:
    rnd = random.Random(seed)
    im = Image.new("RGB", (64, 48), (255, 255, 255))
    draw = ImageDraw.Draw(im)
    for _ in range(4):
        x, y = rnd.randrange(0, 48), rnd.randrange(0, 36)
        w, h = rnd.randrange(6, 20), rnd.randrange(4, 14)
        colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        draw.rectangle([x + shift, y, x + shift + w, y + h], fill=colour)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _code(seed: int, variant: int) -> str:
    rnd = random.Random(seed)
    words = [rnd.choice(_WORDS) for _ in range(60)]
    if variant == 2:
        words[rnd.randrange(60)] = "changed"
    items = "\n".join(f"    <li class='item-{k}'>{w} {k * seed % 97}</li>" for k, w in enumerate(words))
    colour = f"#{rnd.randrange(1 << 24):06x}"
    return (
        f"<html><head><style>body {{ color: {colour}; }} .box {{ margin: {seed % 13}px; }}</style></head>"
        f"<body><h1>{' '.join(words[:5])}</h1><ul>\n{items}\n</ul></body></html>"
    )


def rows(lo: int, hi: int) -> pa.Table:
    """Rows ``lo`` .. ``hi`` - 1 of the synthetic run (the columns dedup, select and export read)."""
    ids, instr, code, shots, score = [], [], [], [], []
    for n in range(lo, hi):
        group, variant = divmod(n, GROUP)
        ids.append(f"r{n:07d}")
        instr.append(f"i{group:06d}")
        code.append(_code(group, variant))
        shots.append({"bytes": _png(group, 1 if variant == 1 else 0), "path": None})
        score.append(float((n * 37) % 100))
    return pa.Table.from_pydict(
        {
            "id": ids,
            "instruction_id": instr,
            "instruction": [f"Make page {i}" for i in instr],
            "kind": ["html"] * len(ids),
            "category": ["landing" if n % 2 else "dashboard" for n in range(lo, hi)],
            "code": code,
            "screenshot": shots,
            "render_status": ["ok"] * len(ids),
            "static_score": score,
        },
        schema=sub_schema(["id", *COLUMNS]),
    )


class ScaleRowsConfig(StageConfig):
    rows: int = Field(default=1000, gt=0, description="synthetic rows to make")


@register
class ScaleRows(Stage):
    """Source stage of the scale bench: ``rows`` synthetic rows (see ``rows``)."""

    name = "bench_scale_rows"
    summary = "bench: synthetic rows with near-duplicate code and screenshots"
    mode = "source"
    Config = ScaleRowsConfig
    outputs = ("id", *COLUMNS)
    config: ScaleRowsConfig

    def read(self) -> Iterator[pa.Table]:
        for lo in range(0, self.config.rows, 5000):
            yield rows(lo, min(self.config.rows, lo + 5000))
