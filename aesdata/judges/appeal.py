"""First-impression appeal of a web page, predicted from its screenshot by a small model fitted on human ratings.

What people find appealing at first sight has been measured: Reinecke, Yeh, Miratrix, Mardiko, Zhao, Liu
and Gajos (CHI 2013, "Predicting users' first impressions of website aesthetics with a quantification of
perceived visual colorfulness and complexity") showed that appeal rises and then falls with visual
complexity and colourfulness (a non-linear relation) and that balance, symmetry, the share of text, image
and whitespace areas and typographic scale also matter. ``features(rgb)`` measures those quantities on
the first viewport of a screenshot (what a visitor sees first), and ``predict(features)`` applies the model
stored in ``appeal_model.json`` (standardised features, squared terms for the non-linear ones, ridge
coefficients; fitted by ``bench/bench_appeal.py`` on the 300 training screenshots of the rating-based set
of calista-ai/website-aesthetics-datasets, MIT licence; see that JSON's ``provenance``).

Inputs: an ``H x W x 3`` uint8 array (``pixels.decode``) of a full-page or viewport screenshot. Outputs:
``features`` a dict of named floats; ``predict`` a rating on the data set's 1..9 scale; ``appeal`` a 0..1
score with the features that pushed it up or down most. Score time is numpy only.

Written by hand (no library measures these): the feature formulas below (Hasler-Suesstrunk colourfulness,
quadtree decomposition as in Reinecke et al., block classification into text / image / flat areas,
symmetry and balance after Ngo et al.); the model's coefficients come from scikit-learn at fit time.
"""

from __future__ import annotations

import io
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from aesdata.judges.check import Check

MODEL_PATH = Path(__file__).with_name("appeal_model.json")
#: working size of the first viewport: 4:3 like the ratings' 1024 x 768 screenshots
WORK_W, WORK_H = 512, 384
_BLOCK = 16  # block side (working pixels) for the text / image / flat classification


