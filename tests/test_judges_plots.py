"""The plot judge on scripts run in the real plot sandbox: rotated tick labels are judged on their real
outlines, a few overlapping labels cost a few points, and a script's figures are judged one by one."""

from __future__ import annotations

import pytest

from aesdata.judges import design
from aesdata.render.plot_sandbox import PlotJob, PlotSandbox

_HEAD = """import matplotlib.pyplot as plt
names = [f"Region number {i}" for i in range(10)]
values = [3, 5, 2, 8, 6, 4, 7, 5, 3, 6]
"""
#: long category names rotated 35 degrees: clean in the image, overlapping as upright boxes
ROTATED = (
    _HEAD
    + """fig, ax = plt.subplots(figsize=(9, 5))
ax.bar(names, values, color="#2a9d8f")
ax.set_title("Orders by region, 2024")
ax.set_ylabel("Orders (thousands)")
plt.setp(ax.get_xticklabels(), rotation=35, ha="right")
fig.tight_layout()
plt.show()
"""
)
#: the same names left upright: they pile onto each other
UPRIGHT = ROTATED.replace('plt.setp(ax.get_xticklabels(), rotation=35, ha="right")\n', "")
#: two figures, the second with empty axes
TWO_FIGURES = (
    ROTATED.replace("plt.show()\n", "")
    + """fig2, ax2 = plt.subplots(figsize=(6, 4))
ax2.set_title("Returns by region")
plt.show()
"""
)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    sandbox = PlotSandbox(workers=1)
    sandbox.start()
    try:
        return [dict(r) for r in sandbox.run_many([PlotJob(ROTATED), PlotJob(UPRIGHT), PlotJob(TWO_FIGURES)])]
    finally:
        sandbox.close()


def test_rotated_labels_are_clean_and_upright_ones_overlap(rows: list[dict]) -> None:
    rotated, upright = (design.judge_plot(r["layout_json"], r["screenshot"]["bytes"]) for r in rows[:2])
    assert not any("overlap" in f for f in rotated.findings), rotated.findings
    assert any("x tick labels overlap" in f for f in upright.findings), upright.findings
    assert rotated.score > upright.score and rotated.score >= 80
    assert "capped_by" not in rotated.subscores


def test_each_figure_is_judged_and_named(rows: list[dict]) -> None:
    row = rows[2]
    assert row["plot_figures"] == 2, row.get("render_error")
    res = design.judge_plot(row["layout_json"], row["screenshot"]["bytes"])
    assert "figure 2: 1 of 1 axes empty" in res.findings, res.findings
    assert res.subscores["checks"]["empty_axes"] == 0.5
