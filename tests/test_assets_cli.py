"""``aesdata assets prefetch``: a corpus's CDN files fetched once, then answered offline with the same pins."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aesdata.cli import app
from aesdata.render.assets import AssetPolicy, AssetStore
from aesdata.render.npm_store import RunLock
from tests.test_assets import RegistryDouble


@pytest.fixture
def registry() -> Iterator[RegistryDouble]:
    double = RegistryDouble()
    for v in ("1.0.0", "1.4.0", "2.1.0"):
        double.publish("testlib", v)
    yield double
    double.close()


def test_prefetch_fills_the_store_for_offline_renders(
    tmp_path: Path, registry: RegistryDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AESDATA_ASSETS", str(tmp_path / "store"))
    monkeypatch.setenv("AESDATA_NPM_REGISTRY", registry.url)
    page = tmp_path / "pages" / "a"
    page.mkdir(parents=True)
    (page / "index.html").write_text(
        '<script src="https://unpkg.com/testlib@1/dist/lib.js"></script>'
        '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/testlib@2.1.0/dist/lib.css">'
    )
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"instruction": "a page", "code_file": "pages/a"}) + "\n")
    lock = tmp_path / "lock.json"
    result = CliRunner().invoke(app, ["assets", "prefetch", str(corpus), "--lock", str(lock)])
    assert result.exit_code == 0, result.output
    assert "1 pages, 2 CDN URLs: 2 exact" in result.output
    assert json.loads(lock.read_text())["pins"]["testlib@1"]["version"] == "1.4.0"

    registry.mode = "error"  # the machine goes offline: the store and the pins answer alone
    offline = AssetStore(policy=AssetPolicy(network="offline"), run_lock=RunLock(lock))
    answer = offline.lookup("https://unpkg.com/testlib@1/dist/lib.js")
    assert answer and answer.answered_by == "exact" and answer.version == "1.4.0"
    assert b'"1.4.0"' in (answer.body or b"")


def test_prefetch_of_a_missing_path_is_one_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["assets", "prefetch", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 1 and "does not exist" in result.output
