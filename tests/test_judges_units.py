"""Judges without a browser: contrast maths, layout checks, screenshot mode, plot checks, rubrics, rewards."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from aesdata.judges import design, execution
from aesdata.judges.reward import RewardConfig, grpo_ar, webgen_r1
from aesdata.judges.rubrics import OPENDESIGN, PLOTBENCH, WEBGEN, get_rubric
from aesdata.judges.vlm import parse_answer


def _png(draw_fn, size=(1280, 960), bg=(250, 250, 250)) -> bytes:
    im = Image.new("RGB", size, bg)
    draw_fn(ImageDraw.Draw(im))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _el(tag, x, y, w, h, text="", color="rgb(20, 20, 20)", bg="rgb(255, 255, 255)", size=16, **kw):
    return {
        "tag": tag,
        "x": x,
        "y": y,
        "w": w,
        "h": h,
        "text": text,
        "color": color,
        "bg": bg,
        "font_size": size,
        "font_family": "Arial",
        "font_weight": 400,
        "z": 0,
        "clickable": tag in ("a", "button"),
        "overflow_x": False,
        **kw,
    }


def test_wcag_contrast_ratio_known_values():
    assert design.contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0, rel=1e-3)
    assert design.contrast_ratio((119, 119, 119), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)
    assert design.parse_color("rgba(10, 20, 30, 0.5)") == (10, 20, 30, 0.5)
    assert design.parse_color("#fff") == (255, 255, 255, 1.0)


def test_layout_checks_find_each_defect():
    clean = [
        _el("h1", 64, 40, 600, 48, "Welcome", size=40),
        _el("p", 64, 100, 600, 60, "Body text here"),
        _el("button", 64, 180, 120, 40, "Go", color="rgb(255,255,255)", bg="rgb(37,99,235)"),
    ]
    assert design.check_contrast(clean, None).findings == []
    low = clean + [_el("p", 64, 260, 600, 40, "faint", color="rgb(220,220,220)")]
    c = design.check_contrast(low, None)
    assert c.metrics["failing"] == 1 and "1 text block below 4.5:1" in c.findings[0]
    over = clean + [_el("button", 100, 50, 200, 30, "Subscribe")]
    o = design.check_overlap(over)
    assert o.metrics["overlapping_pairs"] == 1 and o.findings == [
        'heading "Welcome" overlaps button "Subscribe"'
    ]
    nested = clean[:2] + [_el("a", 70, 110, 40, 20, "link")] + clean[2:]  # right after its paragraph: nesting
    assert design.check_overlap(nested).metrics["overlapping_pairs"] == 0
    wide = design.check_overflow(clean + [_el("div", 0, 300, 1900, 40, "banner")], 1900, 1280)
    assert wide.score < 0.6 and "scrolls horizontally" in wide.findings[0]
    axe = design.check_contrast(clean, [{"text": "<p>x</p>", "ratio": 2.1}])
    assert axe.metrics == {"failing": 1, "text_blocks": 3, "source": "axe-core"}


def test_page_score_ranks_clean_above_defective_and_is_deterministic():
    layout = {
        "document": {"width": 1280, "height": 960, "viewport_width": 1280},
        "elements": [
            _el("h1", 64, 40, 600, 48, "Welcome", size=40),
            _el("p", 64, 100, 600, 60, "Body text here"),
        ],
    }
    shot = _png(
        lambda d: (
            d.rectangle([64, 40, 664, 88], fill=(30, 30, 30)),
            d.rectangle([64, 100, 664, 160], fill=(90, 90, 90)),
        )
    )
    a = design.judge_page(json.dumps(layout), shot)
    b = design.judge_page(json.dumps(layout), shot)
    assert a.score == b.score and 0 <= a.score <= 100
    assert a.subscores["alignment"] is None and a.subscores["not_measured"]
    bad = {
        **layout,
        "elements": layout["elements"] + [_el("p", 64, 200, 600, 30, "faint", color="rgb(240,240,240)")],
    }
    assert design.judge_page(json.dumps(bad), shot).score < a.score


def test_screenshot_mode_blank_vs_designed():
    blank = design.judge_screenshot(_png(lambda d: None))

    def page(d):
        d.rectangle([0, 0, 1280, 120], fill=(30, 41, 59))
        for i in range(6):
            d.rectangle(
                [64 + (i % 3) * 400, 180 + (i // 3) * 300, 400 + (i % 3) * 400, 420 + (i // 3) * 300],
                fill=(255, 255, 255),
                outline=(200, 200, 210),
            )
            d.rectangle(
                [90 + (i % 3) * 400, 200 + (i // 3) * 300, 300 + (i % 3) * 400, 230 + (i // 3) * 300],
                fill=(37, 99, 235),
            )

    designed = design.judge_screenshot(_png(page))
    assert blank.mode == "screenshot" and designed.score > blank.score + 20
    assert any("blank" in f for f in blank.findings)
    assert "contrast" in " ".join(designed.subscores["not_measured"])


def _mpl_figure(**axes_overrides: object) -> dict:
    """A figure description in the plot sandbox's ``layout_json`` format (see aesdata/render/plot_worker.py)."""
    axes = {
        "box": [80.0, 50.0, 500.0, 350.0],
        "has_data": True,
        "n_lines": 2,
        "n_patches": 0,
        "n_collections": 0,
        "n_images": 0,
        "n_points": 40,
        "title": "Sales",
        "xlabel": "Month",
        "ylabel": "Sales (k$)",
        "n_texts": 1,
        "xtick_labels": [[90.0 + 50 * i, 410.0, 20.0, 14.0] for i in range(10)],
        "ytick_labels": [[50.0, 60.0 + 60 * i, 25.0, 14.0] for i in range(5)],
        "xtick_overlaps": 0,
        "ytick_overlaps": 0,
        "clipped_labels": 0,
        "legend": {"box": [480.0, 60.0, 90.0, 40.0], "n_entries": 2, "covered_data": 0},
    }
    axes.update(axes_overrides)
    return {
        "n_figures": 1,
        "figures": [{"library": "matplotlib", "width": 900, "height": 560, "dpi": 100.0, "axes": [axes]}],
    }


