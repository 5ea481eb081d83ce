"""Pipeline files: valid ones load; bad ones fail with file, line, key, expected and found."""

from __future__ import annotations

from pathlib import Path

import pytest

from aesdata.errors import AesdataError
from aesdata.spec import load_pipeline, resolve_pipeline_path
from tests.frame_helpers import write_corpus, write_pipeline

GOOD = """name: ok
shard_size: 4
stages:
  - stage: read_corpus
    path: corpus.jsonl
  - stage: export
"""


def _err(tmp_path: Path, text: str | bytes) -> str:
    p = tmp_path / "p.yaml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(AesdataError) as e:
        load_pipeline(p)
    msg = str(e.value)
    assert "Traceback" not in msg and "\n" not in msg.strip()
    return msg


def test_good_pipeline_loads(tmp_path: Path) -> None:
    write_corpus(tmp_path)
    pipe = load_pipeline(write_pipeline(tmp_path, GOOD))
    assert [s.id for s in pipe.steps] == ["read_corpus", "export"]
    assert pipe.shard_size == 4 and len(pipe.spec_hash) == 16


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    msg = _err(tmp_path, "name: x\nstages:\n  - stage: read_corpus\n     path: [unclosed\n")
    assert "p.yaml:4" in msg and "YAML syntax error" in msg


def test_unknown_stage_lists_known(tmp_path: Path) -> None:
    msg = _err(tmp_path, GOOD.replace("stage: export", "stage: exprot"))
    assert "p.yaml:6" in msg and "'exprot'" in msg and "not a known stage" in msg and "read_corpus" in msg


def test_unknown_key_names_key_and_line(tmp_path: Path) -> None:
    msg = _err(tmp_path, GOOD.replace("    path: corpus.jsonl", "    path: corpus.jsonl\n    pathh: x"))
    assert (
        "p.yaml:6" in msg
        and "'pathh'" in msg
        and "not a known key" in msg
        and "Keys of stage 'read_corpus'" in msg
    )


def test_wrong_type_says_expected_and_found(tmp_path: Path) -> None:
    msg = _err(tmp_path, GOOD.replace("shard_size: 4", "shard_size: many"))
    assert "p.yaml:2" in msg and "shard_size" in msg and "expected" in msg and '"many"' in msg


def test_first_stage_must_be_source(tmp_path: Path) -> None:
    msg = _err(tmp_path, "name: x\nstages:\n  - stage: export\n")
    assert "first stage must make rows" in msg


def test_missing_columns_named(tmp_path: Path) -> None:
    text = "name: x\nplugins: [tests.plugin_stages]\nstages:\n  - stage: read_corpus\n    path: c.jsonl\n  - stage: test_slow_score\n"
    load_pipeline(write_pipeline(tmp_path, text))  # code comes from read_corpus: fine
    msg = _err(tmp_path, text.replace("test_slow_score", "test_needs_render"))
    assert "p.yaml:6" in msg and "render_status" in msg and "no earlier stage writes" in msg


def test_unimportable_plugin(tmp_path: Path) -> None:
    msg = _err(
        tmp_path, "name: x\nplugins: [no.such.module]\nstages:\n  - stage: read_corpus\n    path: c.jsonl\n"
    )
    assert "p.yaml:2" in msg and "no.such.module" in msg


def test_non_utf8_pipeline(tmp_path: Path) -> None:
    assert "not UTF-8" in _err(tmp_path, b"name: caf\xe9\nstages: []\n")


def test_duplicate_step_ids(tmp_path: Path) -> None:
    msg = _err(tmp_path, GOOD + "  - stage: export\n")
    assert "used twice" in msg


def test_resolve_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "mine.yaml").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    assert resolve_pipeline_path("mine") == tmp_path / "pipelines" / "mine.yaml"
    with pytest.raises(AesdataError, match="Known pipelines: demo, mine, plot"):  # the cwd's and the shipped
        resolve_pipeline_path("nope")
    assert resolve_pipeline_path("demo").parent.parent.name == "data"  # shipped, found from any cwd
