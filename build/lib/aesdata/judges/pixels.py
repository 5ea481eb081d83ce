"""Pixel measures of a screenshot: the parts of the design judge that need only a PNG.

Inputs are PNG bytes (or an RGB ``numpy`` array); outputs are plain floats and dicts. Every measure is
deterministic and works on a downsampled copy (long side <= 640 px) so that a full 1280 x 4000 page
costs a few milliseconds.

Written by hand (no library computes these): the Hasler-Suesstrunk colourfulness metric, edge
density as visual complexity, dominant-colour blankness, band-wise empty regions, a quantised palette
with hue families, and a masked image difference for the interactive judge.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

#: long side of the working copy
_WORK_SIDE = 640


def decode(png: bytes, max_side: int | None = _WORK_SIDE) -> np.ndarray:
    """Decode PNG/JPEG bytes into an ``H x W x 3`` uint8 array, downsampled so the long side <= ``max_side``."""
    with Image.open(io.BytesIO(png)) as im:
        im = im.convert("RGB")
        if max_side and max(im.size) > max_side:
            scale = max_side / max(im.size)
            im = im.resize(
                (max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BILINEAR
            )
        return np.asarray(im, dtype=np.uint8)


def dominant_color(rgb: np.ndarray) -> tuple[tuple[int, int, int], float]:
    """Return the most frequent colour (quantised to 4 bits per channel) and its pixel share (0..1)."""
    q = (rgb >> 4).astype(np.int32)
    codes = (q[..., 0] << 8) | (q[..., 1] << 4) | q[..., 2]
    counts = np.bincount(codes.ravel(), minlength=4096)
    top = int(counts.argmax())
    color = (((top >> 8) & 15) * 16 + 8, ((top >> 4) & 15) * 16 + 8, (top & 15) * 16 + 8)
    return color, float(counts[top] / codes.size)


def background_mask(rgb: np.ndarray, tol: int = 12) -> np.ndarray:
    """Boolean mask of pixels within ``tol`` (per channel) of the dominant colour: the page background."""
    bg, _ = dominant_color(rgb)
    return np.abs(rgb.astype(np.int16) - np.array(bg, dtype=np.int16)).max(axis=2) <= tol


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness M: ~0 greyscale, ~15 slightly, ~33 moderately, >59 highly colourful."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def edge_density(rgb: np.ndarray, threshold: float = 24.0) -> float:
    """Share of pixels on a luminance edge (gradient magnitude > ``threshold``): a visual-complexity proxy."""
    lum = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    gx = np.abs(np.diff(lum, axis=1))[:-1, :]
    gy = np.abs(np.diff(lum, axis=0))[:, :-1]
    return float(((gx + gy) > threshold).mean()) if gx.size else 0.0


def empty_bands(rgb: np.ndarray, band_px: int = 24, min_run: int = 6) -> tuple[float, int]:
    """Find long empty horizontal stretches between content.

    The image is cut into horizontal bands of ``band_px`` rows; a band is empty when < 0.5% of its pixels
    differ from the background. Returns (share of the content span that lies in empty runs of at least
    ``min_run`` bands, number of such runs). Leading and trailing empty space is not counted.
    """
    fg = ~background_mask(rgb)
    rows = fg.mean(axis=1)
    n = len(rows) // band_px
    if n < 2:
        return 0.0, 0
    bands = rows[: n * band_px].reshape(n, band_px).mean(axis=1) > 0.005
    filled = np.flatnonzero(bands)
    if filled.size == 0:
        return 1.0, 1
    inner = bands[filled[0] : filled[-1] + 1]
    runs, run, empty = 0, 0, 0
    for full in list(inner) + [True]:
        if full:
            if run >= min_run:
                runs += 1
                empty += run
            run = 0
        else:
            run += 1
    return empty / max(len(inner), 1), runs


@dataclass
class Palette:
    """A screenshot's palette: quantised colours covering >= 1% of pixels, and their hue families."""

    colors: list[tuple[int, int, int]]
    shares: list[float]
    hue_families: int

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form: ``{"colors": ["#rrggbb"...], "shares": [...], "hue_families": n}``."""
        return {
            "colors": ["#{:02x}{:02x}{:02x}".format(*c) for c in self.colors],
            "shares": [round(s, 4) for s in self.shares],
            "hue_families": self.hue_families,
        }


def palette(rgb: np.ndarray, min_share: float = 0.01) -> Palette:
    """Quantise to 3 bits per channel; keep colours with >= ``min_share`` of pixels; count hue families.

    A hue family is a 30-degree hue sector holding at least one kept colour with saturation >= 0.25 and
    value >= 0.2 (greys, black and white are neutral and not counted).
    """
    q = (rgb >> 5).astype(np.int32)
    codes = ((q[..., 0] << 6) | (q[..., 1] << 3) | q[..., 2]).ravel()
    counts = np.bincount(codes, minlength=512) / codes.size
    keep = np.flatnonzero(counts >= min_share)
    keep = keep[np.argsort(-counts[keep])]
    colors = [(((c >> 6) & 7) * 32 + 16, ((c >> 3) & 7) * 32 + 16, (c & 7) * 32 + 16) for c in keep]
    sectors = set()
    for r, g, b in colors:
        h, s, v = hsv(r, g, b)
        if s >= 0.25 and v >= 0.2:
            sectors.add(int(h // 30) % 12)
    return Palette(colors, [float(counts[c]) for c in keep], len(sectors))


def hsv(r: int, g: int, b: int) -> tuple[float, float, float]:
    """RGB 0..255 -> (hue degrees, saturation 0..1, value 0..1)."""
    import colorsys

    h, s, v = colorsys.rgb_to_hsv(r / 255, g / 255, b / 255)
    return h * 360, s, v


def balance(rgb: np.ndarray) -> tuple[float, float]:
    """Return (foreground share, horizontal imbalance 0..1) of a screenshot.

    Foreground share is the fraction of non-background pixels (whitespace = 1 - share). Imbalance is the
    distance of the foreground's horizontal centre of mass from the page centre, as a fraction of half
    the width (0 = centred, 1 = everything at one edge).
    """
    fg = ~background_mask(rgb)
    share = float(fg.mean())
    if share == 0:
        return 0.0, 0.0
    cols = fg.sum(axis=0).astype(np.float64)
    x = np.arange(len(cols)) + 0.5
    centre = float((cols * x).sum() / cols.sum())
    return share, abs(centre - len(cols) / 2) / (len(cols) / 2)


def changed_share(
    before: np.ndarray, after: np.ndarray, mask: np.ndarray | None = None, tol: int = 16
) -> float:
    """Share of pixels (outside ``mask``, where ``mask`` is True = ignore) that differ by more than ``tol``.

    Images of different sizes count as fully changed (a resize is a change).
    """
    if before.shape != after.shape:
        return 1.0
    diff = np.abs(before.astype(np.int16) - after.astype(np.int16)).max(axis=2) > tol
    if mask is not None:
        diff &= ~mask
        total = max(int((~mask).sum()), 1)
    else:
        total = diff.size
    return float(diff.sum() / total)