def test_plot_checks():
    good = design.judge_plot(_mpl_figure(), None)
    empty = _mpl_figure(has_data=False, n_lines=0, n_points=0)
    cases = (
        (_mpl_figure(xtick_labels=_overlapping_ticks(10, 4), xtick_overlaps=3), "tick labels overlap"),
        (empty, "empty"),
        (
            _mpl_figure(legend={"box": [100.0, 60.0, 90.0, 40.0], "n_entries": 2, "covered_data": 7}),
            "legend covers",
        ),
    )
    for bad, word in cases:
        res = design.judge_plot(bad, None)
        assert res.score < good.score, word
        assert any(word in f for f in res.findings), (word, res.findings)
    good_pixels = design.judge_plot(_mpl_figure(), None)
    assert good_pixels.score >= 90 and "capped_by" not in good_pixels.subscores
    ex = execution.judge_plot("ok", None, 1, empty)
    assert not ex.passed and "no axes with data" in ex.findings[0]["message"]
    assert execution.judge_plot("ok", None, 1, _mpl_figure()).passed
    plotly = {"figures": [{"library": "plotly", "n_traces": 1, "n_traces_with_data": 1, "title": "T"}]}
    assert execution.judge_plot("ok", None, 1, plotly).passed


def _overlapping_ticks(n: int, n_overlapping: int) -> list[list[float]]:
    """``n`` x tick label boxes where the last ``n_overlapping`` pile onto their neighbours (long rotated-less
    labels), as the sandbox writes them."""
    boxes = [[90.0 + 48 * i, 410.0, 30.0, 14.0] for i in range(n - n_overlapping)]
    start = 90.0 + 48 * (n - n_overlapping)
    boxes += [[start + 10 * i, 410.0, 60.0, 14.0] for i in range(n_overlapping)]
    return boxes


