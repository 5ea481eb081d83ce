"""Selection: SQL filters, dedup representatives, best-of-N, splits, the funnel, and redo-selection-only."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pyarrow as pa
import pytest

from aesdata.errors import AesdataError
from aesdata.executor import LocalExecutor
from aesdata.query import run_sql
from aesdata.spec import load_pipeline
from aesdata.stage import StageContext
from aesdata.stages.select import Select, SelectConfig, assign_splits, parse_filter
from tests.select_helpers import SCORED_PIPE, write_scored_corpus


class Tables:
    """A ShardReader over in-memory tables (what the executor hands a global stage)."""

    def __init__(self, *tables: pa.Table) -> None:
        self.tables = tables

    def __iter__(self):
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    def read_all(self) -> pa.Table:
        return pa.concat_tables(self.tables)


def _rows() -> pa.Table:
    # instruction a: two candidates (best-of-2); b: three, two of them near-duplicates; c: failed render
    return pa.Table.from_pylist(
        [
            {
                "id": "a1",
                "instruction_id": "a",
                "kind": "html",
                "category": "website",
                "render_status": "ok",
                "exec_pass": True,
                "static_score": 80.0,
                "cluster_id": "a1",
            },
            {
                "id": "a2",
                "instruction_id": "a",
                "kind": "html",
                "category": "website",
                "render_status": "ok",
                "exec_pass": True,
                "static_score": 90.0,
                "cluster_id": "a2",
            },
            {
                "id": "b1",
                "instruction_id": "b",
                "kind": "html",
                "category": "game_dev",
                "render_status": "ok",
                "exec_pass": True,
                "static_score": 70.0,
                "cluster_id": "b1",
            },
            {
                "id": "b2",
                "instruction_id": "b",
                "kind": "html",
                "category": "game_dev",
                "render_status": "ok",
                "exec_pass": True,
                "static_score": 95.0,
                "cluster_id": "b1",
            },
            {
                "id": "b3",
                "instruction_id": "b",
                "kind": "html",
                "category": "game_dev",
                "render_status": "ok",
                "exec_pass": False,
                "static_score": 99.0,
                "cluster_id": "b3",
            },
            {
                "id": "c1",
                "instruction_id": "c",
                "kind": "plot",
                "category": "matplotlib",
                "render_status": "exec_error",
                "exec_pass": False,
                "static_score": None,
                "cluster_id": "c1",
            },
            {
                "id": "d1",
                "instruction_id": "d",
                "kind": "plot",
                "category": "matplotlib",
                "render_status": "ok",
                "exec_pass": True,
                "static_score": 40.0,
                "cluster_id": "d1",
            },
        ]
    )


def _select(tmp_path: Path, **cfg) -> tuple[dict[str, dict], dict]:
    ctx = StageContext(spec_dir=tmp_path, run_dir=tmp_path, stage_dir=tmp_path / "select")
    stage = Select(SelectConfig(**cfg), ctx)
    t = _rows()
    out = stage.run_global(Tables(t.slice(0, 4), t.slice(4)))
    return {r["id"]: r for r in out.to_pylist()}, stage.summarize(tmp_path)["funnel"]


def test_filters_dedup_best_of_n_and_funnel(tmp_path: Path) -> None:
    rows, funnel = _select(
        tmp_path, filters=["renders_ok", "exec_pass"], where={"min50": "static_score >= 50"}, best_of_n=1
    )
    assert {i for i, r in rows.items() if r["selected"]} == {"a2", "b2"}
    assert (
        rows["c1"]["drop_reason"] == "renders_ok"
    )  # first rule that dropped it, although exec_pass fails too
    assert rows["b3"]["drop_reason"] == "exec_pass"  # best static score, but failed execution
    assert rows["d1"]["drop_reason"] == "min50"
    assert rows["b1"]["drop_reason"] == "duplicate" and rows["b2"]["is_representative"]
    assert rows["a1"]["drop_reason"] == "best_of_n" and rows["a1"]["is_representative"]
    assert all(r["drop_reason"] is None for r in rows.values() if r["selected"])
    assert {r["split"] for r in rows.values() if r["selected"]} == {"train"}
    assert [(s["rule"], s["in"], s["dropped"], s["out"]) for s in funnel["rules"]] == [
        ("renders_ok", 7, 1, 6),
        ("exec_pass", 6, 1, 5),
        ("min50", 5, 1, 4),
        ("duplicate", 4, 1, 3),
        ("best_of_n", 3, 1, 2),
    ]
    assert funnel["rules"][0]["description"].startswith("Rendered cleanly")
    game = next(g for g in funnel["by_group"] if g["category"] == "game_dev")
    assert game == {
        "kind": "html",
        "category": "game_dev",
        "rows": 3,
        "selected": 1,
        "dropped": {"exec_pass": 1, "duplicate": 1},
    }


def test_custom_score_and_no_dedup(tmp_path: Path) -> None:
    rows, funnel = _select(
        tmp_path, dedup="none", score="-static_score", best_of_n=1, where={"ok": "render_status = 'ok'"}
    )
    # lowest static score wins under score = -static_score; b1 and b2 are no longer collapsed as duplicates
    assert {i for i, r in rows.items() if r["selected"]} == {"a1", "b1", "d1"}
    assert all(r["is_representative"] is None for r in rows.values())
    assert [s["rule"] for s in funnel["rules"]] == ["ok", "best_of_n"]


def test_bad_rules_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(AesdataError, match=r"rule 'x'.*static_scor"):
        _select(tmp_path, where={"x": "static_scor > 1"})
    with pytest.raises(AesdataError, match="not true/false"):
        _select(tmp_path, where={"x": "static_score + 1"})
    with pytest.raises(AesdataError, match="No filter named 'nope'.*Known filters: .*aescode"):
        _select(tmp_path, filters=["nope"])
    with pytest.raises(AesdataError, match="does not load screenshot"):
        _select(tmp_path, where={"x": "screenshot IS NOT NULL"})
    with pytest.raises(AesdataError, match="only comments"):
        parse_filter("-- nothing here\n", "empty", "empty.sql")


def test_filter_search_prefers_the_pipeline_folder(tmp_path: Path) -> None:
    (tmp_path / "filters").mkdir()
    (tmp_path / "filters" / "renders_ok.sql").write_text(
        "-- stricter local rule\nrender_status = 'ok' AND static_score > 85;\n"
    )
    rows, funnel = _select(tmp_path, filters=["renders_ok"])
    assert {i for i, r in rows.items() if r["selected"]} == {"a2", "b2", "b3"}
    assert funnel["rules"][0]["description"] == "stricter local rule"


def test_splits_keep_clusters_and_instructions_together() -> None:
    pairs = [(f"i{k}", f"c{k // 3}") for k in range(600)] + [(f"i{k}", None) for k in range(600, 1000)]
    split = assign_splits(pairs, seed=1, splits={"train": 0.8, "test": 0.2})
    assert 0.74 < sum(s == "train" for s in split.values()) / len(split) < 0.86
    for c in range(200):
        assert len({split[f"i{k}"] for k in range(c * 3, c * 3 + 3)}) == 1
    assert assign_splits(pairs, seed=1, splits={"train": 0.8, "test": 0.2}) == split
    assert assign_splits(pairs, seed=2, splits={"train": 0.8, "test": 0.2}) != split
    # a smaller selection leaves every remaining instruction in the split it had
    fewer = assign_splits(pairs[::2], seed=1, splits={"train": 0.8, "test": 0.2})
    assert all(split[i] == s for i, s in fewer.items() if int(i[1:]) >= 600)


def test_changing_a_threshold_redoes_select_and_export_only(tmp_path: Path) -> None:
    write_scored_corpus(tmp_path, 24)
    (tmp_path / "filters").mkdir()
    (tmp_path / "filters" / "good.sql").write_text("-- good enough\nstatic_score >= 40\n")
    pipe_path = tmp_path / "p.yaml"
    pipe_path.write_text(
        SCORED_PIPE.format(filters="[renders_ok, good]", extra="    splits: {train: 0.75, test: 0.25}\n")
    )
    run = tmp_path / "runs" / "s"
    first = LocalExecutor(load_pipeline(pipe_path), run, workers=1).run()
    assert [s.skipped for s in first.steps] == [0, 0, 0, 0]
    kept = run_sql(run, "SELECT count(*) AS n FROM samples WHERE selected").column("n")[0].as_py()
    expect = run_sql(
        run,
        "SELECT count(DISTINCT cluster_id) AS n FROM samples WHERE render_status = 'ok' AND static_score >= 40",
    )
    assert kept == expect.column("n")[0].as_py() > 0
    # no cluster and no instruction crosses splits
    crossing = run_sql(
        run,
        "SELECT cluster_id FROM samples WHERE selected GROUP BY 1 HAVING count(DISTINCT split) > 1 UNION ALL "
        "SELECT instruction_id FROM samples WHERE selected GROUP BY 1 HAVING count(DISTINCT split) > 1",
    )
    assert crossing.num_rows == 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["summaries"]["select"]["funnel"]["selected"] == kept

    before = datasets.load_dataset(str(run / "dataset"))
    assert sum(before[s].num_rows for s in before) == kept

    (tmp_path / "filters" / "good.sql").write_text("-- good enough\nstatic_score >= 60\n")
    second = LocalExecutor(load_pipeline(pipe_path), run, workers=1).run()
    n = second.steps[0].shards
    assert [(s.id, s.skipped) for s in second.steps] == [
        ("read_corpus", n),
        ("test_inject_scores", n),
        ("select", 0),
        ("export", 0),
    ]
    assert run_sql(run, "SELECT count(*) AS n FROM samples WHERE selected").column("n")[0].as_py() < kept
    assert (
        run_sql(run, "SELECT count(*) AS n FROM samples WHERE selected AND static_score < 60")
        .column("n")[0]
        .as_py()
        == 0
    )
    # the re-export is what load_dataset reads (no stale cache of the earlier export)
    fresh = datasets.load_dataset(str(run / "dataset"))
    assert (
        sum(fresh[s].num_rows for s in fresh)
        == run_sql(run, "SELECT count(*) AS n FROM samples WHERE selected").column("n")[0].as_py()
    )
