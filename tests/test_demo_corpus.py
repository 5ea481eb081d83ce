"""The bundled demo corpus stays valid: labels, files, minimums (see demo/tools/check_corpus.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "aesdata" / "data" / "demo" / "corpus"


def test_demo_corpus_is_valid() -> None:
    spec = importlib.util.spec_from_file_location("check_corpus", CORPUS.parent / "tools" / "check_corpus.py")
    assert spec and spec.loader
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    rows = check.load_rows(CORPUS)
    assert check.validate(CORPUS, rows) == []
    assert len(rows) >= 60 and len({r["instruction_id"] for r in rows}) >= 24
