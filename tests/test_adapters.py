"""Instruction sources: each public format ingested from a small fixture in its real field layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aesdata.errors import AesdataError
from aesdata.generate.adapters import detect_format, instruction_id, load_instructions, read_records
from aesdata.stage import StageContext
from aesdata.stages.instructions import Instructions, InstructionsConfig

FORMATS = Path(__file__).parent / "fixtures" / "formats"


def _read(tmp_path: Path, path: str, **cfg: object) -> list[dict]:
    ctx = StageContext(spec_dir=FORMATS, run_dir=tmp_path, stage_dir=tmp_path / "s")
    stage = Instructions(InstructionsConfig(path=path, **cfg), ctx)
    return [r for t in stage.read() for r in t.to_pylist()]


def test_opendesign(tmp_path: Path) -> None:
    rows = _read(tmp_path, "opendesign.jsonl")
    assert [r["category"] for r in rows] == [
        "website",
        "3d_design",
        "data_visualization",
        "game_dev",
        "ui_component",
    ]
    assert rows[0]["instruction"] == "Create a user interface for a life insurance website."
    assert rows[0]["id"] == rows[0]["instruction_id"] == instruction_id("html", rows[0]["instruction"])
    meta = json.loads(rows[1]["meta_json"])
    assert meta == {"source_id": 16, "source_category": "3D Design"}
    assert {r["kind"] for r in rows} == {"html"} and rows[0]["source"] == "opendesign.jsonl"


def test_webgen_bench(tmp_path: Path) -> None:
    rows = _read(tmp_path, "webgen_bench.jsonl")
    assert len(rows) == 2 and rows[0]["instruction"].startswith(
        "Please implement a website for a personal blog"
    )
    meta = json.loads(rows[0]["meta_json"])
    assert meta["application_type"] == "Personal Blog"
    assert meta["source_category"]["primary_category"] == "Content Presentation"
    assert meta["ui_instruct"][1]["expected_result"] == "Only articles with that tag are listed."
    assert rows[0]["category"] == "website"


def test_pandasplotbench_carries_csv_and_curates_reference(tmp_path: Path) -> None:
    rows = _read(tmp_path, "pandasplotbench.parquet")
    assert [r["kind"] for r in rows] == ["plot", "plot"] and rows[0]["category"] == "matplotlib"
    assert rows[0]["data_csv"].startswith("name,value\nalpha,3")
    assert "Create a bar chart of value by name." in rows[0]["instruction"]
    assert "Use a single blue color" in rows[0]["instruction"]
    assert 'pd.read_csv("data.csv")' in rows[0]["instruction"]  # the data-loading code is part of the request
    assert rows[0]["code"] is None and "plots_gt" not in json.loads(rows[0]["meta_json"])
    curated = _read(tmp_path, "pandasplotbench.parquet", keep_code=True)
    assert curated[0]["code"].startswith("import matplotlib.pyplot") and curated[0]["gen_backend"] == "corpus"
    assert curated[0]["id"] != curated[0]["instruction_id"]


def test_websight_curate_mode(tmp_path: Path) -> None:
    rows = _read(tmp_path, "websight.parquet", keep_code=True)
    assert rows[0]["instruction"].startswith("Bakery homepage")
    assert "Fresh Bakes" in rows[0]["code"] and rows[0]["gen_backend"] == "corpus"
    plain = _read(tmp_path, "websight.parquet")
    assert plain[0]["code"] is None and plain[0]["id"] == plain[0]["instruction_id"]


def test_generic_csv(tmp_path: Path) -> None:
    rows = _read(tmp_path, "instructions.csv")
    assert [(r["kind"], r["category"]) for r in rows] == [("html", "ui_component"), ("plot", "seaborn")]


def test_hf_dataset_folders(tmp_path: Path) -> None:
    import datasets

    saved = tmp_path / "saved"
    ds = datasets.Dataset.from_parquet(str(FORMATS / "websight.parquet")).cast_column(
        "image", datasets.Image()
    )
    ds.save_to_disk(str(saved))
    recs = list(read_records(saved))
    assert len(recs) == 2 and "image" not in recs[0]  # screenshots are not instruction data
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(FORMATS / "opendesign.jsonl", folder / "train.jsonl")
    got = list(load_instructions(folder))
    assert len(got) == 5 and got[2].category == "data_visualization"


def test_limit_duplicates_and_errors(tmp_path: Path) -> None:
    dup = tmp_path / "dup.jsonl"
    line = json.dumps({"instruction": "Make a clock page with a big readable dial."})
    dup.write_text(f"{line}\n{line}\n")
    assert len(_read(tmp_path, str(dup))) == 1
    ctx = StageContext(spec_dir=FORMATS, run_dir=tmp_path, stage_dir=tmp_path / "s", limit=2)
    assert sum(t.num_rows for t in Instructions(InstructionsConfig(path="opendesign.jsonl"), ctx).read()) == 2
    with pytest.raises(AesdataError, match="does not exist"):
        _read(tmp_path, "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"x": 1}\n')
    with pytest.raises(AesdataError, match="Cannot tell the format"):
        _read(tmp_path, str(bad))
    assert detect_format({"text": "<html>", "llm_generated_idea": "x"}) == "websight"
