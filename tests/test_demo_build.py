"""The README's demo, end to end: `aesdata build demo` on the bundled corpus with every stage.

One build (module fixture, ~2 minutes) answers the done-when checks that need the real corpus:
every candidate rendered with a status, the judges rank clean candidates above defective ones,
labelled near-copies share a dedup cluster, SQL answers over the run, the export loads with
images decoded, the report opens cleanly in Chromium, and a rerun redoes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aesdata.query import run_sql
from tests.frame_helpers import REPO, cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    run = tmp_path_factory.mktemp("demo") / "run"
    res = cli("build", "demo", "--out", str(run), cwd=REPO, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return run, res.stdout


def _rows(run: Path, sql: str) -> list[dict]:
    return run_sql(run, sql).to_pylist()


def test_build_prints_summary_funnel_and_dataset(demo: tuple[Path, str]) -> None:
    run, stdout = demo
    for text in ("Build steps", "Samples by category", "Selection funnel", "Dataset:"):
        assert text in stdout, text


def test_every_candidate_has_a_render_status(demo: tuple[Path, str]) -> None:
    run, _ = demo
    rows = _rows(
        run,
        "SELECT render_status, render_error, screenshot IS NOT NULL AS shot, meta_json->>'defects' AS d FROM samples",
    )
    assert len(rows) == sum(
        1 for _ in (REPO / "aesdata" / "data" / "demo" / "corpus" / "candidates.jsonl").open()
    )
    assert all(r["render_status"] for r in rows)
    for r in rows:
        if r["render_status"] in ("ok", "js_error"):
            assert r["shot"], r
        else:  # a failed render is a status with an error, never a placeholder image
            assert r["render_error"] and not r["shot"], r
    failed = [r for r in rows if r["render_status"] not in ("ok", "js_error")]
    assert failed and all(json.loads(r["d"]) for r in failed)  # only labelled-defective rows fail


def test_judges_rank_clean_above_defective(demo: tuple[Path, str]) -> None:
    run, _ = demo
    pairs = _rows(
        run,
        """WITH t AS (SELECT instruction_id, meta_json->>'quality' q, meta_json->>'defects' d, coalesce(reward, -1) r
                    FROM samples)
           SELECT a.r < b.r AS right_order FROM t a JOIN t b USING (instruction_id)
           WHERE a.q = 'defective' AND b.q = 'polished' AND b.d = '[]'""",
    )
    assert len(pairs) >= 20
    share = sum(p["right_order"] for p in pairs) / len(pairs)
    assert share >= 0.9, share


def test_near_copies_share_a_cluster(demo: tuple[Path, str]) -> None:
    run, _ = demo
    rows = _rows(
        run,
        "SELECT meta_json->>'code_file' f, meta_json->>'near_copy_of' o, cluster_id, instruction_id FROM samples",
    )
    cluster = {r["f"]: r["cluster_id"] for r in rows}
    copies = [r for r in rows if r["o"]]
    assert len(copies) >= 4
    missed = [r["f"] for r in copies if cluster[r["f"]] != cluster[r["o"]]]
    assert not missed, missed
    spans = _rows(run, "SELECT cluster_id FROM samples GROUP BY 1 HAVING count(DISTINCT instruction_id) > 1")
    assert not spans, spans


def test_sql_lists_clusters_and_groups(demo: tuple[Path, str]) -> None:
    run, _ = demo
    res = cli(
        "sql",
        str(run),
        "SELECT cluster_id, count(*) AS n, list(meta_json->>'code_file') AS members "
        "FROM samples GROUP BY 1 HAVING count(*) > 1",
        "--format",
        "json",
        cwd=REPO,
    )
    assert res.returncode == 0 and len(res.stdout.splitlines()) >= 4
    by_kind = _rows(run, "SELECT kind, count(*) n FROM samples GROUP BY kind ORDER BY kind")
    assert [r["kind"] for r in by_kind] == ["html", "plot"]


def test_export_loads_with_images(demo: tuple[Path, str]) -> None:
    import datasets
    from PIL import Image

    ds = datasets.load_dataset(str(run_dataset(demo)))
    assert set(ds) >= {"train"}
    row = ds["train"][0]
    assert isinstance(row["screenshot"], Image.Image) and row["screenshot"].size[0] >= 600
    assert row["messages"][0]["role"] == "user" and row["prompt"][0]["content"] == row["instruction"]
    kept = _rows(demo[0], "SELECT count(*) n FROM samples WHERE selected")[0]["n"]
    assert sum(len(split) for split in ds.values()) == kept


def run_dataset(demo: tuple[Path, str]) -> Path:
    return demo[0] / "dataset"


def test_report_opens_cleanly_in_chromium(demo: tuple[Path, str]) -> None:
    from playwright.sync_api import sync_playwright

    from aesdata.browser import find_browser

    run, _ = demo
    res = cli("report", str(run), cwd=REPO)
    assert res.returncode == 0, res.stderr
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(find_browser().path), args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto((run / "report.html").as_uri())
        page.wait_for_load_state("load")
        images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
        browser.close()
    assert not errors, errors
    assert len(images) >= 12 and all(done and width > 0 for done, width in images)


def test_rerun_redoes_nothing(demo: tuple[Path, str]) -> None:
    run, _ = demo
    res = cli("build", "demo", "--out", str(run), cwd=REPO, timeout=300)
    assert res.returncode == 0
    manifest = json.loads((run / "manifest.json").read_text())
    redone = [s["id"] for s in manifest["steps"] if s["skipped_shards"] != s["shards"]]
    assert not redone, redone
