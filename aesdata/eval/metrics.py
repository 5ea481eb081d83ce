"""The benchmarks' own metric formulas and answer parsers, written from their papers and released code.

Each function cites the file (or paper section) it reproduces; ``tests/test_eval_metrics.py`` checks each
against values computed by hand. Inputs are plain per-task values (one list entry per task), outputs plain
dicts, so the same code scores a run directory, a notebook's results or a unit test. Written by hand: no
library implements these benchmarks' aggregations.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence

# -- PandasPlotBench (JetBrains-Research/PandasPlotBench, Apache-2.0) -----------------------------------

_PLOTBENCH_SCORE = re.compile(r".*\[FINAL SCORE]:? ?(\d+)", re.DOTALL)


def plotbench_parse_score(response: str) -> int | None:
    """A judge reply -> its score, as ``VisJudge.parse_bench_response`` in
    ``plotting_benchmark/vis_judge.py``: the whole reply as an int, else the number after the last
    ``[FINAL SCORE]`` (optional colon and space), else None (unparsed)."""
    try:
        return int(response)
    except ValueError:
        m = _PLOTBENCH_SCORE.search(response)
        return int(m.group(1)) if m else None


def plotbench_gather_code(answer: str) -> str:
    """The script PandasPlotBench runs from a model reply, as ``CodePlotGenerator.gather_code`` in
    ``plotting_benchmark/code_plot_generator.py``: every ```` ```python ```` block joined, the model's own
    ``df = pd.read_csv("data.csv")`` lines replaced by ``#`` (the benchmark loads ``df`` itself with the
    task's ``code_data``), and ``import numpy as np`` prepended when the code uses ``np.``."""
    blocks = [block.split("```")[0].strip() for block in answer.split("```python\n")[1:]]
    code = "\n".join(blocks)
    for form in (
        'df = pd.read_csv("data.csv")',
        "df = pd.read_csv('data.csv')",
        'df=pd.read_csv("data.csv")',
        "df=pd.read_csv('data.csv')",
    ):
        code = code.replace(form, "#")
    if "np." in code:
        code = "import numpy as np\n" + code
    return code


def plotbench_score_stats(scores: Sequence[float | None]) -> dict[str, float | int]:
    """Statistics of one score type (``vis`` or ``task``), as ``VisJudge.calculate_stats_by_type`` in
    ``plotting_benchmark/vis_judge.py``: unscored tasks (None) count as 0; ``mean`` and ``median`` are
    truncated to int; ``good`` = share of scores >= 75 and ``bad`` = share <= 25, rounded to 2 places;
    ``min`` / ``max`` as int; ``num_scored_items`` = every task (after the fill)."""
    if not scores:
        return {"mean": 0, "median": 0, "good": 0.0, "bad": 0.0, "min": 0, "max": 0, "num_scored_items": 0}
    vals = [0.0 if s is None else float(s) for s in scores]
    n = len(vals)
    return {
        "mean": int(statistics.fmean(vals)),
        "median": int(statistics.median(vals)),
        "good": round(sum(v >= 75 for v in vals) / n, 2),
        "bad": round(sum(v <= 25 for v in vals) / n, 2),
        "min": int(min(vals)),
        "max": int(max(vals)),
        "num_scored_items": n,
    }


def plotbench_stats(
    vis: Sequence[float | None] | None,
    task: Sequence[float | None] | None,
    errors: Sequence[bool],
    has_plot: Sequence[bool],
    wrong_lib: Sequence[bool],
) -> dict[str, object]:
    """The benchmark's summary, as ``VisJudge.calculate_stats`` in ``plotting_benchmark/vis_judge.py``:
    ``error_rate`` = tasks whose script raised / tasks (rounded to 3 places), ``no_plots``, ``wrong_libs``
    and the ``vis`` / ``task`` statistics (``plotbench_score_stats``) of the score types that were judged."""
    n = len(errors)
    scores: dict[str, object] = {}
    if vis is not None:
        scores["vis"] = plotbench_score_stats(vis)
    if task is not None:
        scores["task"] = plotbench_score_stats(task)
    return {
        "tasks": n,
        "error_number": int(sum(errors)),
        "error_rate": round(sum(errors) / n, 3) if n else 0.0,
        "no_plots": int(sum(not h for h in has_plot)),
        "wrong_libs": int(sum(wrong_lib)),
        "scores": scores,
    }


# -- OpenDesign (AesCoder, arXiv 2510.23272) -------------------------------------------------------------


def opendesign_stats(
    totals: Sequence[float | None],
    subscores: Sequence[dict[str, float] | None] | None = None,
    interactive: Sequence[float | None] | None = None,
    good_threshold: float = 75.0,
) -> dict[str, object]:
    """OpenDesign's report (AesCoder's released evaluation, summarised in shared/reference/papers.md §1
    "OpenDesign benchmark"): mean ``total_score`` (0..100), mean of each sub-score, ``good_rate`` = share of
    tasks with total >= 75, and the mean interactive score (0..3). A task without a grade (failed render,
    unreadable answer) counts as 0 in every mean and is not good: aesdata never scores a blank stand-in."""
    n = len(totals)
    vals = [0.0 if t is None else float(t) for t in totals]
    out: dict[str, object] = {
        "tasks": n,
        "graded": sum(t is not None for t in totals),
        "total": round(statistics.fmean(vals), 2) if n else 0.0,
        "good_rate": round(sum(v >= good_threshold for v in vals) / n, 4) if n else 0.0,
    }
    if subscores is not None and n:
        keys = sorted({k for s in subscores if s for k in s})
        out["subscores"] = {
            k: round(statistics.fmean(float((s or {}).get(k) or 0.0) for s in subscores), 2) for k in keys
        }
    if interactive is not None and n:
        out["interactive"] = round(statistics.fmean(0.0 if v is None else float(v) for v in interactive), 3)
    return out


# -- WebGen-Bench (arXiv 2505.03733, mnluzimu/WebGen-Bench) ----------------------------------------------

_WEBGEN_GRADE = re.compile(r"Grade.*?(\d)", re.IGNORECASE | re.DOTALL)


def webgen_parse_grade(text: str) -> int:
    """An appearance reply -> its grade, as ``first_grade_int`` in
    ``src/grade_appearance_bolt_diy/compute_grade.py``: the first digit after the word "Grade" (any case),
    else 0."""
    m = _WEBGEN_GRADE.search(text or "")
    return int(m.group(1)) if m else 0


def webgen_appearance(grades: Sequence[int | None], n_tasks: int | None = None) -> float:
    """The appearance score, as ``get_grade`` in ``src/grade_appearance_bolt_diy/compute_grade.py``: the sum
    of the grades divided by the number of tasks (101 in the full benchmark; a task without a grade adds
    0), rounded to 2 places."""
    n = n_tasks if n_tasks is not None else len(grades)
    return round(sum(g or 0 for g in grades) / n, 2) if n else 0.0


def webgen_verdict(text: str) -> str:
    """A UI-test agent's last reply -> ``YES`` / ``PARTIAL`` / ``NO``, as in ``src/ui_test_bolt/compute_acc.py``
    ("YES" anywhere wins, then "PARTIAL", else NO)."""
    if "YES" in text:
        return "YES"
    if "PARTIAL" in text:
        return "PARTIAL"
    return "NO"


def webgen_accuracy(cases: Sequence[tuple[str | None, Sequence[str]]]) -> dict[str, dict[str, float]]:
    """UI-test accuracy per category and overall, as ``main`` in ``src/ui_test_bolt/compute_acc.py``.

    ``cases``: one ``(verdict, categories)`` per test case; verdict ``YES`` / ``PARTIAL`` / ``NO``, or None
    when the app did not start (``start_failed``); ``categories`` the groups it counts in (the task's
    primary category and the case's own). accuracy = (YES + 0.5 * PARTIAL) / total * 100; the key ``all``
    holds the overall figures.
    """
    groups: dict[str, dict[str, float]] = {}
    for verdict, cats in cases:
        for cat in ("all", *cats):
            g = groups.setdefault(cat, {"yes": 0, "partial": 0, "no": 0, "start_failed": 0, "total": 0})
            g["total"] += 1
            key = {"YES": "yes", "PARTIAL": "partial", "NO": "no"}.get(verdict or "", "start_failed")
            g[key] += 1
    for g in groups.values():
        g["accuracy"] = (g["yes"] + 0.5 * g["partial"]) / g["total"] * 100 if g["total"] else 0.0
    return groups


# -- ArtifactsBench (arXiv 2507.04952, Tencent-Hunyuan/ArtifactsBenchmark, CC BY 4.0) ---------------------

_ARTIFACTS_PATTERNS = (
    r'"Overall Score":\s*(")?(\d+(\.\d+)?|\d+-\d+)(")?',
    r'"总体打分":\s*(")?(\d+(\.\d+)?|\d+-\d+)(")?',
)


def artifacts_parse_score(text: str) -> float | None:
    """A judge reply -> its overall score, as ``extract_mllm_overall`` in ``src/extract_ans.py``: the last
    ``"Overall Score": n`` (or the Chinese field) of the first pattern that matches, as a number; None when
    nothing matches. For a range ``"60-70"`` the pattern's first alternative already matches ``60``, so the
    released parser reads the lower bound, and so does this one."""
    for pattern in _ARTIFACTS_PATTERNS:
        matches = re.findall(pattern, text or "")
        if matches:
            return float(matches[-1][1])
    return None


def artifacts_extract_code(answer: str) -> str | None:
    """The code ArtifactsBench renders from an answer, as ``extract_last_html_or_svg_block`` in
    ``src/extract_ans.py``: the last ``<html ...>...</html>`` block, else the last ``<svg ...>...</svg>``,
    else None."""
    html = re.findall(r"(<html[^>]*>.*?</html>)", answer or "", re.DOTALL)
    if html:
        return html[-1]
    svg = re.findall(r"(<svg[^>]*>.*?</svg>)", answer or "", re.DOTALL)
    return svg[-1] if svg else None


def mean_by_category(scores: Sequence[float | None], categories: Sequence[str]) -> dict[str, float]:
    """Mean score per category plus ``all`` (ArtifactsBench's leaderboard columns and AVG, README
    "Leaderboard"); an unscored task counts as 0. Rounded to 2 places."""
    groups: dict[str, list[float]] = {}
    for s, c in zip(scores, categories, strict=True):
        v = 0.0 if s is None or (isinstance(s, float) and math.isnan(s)) else float(s)
        groups.setdefault("all", []).append(v)
        groups.setdefault(c, []).append(v)
    return {k: round(statistics.fmean(v), 2) for k, v in groups.items()}
