"""Export: a Hugging Face dataset folder that ``load_dataset`` reads with images decoded, splits and a card."""

from __future__ import annotations

import io
from pathlib import Path

import datasets
import pytest
from huggingface_hub import DatasetCard
from PIL import Image

from aesdata.dataset_card import size_category
from aesdata.query import run_sql
from tests.select_helpers import build_scored_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_scored_run(
        tmp_path_factory.mktemp("export"), 40, export="    rows_per_shard: 4\n    license: cc-by-4.0\n"
    )


def test_load_dataset_reads_splits_with_images(run: Path) -> None:
    ds = datasets.load_dataset(str(run / "dataset"))
    expected = {
        r["split"]: r["ids"]
        for r in run_sql(
            run, "SELECT split, list(id ORDER BY id) AS ids FROM samples WHERE selected GROUP BY 1"
        ).to_pylist()
    }
    assert set(ds) == set(expected) == {"train", "test"}
    for split, ids in expected.items():
        assert sorted(ds[split]["id"]) == ids
        assert set(ds[split]["split"]) == {split}
    assert isinstance(ds["train"].features["screenshot"], datasets.Image)
    row = ds["train"][0]
    assert isinstance(row["screenshot"], Image.Image) and row["screenshot"].size == (640, 480)
    # SFT-ready conversational columns, as TRL reads them
    assert row["prompt"] == [{"role": "user", "content": row["instruction"]}]
    assert (
        row["completion"][0]["role"] == "assistant" and row["code"].strip() in row["completion"][0]["content"]
    )
    assert row["completion"][0]["content"].startswith("```html" if row["kind"] == "html" else "```python")
    assert row["messages"] == row["prompt"] + row["completion"]
    # scores and provenance travel with the rows
    src = run_sql(
        run,
        f"SELECT static_score, static_judge, rubric_version, cluster_id FROM samples WHERE id = '{row['id']}'",
    ).to_pylist()[0]
    assert {k: row[k] for k in src} == src


def test_files_are_sharded_per_split(run: Path) -> None:
    files = sorted(p.name for p in (run / "dataset" / "data").glob("*.parquet"))
    train = [f for f in files if f.startswith("train-")]
    n = len(train)
    assert n >= 2 and train == [f"train-{k:05d}-of-{n:05d}.parquet" for k in range(n)]
    assert any(f.startswith("test-") for f in files)
    assert not list((run / "dataset").rglob(".*"))  # no temporary files left


def test_card_metadata_and_body(run: Path) -> None:
    text = (run / "dataset" / "README.md").read_text()
    card = DatasetCard(text)
    assert card.data.license == "cc-by-4.0"
    assert card.data.task_categories == ["text-generation"] and card.data.size_categories == ["n<1K"]
    assert (
        "configs" not in card.data.to_dict()
    )  # splits come from the data/<split>-* file names (see export's docstring)
    kept = run_sql(run, "SELECT count(*) AS n FROM samples WHERE selected").column("n")[0].as_py()
    assert f"**{kept} rows** exported of 40 candidates" in text
    assert "| `renders_ok` | 40 |" in text and "| `duplicate` |" in text  # the funnel
    assert "render_status = 'ok'" in text  # the rules' SQL
    assert "| `static_judge` | design@1 |" in text and "opendesign-v1" in text
    assert "| pyarrow |" in text  # environment versions from the manifest
    assert "stage: test_inject_scores" in text  # the exact pipeline spec
    assert "![score histograms](images/score_histograms.png)" in text
    with Image.open(io.BytesIO((run / "dataset" / "images" / "score_histograms.png").read_bytes())) as img:
        assert img.format == "PNG" and img.width > 600


def test_size_categories() -> None:
    assert [size_category(n) for n in (0, 999, 1000, 358_000, 2_000_000)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "100K<n<1M",
        "1M<n<10M",
    ]