def test_plot_penalties_scale_with_severity():
    """A legend over a large share of the data or unreadable tick labels drop a plot below the good bar (75);
    a legend touching a few points or one overlapping pair costs little; a clean plot stays >= 90."""
    clean = design.judge_plot(_mpl_figure(), None)
    assert clean.score >= 90

    def legend(covered: int, points: int = 1098) -> design.DesignResult:
        box = {"box": [200.0, 150.0, 250.0, 180.0], "n_entries": 6, "covered_data": covered}
        return design.judge_plot(_mpl_figure(n_points=points, legend=box), None)

    grazing, hiding = legend(5), legend(477)  # the demo's mpl-temperature-legend.py hides 477 of 1098
    assert grazing.score >= 90 and hiding.score < 75 < grazing.score
    assert hiding.subscores["capped_by"] == "legend"
    assert "legend covers 477 of 1098 data points (43%)" in hiding.findings
    assert legend(50).score > legend(120).score > hiding.score  # more hidden, lower score

    def ticks(n_overlapping: int) -> design.DesignResult:
        return design.judge_plot(_mpl_figure(xtick_labels=_overlapping_ticks(20, n_overlapping)), None)

    one_pair, unreadable = ticks(2), ticks(20)
    assert 75 < one_pair.score < clean.score and unreadable.score < 75
    assert unreadable.subscores["capped_by"] == "tick_labels"
    assert any("20 of 20 x tick labels overlap" in f for f in unreadable.findings)
    assert ticks(6).score < one_pair.score


def test_plotly_legend_over_data_is_measured():
    """The sandbox's plotly description (estimated plot area, legend box and the data under it) feeds the
    same legend check as matplotlib's; a legend beside the plot costs nothing."""

    def plotly(legend: dict | None) -> dict:
        fig = {
            "library": "plotly",
            "n_traces": 2,
            "n_traces_with_data": 2,
            "title": "Oslo weather 2023",
            "plot_box": [80.0, 100.0, 840.0, 327.0],
            "n_points": 730,
            "legend": legend,
        }
        return {"n_figures": 1, "figures": [fig]}

    over = plotly({"box": [290.0, 189.2, 505.0, 83.2], "n_entries": 2, "covered_data": 97, "estimated": True})
    beside = plotly({"box": [60.0, 73.1, 389.0, 32.9], "n_entries": 2, "covered_data": 0, "estimated": True})
    bad, good = design.judge_plot(over, None), design.judge_plot(beside, None)
    assert good.score >= 90 and bad.score < 75
    assert any("legend covers 97 of 730" in f for f in bad.findings)


def test_execution_html_rules():
    ok = execution.judge_html(
        "ok",
        None,
        json.dumps([{"type": "console", "text": "Failed to load resource", "blocked_resource": True}]),
        b"png",
        [],
    )
    assert ok.passed and ok.score == 1.0 and ok.findings == []
    err = execution.judge_html(
        "js_error", "x", json.dumps([{"type": "pageerror", "text": "ReferenceError: y"}]), b"png", []
    )
    assert not err.passed and err.score == -1.0
    lint = execution.judge_html(
        "ok",
        None,
        "[]",
        b"png",
        [
            {"rule": "tag-pair", "message": "Tag must be paired", "line": 3},
            {"rule": "title-require", "message": "title", "line": 1},
        ],
    )
    assert not lint.passed and [f["severity"] for f in lint.findings] == ["error", "warning"]


