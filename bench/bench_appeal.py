"""Appeal model: features, cross-validated agreement with human ratings, and the fit of ``appeal_model.json``.

Data: the 300 training screenshots of the rating-based set of calista-ai/website-aesthetics-datasets
(MIT; ratings from Reinecke & Gajos, CHI 2014): ONLY the rows of
``rating-based-dataset/preprocess/train_means_list.csv`` and their full-size images under
``rating-based-dataset/images/``. Its test list, the out-of-sample set and the comparison-based set are
never read: they are kept for an independent check. Nothing is fetched at run time: the images are read
with ``git show`` from a local snapshot of the repository (``--repo``, default the session mirror; get one
with ``git clone https://github.com/calista-ai/website-aesthetics-datasets``), pinned at ``COMMIT``.

Prints, against an in-process baseline (the design judge's screenshot-mode score without the appeal
model, ``design@3`` style): the Spearman correlation with the mean ratings under repeated 5-fold
cross-validation (fixed seed; standardisation and the ridge penalty are chosen inside each training fold,
so no fold sees its test rows), the per-feature correlations, and the pages the model gets most wrong.
``--fit`` refits on all 300 rows and writes ``aesdata/judges/appeal_model.json``.

Run: ``.venv/bin/python bench/bench_appeal.py [--repo PATH] [--repeats 10] [--fit]`` (scikit-learn and
scipy are needed at fit time only; scoring is numpy).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aesdata.judges import appeal, pixels  # noqa: E402

REPO = "calista-ai/website-aesthetics-datasets"
COMMIT = "b45fb864e819425f5dbf43023c7c2000484b8822"
MEANS = "rating-based-dataset/preprocess/train_means_list.csv"
DEFAULT_MIRROR = Path("/work/.mirror/calista-ai+website-aesthetics-datasets/repo")
#: features whose square enters the model (appeal rises, then falls, with complexity and colourfulness)
SQUARED = ["colourfulness", "edge_density", "quadtree_leaves", "high_freq", "sat_mean", "value_mean"]
ALPHAS = [1.0, 3.0, 10.0, 30.0, 100.0, 300.0]


def _git_show(repo: Path, path: str) -> bytes:
    out = subprocess.run(
        ["git", "-C", str(repo), "show", f"{COMMIT}:{path}"], capture_output=True, check=False
    )
    if out.returncode:
        sys.exit(f"cannot read {path} at {COMMIT[:10]} from {repo}: {out.stderr.decode()[:200]}")
    return out.stdout


def load_rows(repo: Path) -> list[tuple[str, float, bytes]]:
    """(image path in the repo, mean rating, PNG bytes) for each row of the training means list."""
    text = _git_show(repo, MEANS).decode()
    rows = []
    for rec in csv.DictReader(io.StringIO(text)):
        folder, name = rec["image"].strip("/").split("/")  # e.g. english_resized/143.png
        path = f"rating-based-dataset/images/{folder.removesuffix('_resized')}/{name}"
        rows.append((path, float(rec["mean_score"]), _git_show(repo, path)))
    return rows


def feature_table(rows: list[tuple[str, float, bytes]]) -> tuple[list[dict[str, float]], float]:
    t0 = time.perf_counter()
    feats = [appeal.features(pixels.decode(png, max_side=None)) for _, _, png in rows]
    return feats, (time.perf_counter() - t0) * 1000 / len(rows)


def fit(feats: list[dict[str, float]], y: np.ndarray, names: list[str]) -> dict:
    """Standardise, pick the ridge penalty by inner 5-fold CV, fit; return the model dict (JSON-ready)."""
    from sklearn.linear_model import RidgeCV

    model = {"features": names, "squared": SQUARED}
    x = appeal.design_matrix(feats, model)  # the training rows lie inside their own range: no clipping
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    r = RidgeCV(alphas=ALPHAS, cv=5).fit((x - mean) / scale, y)
    return {
        **model,
        "lo": {n: min(f[n] for f in feats) for n in names},
        "hi": {n: max(f[n] for f in feats) for n in names},
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coef": r.coef_.tolist(),
        "intercept": float(r.intercept_),
        "alpha": float(r.alpha_),
    }


def cross_validate(feats, y, names, repeats: int, seed: int = 0) -> list[float]:
    from scipy.stats import spearmanr
    from sklearn.model_selection import RepeatedKFold

    out = []
    for tr, te in RepeatedKFold(n_splits=5, n_repeats=repeats, random_state=seed).split(np.zeros(len(y))):
        m = fit([feats[i] for i in tr], y[tr], names)
        pred = [appeal.predict(feats[i], m)[0] for i in te]
        out.append(float(spearmanr(pred, y[te])[0]))
    return out


def baseline_scores(rows) -> list[float]:
    """The design judge's screenshot-mode score with the appeal check left out (the pre-appeal judge)."""
    from aesdata.judges import design

    return [design.judge_screenshot(png, with_appeal=False).score for _, _, png in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", type=Path, default=DEFAULT_MIRROR, help="local snapshot (bare or checkout)")
    ap.add_argument("--repeats", type=int, default=10, help="repeats of 5-fold cross-validation")
    ap.add_argument("--fit", action="store_true", help="refit on all rows and write appeal_model.json")
    args = ap.parse_args()
    if not args.repo.exists():
        sys.exit(f"no snapshot of {REPO} at {args.repo}: clone it and pass --repo PATH")
    from scipy.stats import spearmanr

    rows = load_rows(args.repo)
    y = np.array([r[1] for r in rows])
    feats, ms = feature_table(rows)
    names = list(feats[0])
    print(f"{len(rows)} rated screenshots ({REPO}@{COMMIT[:10]}); features: {ms:.0f} ms per screenshot")

    base = float(spearmanr(baseline_scores(rows), y)[0])
    folds = cross_validate(feats, y, names, args.repeats)
    cv = float(np.mean(folds))
    print(f"baseline (design judge without appeal): Spearman {base:+.3f}")
    print(
        f"appeal model, {args.repeats}x repeated 5-fold CV: Spearman {cv:.3f} "
        f"(fold sd {np.std(folds):.3f}, min {min(folds):.3f}); gain over baseline {cv - base:+.3f}"
    )
    print("per-feature Spearman (whole set, for reading only; the model is fitted per fold):")
    for n in names:
        print(f"  {n:18s} {spearmanr([f[n] for f in feats], y)[0]:+.3f}")

    model = fit(feats, y, names)
    pred = np.array([appeal.predict(f, model)[0] for f in feats])
    resid = pred - y
    print("largest errors of the all-rows fit (over-rated +, under-rated -):")
    for i in np.argsort(-np.abs(resid))[:6]:
        print(f"  {rows[i][0]}: rated {y[i]:.2f}, predicted {pred[i]:.2f}")
    if args.fit:
        model["calibration"] = {
            "p10": float(np.percentile(y, 10)),
            "p90": float(np.percentile(y, 90)),
            "scale": "mean rating 1..9",
        }
        model["provenance"] = {
            "data": f"github.com/{REPO}@{COMMIT}: {MEANS} (300 rows) and their images",
            "data_licence": "repository MIT; the ratings come from Reinecke & Gajos, 'Quantifying Visual "
            "Preferences Around the World', CHI 2014 (LabintheWild), published by its authors under "
            "CC BY-NC-SA 3.0. This file holds only fitted coefficients, no images or ratings.",
            "not_used": "test_list.csv, out-of-sample/, comparison-based-dataset/ (kept for an independent check)",
            "fit": f"ridge (penalty by inner 5-fold CV over {ALPHAS}) on standardised features; "
            "scikit-learn at fit time, numpy at score time",
            "cv_spearman": round(cv, 4),
            "cv": f"{args.repeats}x repeated 5-fold, seed 0",
            "bench": "bench/bench_appeal.py --fit",
        }
        model["version"] = "appeal@1"
        appeal.MODEL_PATH.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {appeal.MODEL_PATH}")


if __name__ == "__main__":
    main()
