"""Check the bundled demo corpus (demo/corpus): validate candidates.jsonl, optionally render everything.

Input: the corpus folder (default: demo/corpus next to this tool's parent folder).
Validation: every row has the required keys with allowed values, every referenced file exists, HTML
pages are 40-250 lines, quality and defect tags agree, near copies point at an existing original, and
the corpus meets its minimums (instructions, candidates, per-category coverage, near-copy groups).
Output: the problems found and a summary line; a non-zero exit status if validation fails.
To look at the corpus, build it (`just demo`) and open the report (`aesdata report runs/demo`): the
pipeline's own renderer and judges are the rendering check. ``tests/test_demo_corpus.py`` runs
``validate`` in CI.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from pathlib import Path

REQUIRED_KEYS = {
    "instruction_id", "kind", "category", "instruction", "code_file", "source", "quality", "defects",
    "near_copy_of",
}
HTML_CATEGORIES = {"website", "3d_design", "data_visualization", "game_dev", "ui_component"}
PLOT_CATEGORIES = {"matplotlib", "seaborn", "plotly"}
QUALITIES = {"polished", "mediocre", "defective"}
DEFECTS = {
    "js_error", "overlap", "clipped", "overflow", "low_contrast", "dead_button", "exec_error", "empty_plot",
    "overlapping_labels", "legend_covers_data", "near_copy", "broken_image", "blank",
}
MIN_INSTRUCTIONS, MIN_CANDIDATES, MIN_PER_CATEGORY, MIN_NEAR_COPY_GROUPS = 24, 64, 3, 4

def load_rows(corpus: Path) -> list[dict]:
    """Read candidates.jsonl from `corpus`; returns the list of row dicts."""
    with open(corpus / "candidates.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def validate(corpus: Path, rows: list[dict]) -> list[str]:
    """Check rows against the corpus rules; returns a list of problems (empty when all is well)."""
    problems: list[str] = []
    seen_files: set[str] = set()
    for n, row in enumerate(rows, 1):
        where = f"row {n} ({row.get('code_file')})"
        missing = REQUIRED_KEYS - row.keys()
        if missing:
            problems.append(f"{where}: missing keys {sorted(missing)}")
            continue
        cats = HTML_CATEGORIES if row["kind"] == "html" else PLOT_CATEGORIES if row["kind"] == "plot" else set()
        if row["category"] not in cats:
            problems.append(f"{where}: category {row['category']!r} does not fit kind {row['kind']!r}")
        if row["quality"] not in QUALITIES:
            problems.append(f"{where}: quality {row['quality']!r}")
        bad = set(row["defects"]) - DEFECTS
        if bad:
            problems.append(f"{where}: unknown defect tags {sorted(bad)}")
        if row["quality"] == "polished" and set(row["defects"]) - {"near_copy"}:
            problems.append(f"{where}: polished but has defects {row['defects']}")
        if row["quality"] == "defective" and not set(row["defects"]) - {"near_copy"}:
            problems.append(f"{where}: defective without a defect tag")
        if ("near_copy" in row["defects"]) != bool(row["near_copy_of"]):
            problems.append(f"{where}: near_copy tag and near_copy_of disagree")
        if row["near_copy_of"] and not (corpus / row["near_copy_of"]).is_file():
            problems.append(f"{where}: near_copy_of {row['near_copy_of']} does not exist")
        if row["source"] != "aesdata-demo" or not row["instruction"].strip():
            problems.append(f"{where}: bad source or empty instruction")
        code = corpus / row["code_file"]
        if not code.is_file():
            problems.append(f"{where}: code file missing")
        elif row["kind"] == "html" and not 40 <= len(code.read_text(encoding="utf-8").splitlines()) <= 250:
            problems.append(f"{where}: html page is not 40-250 lines")
        if row["code_file"] in seen_files:
            problems.append(f"{where}: code file listed twice")
        seen_files.add(row["code_file"])
        if row.get("data_file") and not (corpus / row["data_file"]).is_file():
            problems.append(f"{where}: data file {row['data_file']} missing")
    by_instr = collections.defaultdict(list)
    for row in rows:
        by_instr[row["instruction_id"]].append(row)
    for iid, group in by_instr.items():
        if not 2 <= len(group) <= 3:
            problems.append(f"{iid}: {len(group)} candidates (want 2-3)")
        if len({(r["instruction"], r["category"]) for r in group}) != 1:
            problems.append(f"{iid}: candidates disagree on instruction text or category")
    per_cat = collections.Counter(group[0]["category"] for group in by_instr.values())
    for cat in sorted(HTML_CATEGORIES | PLOT_CATEGORIES):
        if per_cat[cat] < MIN_PER_CATEGORY:
            problems.append(f"category {cat}: {per_cat[cat]} instructions (want >= {MIN_PER_CATEGORY})")
    if len(by_instr) < MIN_INSTRUCTIONS:
        problems.append(f"{len(by_instr)} instructions (want >= {MIN_INSTRUCTIONS})")
    if len(rows) < MIN_CANDIDATES:
        problems.append(f"{len(rows)} candidates (want >= {MIN_CANDIDATES})")
    groups = {r["near_copy_of"] for r in rows if r["near_copy_of"]}
    if len(groups) < MIN_NEAR_COPY_GROUPS:
        problems.append(f"{len(groups)} near-copy groups (want >= {MIN_NEAR_COPY_GROUPS})")
    return problems


CDN_URL = re.compile(r"https://(?:unpkg\.com|cdn\.jsdelivr\.net/npm)/(@?[^@/]+)(?:@[^/]+)?/?(.*)")


def main() -> int:
    """Parse arguments and validate; returns the process exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parent.parent / "corpus")
    args = ap.parse_args()
    rows = load_rows(args.corpus)
    problems = validate(args.corpus, rows)
    for p in problems:
        print("PROBLEM:", p)
    instr = {r["instruction_id"]: r["category"] for r in rows}
    print(f"{len(rows)} candidates, {len(instr)} instructions;",
          dict(collections.Counter(instr.values())), dict(collections.Counter(r["quality"] for r in rows)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