def test_rubrics_and_answer_parsing():
    assert get_rubric("opendesign").id == "opendesign@1"
    with pytest.raises(Exception, match="Unknown rubric"):
        get_rubric("nope")
    total, subs, fb = OPENDESIGN.read(
        parse_answer(
            '<think>hmm</think>Sure! ```json\n{"alignment_score": 35, "aesthetics_score": 25, "structure_score": 20, '
            '"total_score": 99, "feedback": "ok"}\n```',
            OPENDESIGN,
        )
    )
    assert (
        total == 80 and subs["alignment_score"] == 35 and fb == "ok"
    )  # the model's wrong total is not trusted
    loose = parse_answer(
        "alignment_score: 30/40\naesthetics_score: 20\nstructure_score = 10\nfeedback: fine", OPENDESIGN
    )
    assert OPENDESIGN.read(loose)[0] == 60
    assert WEBGEN.read(parse_answer('{"score": 7, "feedback": ""}', WEBGEN))[0] == 5  # clipped to the scale
    assert PLOTBENCH.read({"vis_score": 80, "task_score": 60})[0] == 70  # mean of the two
    with pytest.raises(ValueError):
        parse_answer("I cannot grade this image.", OPENDESIGN)
    schema = OPENDESIGN.json_schema()
    assert set(schema["required"]) >= {"alignment_score", "total_score", "feedback"}


def test_grpo_ar_gate_and_normalisation():
    cfg = RewardConfig()
    row = {"exec_score": 1.0, "static_score": 80.0, "interactive_score": 2.0, "interactive_max": 3}
    r, parts = grpo_ar(row, cfg)
    assert r == pytest.approx(0.1 + 0.8 * 0.8 + 0.1 * 2 / 3)
    assert parts["static_scale"] == 100 and parts["interactive_scale"] == 3
    failed, parts = grpo_ar({**row, "exec_score": -1.0}, cfg)
    assert failed == pytest.approx(-0.1) and parts["gated"]
    assert grpo_ar({**row, "exec_score": -1.0}, RewardConfig(gate_reward=-1))[0] == -1
    vlm = grpo_ar({**row, "vlm_score": 4.0}, cfg, vlm_scale=5)[0]
    assert vlm == pytest.approx(0.1 + 0.8 * 0.8 + 0.1 * 2 / 3)  # 4/5 from the VLM instead of the design judge
    assert grpo_ar(row, RewardConfig(static_source="vlm"))[1]["static"] is None


def test_webgen_r1_cascade():
    cfg = RewardConfig(formula="webgen_r1")
    assert webgen_r1({"code": None}, cfg)[0] == 0.0
    assert webgen_r1({"code": "x", "render_status": "timeout"}, cfg)[0] == 0.0
    r, parts = webgen_r1(
        {"code": "x", "render_status": "ok", "static_score": 80.0, "console_errors_json": "[]"},
        cfg,
        format_ok=True,
    )
    assert r == pytest.approx(4.0 + 0.1 + 0.1) and parts["stage"] == "scored"
    r2, _ = webgen_r1(
        {
            "code": "x",
            "render_status": "js_error",
            "static_score": 80.0,
            "console_errors_json": json.dumps([{"type": "pageerror", "text": "boom"}]),
        },
        cfg,
        format_ok=False,
    )
    assert r2 == pytest.approx(4.0)


def test_pixels_measures_are_sane():
    from aesdata.judges import pixels

    grey = np.full((100, 100, 3), 128, dtype=np.uint8)
    assert pixels.colourfulness(grey) == pytest.approx(0.0)
    noisy = np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8)
    assert pixels.colourfulness(noisy) > 50 and pixels.edge_density(noisy) > 0.5
    assert pixels.changed_share(grey, grey) == 0.0
    other = grey.copy()
    other[:10] = 0
    assert pixels.changed_share(grey, other) == pytest.approx(0.1)
    mask = np.zeros((100, 100), dtype=bool)
    mask[:10] = True
    assert pixels.changed_share(grey, other, mask) == 0.0


def _unstyled_page(family: str, x: float, line_h: float, link: str) -> list[dict]:
    """A tiny page layout: heading, wrapped paragraph, one-line list items and a link."""
    return [
        _el("h1", x, 20, 1280 - 2 * x, 37, "Product Analytics", size=32, font_family=family),
        _el(
            "p",
            x,
            80,
            1280 - 2 * x,
            3 * 16 * line_h,
            "Pulse helps you track events. " * 4,
            font_family=family,
        ),
        *[
            _el("li", x + 40, 160 + 30 * i, 600, 16 * line_h, f"Feature number {i}", font_family=family)
            for i in range(4)
        ],
        _el("a", x, 300, 80, 18, "Pricing", color=link, font_family=family),
    ]


