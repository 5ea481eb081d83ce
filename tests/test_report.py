"""The HTML report, opened in real Chromium: no errors, every thumbnail decoded, rationale on click."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from aesdata.executor import LocalExecutor
from aesdata.report import build_report, collect, render
from aesdata.spec import load_pipeline
from tests.frame_helpers import write_corpus
from tests.select_helpers import build_scored_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs a Chromium on PATH")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_scored_run(tmp_path_factory.mktemp("report"), 40)


@pytest.fixture(scope="module")
def report(run: Path) -> tuple[Path, dict]:
    data = collect(run)
    out = run / "report.html"
    out.write_text(render(data))
    return out, data


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _open(browser, path: Path):
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: errors.append(f"network: {r.url}") if not r.url.startswith(("file:", "data:")) else None,
    )
    page.goto(path.as_uri())
    return page, errors


def test_report_is_self_contained_and_small(report: tuple[Path, dict]) -> None:
    out, data = report
    text = out.read_text()
    assert (
        not re.search(r"""(src|href)=["']https?:""", text) and "@import" not in text and "<link" not in text
    )
    assert out.stat().st_size < 1_500_000
    assert {s["name"] for s in data["sections"]} >= {"Best", "Worst", "Borderline", "Failed", "website"}
    best = [
        data["rows"][i]["_score"] for i in next(s for s in data["sections"] if s["name"] == "Best")["ids"]
    ]
    assert best == sorted(best, reverse=True)
    assert all(
        data["rows"][i]["thumb"] is None
        for i in next(s for s in data["sections"] if s["name"] == "Failed")["ids"]
    )
    assert max(g["size"] for g in data["clusters"]) == 4


def test_report_opens_cleanly_in_chromium(report: tuple[Path, dict], browser) -> None:
    out, data = report
    page, errors = _open(browser, out)
    tabs = page.locator("#tabs .tab")
    assert tabs.count() == len([s for s in data["sections"] if s["ids"]])
    for k in range(tabs.count()):  # every tab's thumbnails are present and decoded
        tabs.nth(k).click()
        section = [s for s in data["sections"] if s["ids"]][k]
        want = sum(1 for i in section["ids"] if data["rows"][i]["thumb"])
        widths = page.eval_on_selector_all(
            "#cards img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"
        )
        assert len(widths) == want and all(w > 0 for w in widths), section["name"]
        assert page.locator("#cards .card").count() == len(section["ids"])
    cluster_imgs = page.eval_on_selector_all("#cluster-list img", "imgs => imgs.map(i => i.naturalWidth)")
    assert (
        len(cluster_imgs)
        == sum(1 for g in data["clusters"] for i in g["ids"] if data["rows"][i]["thumb"])
        > 0
    )
    assert all(w > 0 for w in cluster_imgs)
    assert page.locator("#funnel-rules .funnel-row").count() == len(data["funnel"]["rules"])
    assert page.locator("#charts svg").count() == len(data["scores"])

    tabs.nth(0).click()
    first = page.locator("#cards .card").first
    row = data["rows"][first.get_attribute("data-id")]
    first.click()
    dialog = page.locator("#detail")
    assert dialog.is_visible()
    assert row["static_rationale"] in dialog.inner_text() and row["vlm_rationale"] in dialog.inner_text()
    page.locator("#close").click()
    assert not dialog.is_visible()
    assert errors == []


def test_report_of_a_run_without_judges(tmp_path: Path, browser) -> None:
    write_corpus(tmp_path, 6)
    (tmp_path / "p.yaml").write_text(
        "name: plain\nstages:\n  - stage: read_corpus\n    path: corpus.jsonl\n  - stage: export\n"
    )
    run = tmp_path / "runs" / "plain"
    LocalExecutor(load_pipeline(tmp_path / "p.yaml"), run, workers=1).run()
    page, errors = _open(browser, build_report(run))
    assert "No score columns" in page.inner_text("#charts") and "No select step ran" in page.inner_text(
        "#funnel-rules"
    )
    assert errors == []
    assert json.loads(page.evaluate("JSON.stringify(D.totals)"))["rows"] == 6
