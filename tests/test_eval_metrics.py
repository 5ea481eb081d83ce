"""Known-answer tests of every benchmark formula in ``aesdata.eval.metrics`` and of the task loaders.

Each expected value is worked out by hand in the comment beside it, from the formula the cited file of the
benchmark's released code (or paper section) defines; the function docstrings cite the same sources.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aesdata.errors import AesdataError
from aesdata.eval import metrics
from aesdata.eval.benchmarks import (
    get_benchmark,
    load_artifacts,
    load_opendesign,
    load_plotbench,
    load_webgen,
    plotbench_head_description,
    webgen_prompt,
)
from aesdata.eval.compare import compare_docs
from aesdata.eval.run import EvalOptions, eval_spec
from aesdata.generate.adapters import webgen_category

FORMATS = Path(__file__).parent / "fixtures" / "formats"
PLOTBENCH = Path(__file__).parent / "fixtures" / "eval" / "pandasplotbench"


# -- PandasPlotBench: plotting_benchmark/vis_judge.py, code_plot_generator.py, task_changer.py ------------
def test_plotbench_parse_score() -> None:
    assert metrics.plotbench_parse_score("85") == 85  # int(response)
    assert metrics.plotbench_parse_score("close match.\n[FINAL SCORE]: 40") == 40
    assert metrics.plotbench_parse_score("[FINAL SCORE] 7 then [FINAL SCORE]:90") == 90  # greedy .*: the last
    assert metrics.plotbench_parse_score("[FINAL SCORE]:12.5") == 12  # \d+ stops at the dot
    assert metrics.plotbench_parse_score("no score here") is None


def test_plotbench_score_stats_known_answer() -> None:
    # scores [100, 80, 75, 50, 25, 10, None]: None -> 0, so [100, 80, 75, 50, 25, 10, 0], n = 7
    # mean = 340 / 7 = 48.57 -> int 48; median = 50; good = #>=75 = 3 -> 3/7 = 0.4286 -> 0.43
    # bad = #<=25 = 3 (25, 10, 0) -> 0.43; min 0, max 100
    stats = metrics.plotbench_score_stats([100, 80, 75, 50, 25, 10, None])
    assert stats == {
        "mean": 48,
        "median": 50,
        "good": 0.43,
        "bad": 0.43,
        "min": 0,
        "max": 100,
        "num_scored_items": 7,
    }
    # even count: median of [0, 20, 60, 90] = 40; mean 42.5 -> 42 (int truncates, not rounds)
    assert metrics.plotbench_score_stats([60, 0, 90, 20])["median"] == 40
    assert metrics.plotbench_score_stats([60, 0, 90, 20])["mean"] == 42


def test_plotbench_stats_error_rate() -> None:
    # 3 errors of 8 tasks -> 0.375 (round 3); 5 tasks without a plot; 1 wrong library
    s = metrics.plotbench_stats(
        [90, None, 0, 0, 0, 0, 0, 0],
        None,
        [True, True, True, False, False, False, False, False],
        [True, True, False, False, False, False, False, False],
        [False] * 7 + [True],
    )
    assert s["error_rate"] == 0.375 and s["error_number"] == 3 and s["no_plots"] == 6 and s["wrong_libs"] == 1
    assert set(s["scores"]) == {"vis"} and s["scores"]["vis"]["mean"] == 11  # 90 / 8 = 11.25 -> 11
    assert (
        metrics.plotbench_stats(None, None, [False, True, False], [True] * 3, [False] * 3)["error_rate"]
        == 0.333
    )


def test_plotbench_gather_code() -> None:
    reply = (
        "Here:\n```python\nimport pandas as pd\ndf = pd.read_csv('data.csv')\nx = np.arange(3)\n```\n"
        "and\n```python\nimport matplotlib.pyplot as plt\nplt.plot(x)\n```\n```bash\nls\n```"
    )
    # blocks joined by "\n", the read_csv line replaced by "#", numpy import prepended (np. is used)
    assert metrics.plotbench_gather_code(reply) == (
        "import numpy as np\nimport pandas as pd\n#\nx = np.arange(3)\nimport matplotlib.pyplot as plt\nplt.plot(x)"
    )
    assert metrics.plotbench_gather_code("```\nprint(1)\n```") == ""  # only ```python blocks count


def test_plotbench_request_layout() -> None:
    rows = load_plotbench(PLOTBENCH, 2)
    assert [json.loads(r["meta_json"])["eval"]["task_id"] for r in rows] == ["0", "1"]
    text = rows[0]["instruction"]
    # plot instruction, then 1. description 2. style 3. setup 4. data description (TaskChanger order)
    assert text.startswith("Write a code to build a plot of dataframe")
    order = [
        text.index(s) for s in ("1. Plot Description", "2. Plot Style", "3. Setup.", "4. Data description.")
    ]
    assert order == sorted(order) and "\n\n" not in text
    assert "DO NOT use seaborn for plotting. Only pure matplotlib." in text
    assert rows[0]["data_csv"].startswith("month,sales") and rows[0]["kind"] == "plot"
    meta = json.loads(rows[0]["meta_json"])["eval"]
    assert meta["code_data"].endswith('pd.read_csv("data.csv")') and meta["plots_gt"][0].startswith("iVBOR")
    head = plotbench_head_description("a,b\n1,x\n2,y\n")
    assert head.startswith("DataFrame with 2 columns and 2 rows\nColumn names and types: a: int64, b: ")
    assert head.endswith('Head:\n{"a":{"0":1,"1":2},"b":{"0":"x","1":"y"}}')


# -- OpenDesign: shared/reference/papers.md §1 (AesCoder's released evaluation) -------------------------------
def test_opendesign_stats_known_answer() -> None:
    # totals [80, 74, None, 90]: None -> 0 => mean (80 + 74 + 0 + 90) / 4 = 61.0; good (>=75) = 2/4 = 0.5
    subs = [
        {"alignment_score": 30, "aesthetics_score": 25},
        {"alignment_score": 20, "aesthetics_score": 24},
        None,
        None,
    ]
    s = metrics.opendesign_stats([80, 74, None, 90], subs, interactive=[3, 1, None, 2])
    assert s["total"] == 61.0 and s["good_rate"] == 0.5 and s["graded"] == 3 and s["tasks"] == 4
    # alignment (30 + 20 + 0 + 0) / 4 = 12.5; aesthetics (25 + 24) / 4 = 12.25; interactive 6 / 4 = 1.5
    assert s["subscores"] == {"aesthetics_score": 12.25, "alignment_score": 12.5} and s["interactive"] == 1.5


# -- WebGen-Bench: src/grade_appearance_bolt_diy/compute_grade.py, src/ui_test_bolt/compute_acc.py -----------
def test_webgen_grade_and_appearance() -> None:
    assert metrics.webgen_parse_grade("Analysis: fine.\n\nGrade: 4") == 4
    assert metrics.webgen_parse_grade("grade - maybe (3/5)") == 3  # first digit after "grade", any case
    assert metrics.webgen_parse_grade("no verdict") == 0
    # grades [4, 3, None, 5] over 4 tasks: (4 + 3 + 0 + 5) / 4 = 3.0; over the full 101: 12 / 101 = 0.1188 -> 0.12
    assert metrics.webgen_appearance([4, 3, None, 5]) == 3.0
    assert metrics.webgen_appearance([4, 3, None, 5], n_tasks=101) == 0.12


def test_webgen_accuracy_known_answer() -> None:
    assert [metrics.webgen_verdict(t) for t in ("YES.", "PARTIAL, YES", "PARTIAL", "no")] == [
        "YES",
        "YES",  # "YES" is checked first
        "PARTIAL",
        "NO",
    ]
    cases = [
        ("YES", ["User Interaction", "Functional Testing"]),
        ("PARTIAL", ["User Interaction", "Functional Testing"]),
        ("NO", ["User Interaction", "Data Display Testing"]),
        (None, ["Content Presentation", "Data Display Testing"]),  # the app did not start
    ]
    acc = metrics.webgen_accuracy(cases)
    # all: (1 + 0.5) / 4 * 100 = 37.5; User Interaction: 1.5 / 3 * 100 = 50; Functional: 1.5 / 2 = 75
    assert acc["all"]["accuracy"] == 37.5 and acc["all"]["start_failed"] == 1
    assert acc["User Interaction"]["accuracy"] == 50.0 and acc["Functional Testing"]["accuracy"] == 75.0
    assert acc["Data Display Testing"]["accuracy"] == 0.0 and acc["Content Presentation"]["total"] == 1


# -- ArtifactsBench: src/extract_ans.py, README leaderboard ---------------------------------------------------
def test_artifacts_parse_and_extract() -> None:
    assert metrics.artifacts_parse_score('```json\n{"Overall Score": "35"}\n``` Reason: ...') == 35.0
    assert metrics.artifacts_parse_score('{"Overall Score": 20} ... {"Overall Score": 72.5}') == 72.5  # last
    # a range: its lower bound, as released
    assert metrics.artifacts_parse_score('{"总体打分": "60-70"}') == 60.0
    assert metrics.artifacts_parse_score("no json") is None
    page = "text <html><body>a</body></html> more <html lang='en'><p>b</p></html> <svg><g/></svg>"
    assert (
        metrics.artifacts_extract_code(page) == "<html lang='en'><p>b</p></html>"
    )  # last html wins over svg
    assert metrics.artifacts_extract_code("<svg width='2'><rect/></svg>") == "<svg width='2'><rect/></svg>"
    assert metrics.artifacts_extract_code("nothing") is None


def test_mean_by_category_known_answer() -> None:
    # GAME: (60 + 40) / 2 = 50; WEB: (None -> 0 + 33) / 2 = 16.5; all: 133 / 4 = 33.25
    got = metrics.mean_by_category([60, 40, None, 33], ["GAME", "GAME", "WEB", "WEB"])
    assert got == {"all": 33.25, "GAME": 50.0, "WEB": 16.5}


# -- loaders and the eval pipeline spec ----------------------------------------------------------------------
def test_loaders_read_published_layouts(tmp_path: Path) -> None:
    webgen = load_webgen(FORMATS / "webgen_bench.jsonl", None)
    meta = json.loads(webgen[0]["meta_json"])["eval"]
    assert meta["category"] == "Personal Blog" and meta["primary_category"] == "Content Presentation"
    assert len(meta["ui_cases"]) >= 2 and meta["ui_cases"][0]["category"] == "Functional Testing"
    assert webgen_category("Browser-Based Games") == "game_dev"
    assert webgen_category("Analytics Platforms/Dashboards") == "data_visualization"
    assert webgen_category("Personal Blog") == "website"
    od = load_opendesign(FORMATS / "opendesign.jsonl", None)
    assert (
        json.loads(od[1]["meta_json"])["eval"]["category"] == "3D Design" and od[1]["category"] == "3d_design"
    )
    art = tmp_path / "artifacts_bench.json"
    art.write_text(
        json.dumps([{"index": 7, "question": "Make a clock.", "checklist": "1. ...", "class": "GAME"}])
    )
    (row,) = load_artifacts(art, None)
    assert json.loads(row["meta_json"])["eval"] == {
        "benchmark": "artifactsbench",
        "task_id": "7",
        "category": "GAME",
        "checklist": "1. ...",
        "difficulty": None,
    }
    checkout = tmp_path / "WebGen-Bench"
    (checkout / "src" / "grade_appearance_bolt_diy").mkdir(parents=True)
    (checkout / "src" / "grade_appearance_bolt_diy" / "prompt.py").write_text(
        'appearance_prompt = """Grade this: {instruction}\\nGrade: [1-5]"""\n'
    )
    assert (
        webgen_prompt(checkout) == "Grade this: {instruction}\nGrade: [1-5]" and webgen_prompt(None) is None
    )
    with pytest.raises(AesdataError, match="not shipped"):
        load_opendesign(None, None)
    with pytest.raises(AesdataError, match="Unknown benchmark"):
        get_benchmark("mmlu")


def test_eval_spec_and_compare_docs() -> None:
    spec = eval_spec(
        EvalOptions(
            "webgen-bench", "m", llm_base_url="http://h/v1", judge_model="vl", judge_base_url="http://j/v1"
        )
    )
    stages = [s["stage"] for s in spec["stages"]]
    assert stages == ["eval_tasks", "generate", "eval_code", "render", "judge", "eval_judge"]
    assert spec["stages"][3]["viewport_width"] == 1024 and spec["stages"][5]["vlm"]["model"] == "vl"
    with pytest.raises(AesdataError, match="needs --judge-base-url"):
        eval_spec(EvalOptions("opendesign", "m", llm_base_url="http://h/v1", judge_model="vl"))

    def doc(model: str, primary: list[float], metric: str = "OpenDesign total 0..100") -> dict:
        per = [
            {
                "task_id": str(i),
                "category": "Website" if i < 2 else "Game Dev",
                "id": f"{model}{i}",
                "primary": p,
                "exec_pass": True,
                "design": 50.0,
            }
            for i, p in enumerate(primary)
        ]
        off = {"tasks": 3, "design": 50.0}
        return {
            "benchmark": "opendesign",
            "primary_metric": metric,
            "per_task": per,
            "run": model,
            "model": model,
            "official": {},
            "offline": {"overall": off, "by_category": {"Website": off, "Game Dev": off}},
        }

    r = compare_docs(doc("a", [80, 60, 50]), doc("b", [70, 60.5, 90]), tie=1.0)
    # diffs B - A: -10 (A wins), +0.5 (tie within 1.0), +40 (B wins); sorted by |diff|: 40, 10, 0.5
    assert [t["task_id"] for t in r["tasks"]] == ["2", "0", "1"]
    assert [t["winner"] for t in r["tasks"]] == ["B", "A", "tie"]
    web = next(g for g in r["categories"] if g["category"] == "Website")
    assert (web["mean_a"], web["mean_b"], web["wins_a"], web["ties"]) == (70.0, 65.25, 1, 1)
    # different primary metrics fall back to the offline design score for both sides: all ties at 50
    mixed = compare_docs(
        doc("a", [80, 60, 50]), doc("b", [1, 2, 3], metric="aesdata design score 0..100 (offline)")
    )
    assert mixed["overall"]["ties"] == 3 and mixed["metric"].startswith("aesdata design")