def test_styling_checks_tell_default_styling_from_designed():
    plain = _unstyled_page('"Times New Roman"', 8, 1.125, "rgb(0, 0, 238)")
    styled = _unstyled_page("Inter, system-ui, sans-serif", 160, 1.6, "rgb(79, 70, 229)")
    for el in styled[2:]:
        el["w"] = min(el["w"], 640)
    styled[1]["w"], styled[1]["h"] = 640, 2 * 16 * 1.6  # a 60-70 character measure

    t_plain, t_styled = design.check_typeface(plain), design.check_typeface(styled)
    assert t_plain.score <= 0.25 and t_styled.score == 1.0
    assert "browser default font (Times New Roman) for 100% of text" in t_plain.findings
    arial = design.check_typeface(_unstyled_page("Arial, sans-serif", 160, 1.6, "rgb(0,0,0)"))
    assert arial.score == pytest.approx(0.5) and "only stock web-safe fonts (arial)" in arial.findings[0]

    r_plain, r_styled = design.check_readability(plain), design.check_readability(styled)
    assert r_styled.score == 1.0 and r_styled.findings == []
    assert r_plain.score < 0.3
    assert any("default line spacing (1.12x" in f for f in r_plain.findings)
    assert any(f.startswith("lines of ~158 characters") for f in r_plain.findings)

    s_plain, s_styled = design.check_styling(plain, 1280, 3.0), design.check_styling(styled, 1280, 3.0)
    assert s_styled.score == 1.0 and s_styled.findings == []
    assert s_plain.metrics["default_links"] == 1 and s_plain.metrics["plain_palette"]
    assert "1 link in the browser's default blue" in s_plain.findings
    assert s_plain.score < 0.2

    # the whole judge ranks the designed page clearly above the default-styled one
    doc = {"document": {"width": 1280, "height": 960, "viewport_width": 1280}}
    p = design.judge_page({**doc, "elements": plain}, None)
    s = design.judge_page({**doc, "elements": styled}, None)
    assert s.score - p.score >= 15
    assert p.subscores["checks"]["typeface"] < 0.3


def test_execution_gate_fails_broken_markup_and_reports_style_rules():
    """HTMLHint errors that break a page fail it; a duplicate id or a late doctype is a finding only, and
    the rule set is configurable."""
    dup = [
        {"rule": "id-unique", "message": "The id value [ card ] must be unique.", "line": 9},
        {"rule": "doctype-first", "message": "Doctype must be declared first.", "line": 1},
    ]
    style = execution.judge_html("ok", None, "[]", b"png", dup)
    assert style.passed and {f["severity"] for f in style.findings} == {"warning"}
    assert any("id-unique" in f["message"] for f in style.findings)
    strict = execution.judge_html("ok", None, "[]", b"png", dup, fatal_rules=("id-unique",))
    assert not strict.passed
    broken = execution.judge_html("ok", None, "[]", b"png", [{"rule": "tag-pair", "message": "x", "line": 2}])
    assert not broken.passed and "id-unique" not in execution.FATAL_RULES


def test_rotated_tick_labels_are_judged_on_their_outlines():
    """Eight long labels rotated 35 degrees: their upright boxes overlap, their real outlines do not (the
    sandbox writes both); a few overlapping labels cost a few points, not half the score."""
    import math

    boxes, outlines = [], []
    for i in range(8):
        cx, cy, w, h, t = 120.0 + 60 * i, 440.0, 120.0, 14.0, math.radians(35)
        c, s = math.cos(t), math.sin(t)
        corners = [
            [cx + dx * c + dy * s, cy - dx * s + dy * c]
            for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))
        ]
        xs, ys = [p[0] for p in corners], [p[1] for p in corners]
        boxes.append([min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)])
        outlines.append(corners)
    upright = design.judge_plot(_mpl_figure(xtick_labels=boxes), None)
    rotated = design.judge_plot(_mpl_figure(xtick_labels=boxes, xtick_outlines=outlines), None)
    assert any("8 of 8 x tick labels overlap" in f for f in upright.findings)
    assert not any("overlap" in f for f in rotated.findings) and rotated.score >= 90
    few = design.judge_plot(_mpl_figure(xtick_labels=_overlapping_ticks(20, 2)), None)
    assert few.score >= 85