def first_view(rgb: np.ndarray, aspect: float = 0.75) -> np.ndarray:
    """The top ``width x aspect*width`` of a screenshot (what a visitor sees first), resized to the working
    size; a screenshot shorter than that is padded with its bottom row's colour."""
    h, w = rgb.shape[:2]
    want = max(1, round(w * aspect))
    top = rgb[:want]
    if top.shape[0] < want:
        pad = np.repeat(top[-1:], want - top.shape[0], axis=0)
        top = np.concatenate([top, pad], axis=0)
    im = Image.fromarray(np.ascontiguousarray(top)).resize((WORK_W, WORK_H), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised RGB (uint8) -> hue degrees, saturation 0..1, value 0..1."""
    f = rgb.astype(np.float32) / 255.0
    mx, mn = f.max(axis=2), f.min(axis=2)
    d = mx - mn
    s = np.where(mx > 0, d / np.maximum(mx, 1e-6), 0.0)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    dd = np.maximum(d, 1e-6)
    h = np.where(mx == r, ((g - b) / dd) % 6, np.where(mx == g, (b - r) / dd + 2, (r - g) / dd + 4))
    return (h * 60.0) % 360, s, mx


def _quadtree_leaves(lum: np.ndarray, thresh: float = 10.0, levels: int = 8) -> int:
    """Leaves of a quadtree over the square ``lum`` (side divisible by ``2**(levels-1)``) that splits a block
    while its luminance std exceeds ``thresh``: Reinecke et al.'s complexity measure (more leaves = more
    visual complexity). Computed level by level on reshaped blocks rather than by recursion."""
    side = lum.shape[0]
    alive = np.ones((1, 1), dtype=bool)  # blocks of this level whose ancestors all split
    leaves = 0
    for level in range(levels):
        n = 2**level
        k = side // n
        std = lum[: n * k, : n * k].reshape(n, k, n, k).std(axis=(1, 3))
        stop = alive & ((std <= thresh) | (level == levels - 1))
        leaves += int(stop.sum())
        alive = np.repeat(np.repeat(alive & ~stop, 2, axis=0), 2, axis=1)
    return leaves


def _ink_runs(rows: np.ndarray) -> list[int]:
    """Lengths of runs of True in a 1-D boolean array."""
    runs, n = [], 0
    for v in rows.tolist() + [False]:
        if v:
            n += 1
        elif n:
            runs.append(n)
            n = 0
    return runs


def features(rgb: np.ndarray) -> dict[str, float]:
    """Appeal features of a screenshot's first view (see the module docstring). All finite floats."""
    img = first_view(rgb)
    f = img.astype(np.float32)
    lum = f @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    h, s, v = _hsv(img)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    colourful = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))

    # edges and complexity
    gx = np.abs(np.diff(lum, axis=1))[:-1, :]
    gy = np.abs(np.diff(lum, axis=0))[:, :-1]
    grad = gx + gy
    edges = grad > 24
    leaves = _quadtree_leaves(lum[:, 64:448])
    # dominant (background) colour
    q = (img >> 4).astype(np.int32)
    codes = (q[..., 0] << 8) | (q[..., 1] << 4) | q[..., 2]
    counts = np.bincount(codes.ravel(), minlength=4096) / codes.size
    bg_code = int(counts.argmax())
    bg = np.array([((bg_code >> 8) & 15) * 16 + 8, ((bg_code >> 4) & 15) * 16 + 8, (bg_code & 15) * 16 + 8])
    is_bg = np.abs(f - bg).max(axis=2) <= 14
    colours_1pct = int((counts >= 0.01).sum())
    colours_01pct = int((counts >= 0.001).sum())

    # block classes: flat (background-like), text-like (sharp edges, few tones), image-like (many tones)
    hb, wb = WORK_H // _BLOCK, WORK_W // _BLOCK
    bl = lum[: hb * _BLOCK, : wb * _BLOCK].reshape(hb, _BLOCK, wb, _BLOCK)
    bstd = bl.std(axis=(1, 3))
    ed = (
        np.pad(edges, ((0, 1), (0, 1)))[: hb * _BLOCK, : wb * _BLOCK]
        .reshape(hb, _BLOCK, wb, _BLOCK)
        .mean(axis=(1, 3))
    )
    qb = (
        codes[: hb * _BLOCK, : wb * _BLOCK]
        .reshape(hb, _BLOCK, wb, _BLOCK)
        .transpose(0, 2, 1, 3)
        .reshape(hb, wb, -1)
    )
    srt = np.sort(qb, axis=2)
    tones = 1 + (np.diff(srt, axis=2) != 0).sum(axis=2)
    flat = bstd < 3
    image = (~flat) & (tones >= 24)
    text = (~flat) & (~image) & (ed > 0.08)
    other = ~(flat | image | text)

    # symmetry and balance of the non-background "ink"
    ink = (~is_bg).astype(np.float32)
    total = max(float(ink.sum()), 1.0)
    ys, xs = np.mgrid[0:WORK_H, 0:WORK_W]
    cx = float((ink * xs).sum() / total) / WORK_W - 0.5
    cy = float((ink * ys).sum() / total) / WORK_H - 0.5
    sym_h = 1.0 - float(np.abs(ink - ink[:, ::-1]).mean()) / max(float(ink.mean()) * 2, 1e-6)
    sym_v = 1.0 - float(np.abs(ink - ink[::-1, :]).mean()) / max(float(ink.mean()) * 2, 1e-6)
    left, right = ink[:, : WORK_W // 2].sum(), ink[:, WORK_W // 2 :].sum()
    top, bottom = ink[: WORK_H // 2].sum(), ink[WORK_H // 2 :].sum()
    bal_h = float(abs(left - right) / max(left + right, 1.0))
    bal_v = float(abs(top - bottom) / max(top + bottom, 1.0))

    # grid: how concentrated the left edges of ink runs are in a few columns
    starts = (ink[:, 1:] > 0) & (ink[:, :-1] == 0)
    col = starts.sum(axis=0).astype(np.float64)
    col_share = float(np.sort(col)[-8:].sum() / max(col.sum(), 1.0))

    # typographic scale: heights of horizontal ink bands in text-like regions
    text_rows = np.repeat(text.any(axis=1), _BLOCK)
    row_ink = edges.mean(axis=1) > 0.01
    runs = _ink_runs(row_ink[: len(text_rows)] & text_rows[: len(row_ink)])
    runs = [r for r in runs if r >= 3] or [0]

    # colour character
    sat = s * (v > 0.15)
    vivid = (s > 0.85) & (v > 0.85)
    prim = vivid & (
        (h < 8) | (h > 352) | (np.abs(h - 240) < 8) | (np.abs(h - 120) < 8) | (np.abs(h - 60) < 6)
    )
    link_blue = (np.abs(f - np.array([0, 0, 238])).max(axis=2) < 30) | (
        np.abs(f - np.array([85, 26, 139])).max(axis=2) < 30
    )
    hue_w = np.bincount((h[s > 0.25] // 30).astype(int) % 12, weights=s[s > 0.25], minlength=12)
    hp = hue_w / max(hue_w.sum(), 1e-9)
    hue_entropy = float(-(hp[hp > 0] * np.log2(hp[hp > 0])).sum()) if hue_w.sum() > 0 else 0.0

    # spatial frequency: share of spectrum energy at high frequencies
    spec = np.abs(np.fft.rfft2(lum - lum.mean()))
    fy = np.abs(np.fft.fftfreq(WORK_H))[:, None]
    fx = np.fft.rfftfreq(WORK_W)[None, :]
    rad = np.hypot(fy, fx)
    energy = spec**2
    hf = float(energy[rad > 0.15].sum() / max(energy.sum(), 1e-9))

    return {
        "colourfulness": colourful,
        "sat_mean": float(sat.mean()),
        "sat_std": float(sat.std()),
        "value_mean": float(v.mean()),
        "value_std": float(v.std()),
        "dark_share": float((v < 0.25).mean()),
        "white_share": float(((v > 0.92) & (s < 0.08)).mean()),
        "hue_entropy": hue_entropy,
        "vivid_share": float(vivid.mean()),
        "primary_share": float(prim.mean()),
        "link_blue_share": float(link_blue.mean()),
        "edge_density": float(edges.mean()),
        "grad_mean": float(grad.mean()),
        "quadtree_leaves": float(np.log1p(leaves)),
        "high_freq": hf,
        "bg_share": float(is_bg.mean()),
        "bg_dark": float(bg.mean() < 96),
        "colours_1pct": float(colours_1pct),
        "colours_01pct": float(colours_01pct),
        "flat_share": float(flat.mean()),
        "text_share": float(text.mean()),
        "image_share": float(image.mean()),
        "other_share": float(other.mean()),
        "symmetry_h": sym_h,
        "symmetry_v": sym_v,
        "balance_h": bal_h,
        "balance_v": bal_v,
        "centre_x": abs(cx),
        "centre_y": cy,
        "grid_share": col_share,
        "text_line_median": float(np.median(runs)),
        "text_line_max": float(max(runs)),
    }


@cache
def load_model(path: Path = MODEL_PATH) -> dict[str, Any]:
    """The fitted model (``appeal_model.json``): feature names, means, scales, coefficients, provenance."""
    return json.loads(path.read_text(encoding="utf-8"))


def design_matrix(feats: list[dict[str, float]], model: dict[str, Any]) -> np.ndarray:
    """Rows of model inputs: the named features, then the squares of the ``squared`` ones (the non-linear
    relation of complexity and colourfulness to appeal), in the model's order."""
    names, squared = model["features"], model.get("squared", [])
    x = np.array([[fd[n] for n in names] + [fd[n] ** 2 for n in squared] for fd in feats], dtype=np.float64)
    return x


def predict(
    feats: dict[str, float], model: dict[str, Any] | None = None
) -> tuple[float, list[tuple[str, float]]]:
    """Predicted mean rating (the data set's scale) and each input's contribution (sorted, largest first)."""
    m = model or load_model()
    if "lo" in m:  # features outside the training range are clipped to it: a ridge fit must not extrapolate
        feats = {n: min(max(v, m["lo"][n]), m["hi"][n]) if n in m["lo"] else v for n, v in feats.items()}
    x = design_matrix([feats], m)[0]
    z = (x - np.array(m["mean"])) / np.array(m["scale"])
    contrib = z * np.array(m["coef"])
    labels = list(m["features"]) + [f"{n}^2" for n in m.get("squared", [])]
    pred = float(m["intercept"] + contrib.sum())
    return pred, sorted(zip(labels, contrib.tolist(), strict=True), key=lambda t: -abs(t[1]))


def appeal(rgb: np.ndarray, model: dict[str, Any] | None = None) -> tuple[float, dict[str, Any]]:
    """Appeal 0..1 of a screenshot: the predicted rating mapped through the model's ``calibration``
    (the ratings' 10th and 90th percentiles map to 0.1 and 0.9, clipped to 0..1), with the prediction and
    the top contributions as metrics."""
    m = model or load_model()
    feats = features(rgb)
    pred, contrib = predict(feats, m)
    lo, hi = m["calibration"]["p10"], m["calibration"]["p90"]
    score = float(np.clip(0.1 + 0.8 * (pred - lo) / max(hi - lo, 1e-9), 0.0, 1.0))
    return score, {"predicted_rating": round(pred, 3), "top": [(n, round(c, 3)) for n, c in contrib[:4]]}


def view_of_png(png: bytes) -> np.ndarray:
    """Decode only the first view of a PNG/JPEG screenshot (its top ``width x 0.75 width``), at the working
    size: the same pixels ``first_view`` takes from a fully decoded screenshot, without decoding a tall page
    at full size."""
    with Image.open(io.BytesIO(png)) as im:
        im = im.convert("RGB")
        want = max(1, round(im.width * 0.75))
        top = im.crop((0, 0, im.width, min(want, im.height)))
        return first_view(np.asarray(top, dtype=np.uint8))


def appeal_check(png: bytes, model: dict[str, Any] | None = None, share: float = 0.55) -> Check:
    """The appeal model as a design-judge check (group ``aesthetics``); ``share`` is the part of the
    aesthetics sub-score it takes (``check.combine``): 0.55 for web pages, what it was fitted on, less for
    plots, where it is a transfer (visual complexity and colourfulness, not validated on plot ratings).

    A finding is written when the predicted first impression is weak (appeal < 0.35), naming the features
    that pulled it down most."""
    m = model or load_model()
    score, metrics = appeal(view_of_png(png), m)
    findings = []
    if score < 0.35:
        low = [n.removesuffix("^2") for n, c in metrics["top"] if c < 0][:2]
        findings.append(
            f"weak first impression (appeal {score:.2f}; predicted rating {metrics['predicted_rating']:.1f} of 9"
            + (f", pulled down by {', '.join(_FEATURE_WORDS.get(n, n) for n in low)})" if low else ")")
        )
    return Check("appeal", "aesthetics", share, score, findings, {**metrics, "model": m.get("version")})


#: plain-English names of the appeal features, for findings ("pulled down by ...")
_FEATURE_WORDS = {
    "colourfulness": "its colourfulness",
    "sat_mean": "its colour saturation",
    "sat_std": "uneven saturation",
    "value_mean": "its overall brightness",
    "value_std": "its light-dark contrast",
    "dark_share": "its share of dark areas",
    "white_share": "its share of blank white",
    "hue_entropy": "its spread of hues",
    "vivid_share": "its vivid colour areas",
    "primary_share": "pure primary colours",
    "link_blue_share": "default link blue",
    "edge_density": "its edge density",
    "grad_mean": "its texture",
    "quadtree_leaves": "its visual complexity",
    "high_freq": "fine-grained clutter",
    "bg_share": "one flat background",
    "bg_dark": "its background tone",
    "colours_1pct": "few main colours",
    "colours_01pct": "few colour tones",
    "flat_share": "its flat empty areas",
    "text_share": "walls of text",
    "image_share": "little imagery",
    "other_share": "little imagery or graphics",
    "symmetry_h": "left-right asymmetry",
    "symmetry_v": "top-bottom asymmetry",
    "balance_h": "left-right imbalance",
    "balance_v": "top-heavy or bottom-heavy layout",
    "centre_x": "off-centre content",
    "centre_y": "content bunched at the top",
    "grid_share": "ragged left edges",
    "text_line_median": "its text size",
    "text_line_max": "no large type",
}
