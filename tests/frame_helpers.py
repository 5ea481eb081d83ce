"""Helpers for the frame's tests: write small corpora and pipelines, run the CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def write_corpus(folder: Path, n: int = 20, name: str = "corpus.jsonl") -> Path:
    """A JSONL corpus of ``n`` html/plot candidates with varied code."""
    rows = []
    for i in range(n):
        if i % 3 == 2:
            rows.append(
                {
                    "instruction": f"Plot series {i}",
                    "kind": "plot",
                    "category": "matplotlib",
                    "code": f"import matplotlib.pyplot as plt\nplt.plot([1, {i}, 3])\n",
                    "note": i,
                }
            )
        else:
            rows.append(
                {
                    "instruction": f"A landing page for shop {i}",
                    "category": "website",
                    "code": f"<!doctype html><html><body><h1>Shop {i}</h1><p>{'x' * i}</p></body></html>",
                }
            )
    path = folder / name
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def write_pipeline(folder: Path, body: str, name: str = "p.yaml") -> Path:
    path = folder / name
    path.write_text(body)
    return path


PIPE = """name: t
shard_size: {shard_size}
plugins: [tests.plugin_stages]
stages:
  - stage: read_corpus
    path: corpus.jsonl
  - stage: test_slow_score
    delay_ms: {delay}
    salt: "{salt}"
  - stage: export
"""


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``aesdata <args>`` in a subprocess with the repo on PYTHONPATH (so test plugins import)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "aesdata", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