def test_plot_findings_read_as_english_and_figures_are_judged_one_by_one():
    bare = {"title": "", "xlabel": "", "ylabel": ""}
    fig = _mpl_figure(**bare)
    fig["figures"][0]["axes"] *= 5
    res = design.judge_plot(fig, None)
    assert "5 axes without a title or axis labels" in res.findings
    assert not any("axess" in f for f in res.findings)
    clean, empty = _mpl_figure(), _mpl_figure(has_data=False, n_lines=0, n_points=0)
    two = {"n_figures": 2, "figures": clean["figures"] + empty["figures"]}
    both = design.judge_plot(two, None)
    assert "figure 2: 1 of 1 axes empty" in both.findings
    # each figure counts once: one empty figure of two costs half of the empty-axes check
    assert both.subscores["checks"]["empty_axes"] == 0.5
    assert design.judge_plot(clean, None).score > both.score > design.judge_plot(empty, None).score


def test_rich_colour_is_not_garish_but_pure_primaries_are():
    def bands(colours):
        def draw(d):
            for i, c in enumerate(colours):
                d.rectangle([i * 160, 0, i * 160 + 159, 959], fill=c)

        return design.judge_screenshot(_png(draw))

    rich = bands(["#264653", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#8ab17d", "#6d597a", "#b56576"])
    loud = bands(["#ff0000", "#0000ff", "#ffff00", "#00ff00", "#ff0000", "#0000ff", "#ffff00", "#00ff00"])
    assert rich.subscores["checks"]["colourfulness"] == 1.0
    assert any("garish" in f for f in loud.findings) and not any("garish" in f for f in rich.findings)


def test_appeal_model_is_versioned_documented_and_deterministic():
    from aesdata.judges import appeal

    model = appeal.load_model()
    assert model["version"] == "appeal@1" and model["provenance"]["cv_spearman"] >= 0.5
    assert "train_means_list.csv" in model["provenance"]["data"]
    assert "test_list.csv" in model["provenance"]["not_used"]
    assert len(model["coef"]) == len(model["features"]) + len(model["squared"])

    def page(draw):
        return _png(draw, bg=(255, 255, 255))

    def plain(d):  # the browser-default look: black text and blue underlined links at the top left
        for i in range(30):
            d.text(
                (8, 8 + 18 * i),
                "Lorem ipsum dolor sit amet, consectetur adipiscing elit " * 2,
                fill=(0, 0, 0),
            )
            d.line([(8, 22 + 18 * i), (200, 22 + 18 * i)], fill=(0, 0, 238))

    def designed(d):  # a dark hero with a photo-like gradient block and a short, large headline
        d.rectangle([0, 0, 1279, 959], fill=(17, 24, 39))
        for y in range(200, 700):
            d.line([(640, y), (1180, y)], fill=(40 + y // 6, 90 + y // 10, 160 - y // 8))
        d.rectangle([100, 300, 520, 380], fill=(240, 240, 245))

    a_plain, _ = appeal.appeal(appeal.view_of_png(page(plain)))
    a_designed, metrics = appeal.appeal(appeal.view_of_png(page(designed)))
    assert 0.0 <= a_plain < a_designed <= 1.0
    assert appeal.appeal(appeal.view_of_png(page(designed)))[0] == a_designed
    assert metrics["top"] and all(isinstance(n, str) for n, _ in metrics["top"])
