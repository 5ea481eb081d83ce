"""Run-directory faults: concurrent builds, damaged shards, rebuilt upstream shards, unwritable folders,
leftovers of killed builds, and global-step failures. Real builds (real Parquet, real processes)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from aesdata.errors import AesdataError
from aesdata.executor import BuildResult, LocalExecutor
from aesdata.query import run_sql
from aesdata.rundir import RunDir
from aesdata.spec import load_pipeline
from tests.frame_helpers import PIPE, REPO, cli, write_corpus, write_pipeline


def _build(folder: Path, salt: str = "a") -> tuple[BuildResult, str]:
    """Build PIPE (shards of 4) in-process into folder/runs/t; return the result and the build's output."""
    pipe = load_pipeline(write_pipeline(folder, PIPE.format(shard_size=4, delay=0, salt=salt)))
    buf = io.StringIO()
    result = LocalExecutor(pipe, folder / "runs" / "t", workers=1, console=Console(file=buf, width=200)).run()
    return result, buf.getvalue()


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_second_build_fails_fast_naming_the_holder_and_deletes_nothing(tmp_path: Path) -> None:
    write_corpus(tmp_path, 24)
    write_pipeline(tmp_path, PIPE.format(shard_size=4, delay=1000, salt="a"))
    run = tmp_path / "runs" / "t"
    first = subprocess.Popen(
        [sys.executable, "-m", "aesdata", "build", "p.yaml", "--workers", "1"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / "stages" / "read_corpus" / "_complete").exists():
            assert first.poll() is None and time.monotonic() < deadline, "the first build did not start"
            time.sleep(0.2)
        holder = json.loads((run / "build.lock").read_text())
        assert holder["pid"] == first.pid and holder["host"] and holder["started"]
        # the same command, then --fresh, then another config with --limit (the cases)
        for args in ([], ["--fresh"], ["--limit", "16"]):
            t0 = time.monotonic()
            res = cli("build", "p.yaml", *args, cwd=tmp_path, timeout=120)
            text = _flat(res.stderr)
            assert res.returncode == 1, res.stderr
            assert f"Another build is using the run directory {run}: pid {first.pid} on host" in text
            assert holder["started"] in text and "Traceback" not in res.stderr
            assert time.monotonic() - t0 < 60
        assert first.poll() is None, "the first build ended before the second ones were refused"
        assert len(list((run / "stages" / "read_corpus").glob("shard-*.done"))) == 6
        os.killpg(first.pid, signal.SIGKILL)  # a killed holder's lock is taken over by the next build
        first.wait()
        assert json.loads((run / "build.lock").read_text())["pid"] == first.pid
        write_pipeline(tmp_path, PIPE.format(shard_size=4, delay=0, salt="a"))
        res = cli("build", "p.yaml", cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["status"] == "complete" and manifest["steps"][0]["skipped_shards"] == 6
        assert (run / "build.lock").read_text() == ""  # released: no holder recorded
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()


def test_truncated_or_damaged_shard_is_redone_and_said(tmp_path: Path) -> None:
    write_corpus(tmp_path, 12)
    _build(tmp_path)
    folder = tmp_path / "runs" / "t" / "stages" / "test_slow_score"
    truncated, flipped = folder / "shard-00001.parquet", folder / "shard-00002.parquet"
    good = {p: p.read_bytes() for p in (truncated, flipped)}
    truncated.write_bytes(good[truncated][: len(good[truncated]) // 2])
    damaged = bytearray(good[flipped])
    damaged[len(damaged) // 2] ^= 0xFF  # same size, other bytes: only the hash sees it
    flipped.write_bytes(bytes(damaged))
    result, said = _build(tmp_path)
    said = _flat(said)
    assert "shard 1 of step test_slow_score failed its check: redoing" in said
    assert "shard 2 of step test_slow_score failed its check: redoing" in said
    assert "shard 0 of step" not in said
    assert [s.skipped for s in result.steps] == [3, 1, 3]  # the redone shards are byte-identical: export kept
    assert {p: p.read_bytes() for p in good} == good
    assert json.loads((tmp_path / "runs" / "t" / "manifest.json").read_text())["status"] == "complete"


def test_rebuilt_upstream_shard_invalidates_what_was_computed_from_it(tmp_path: Path) -> None:
    write_corpus(tmp_path, 12)
    _build(tmp_path)
    run = tmp_path / "runs" / "t"
    src = RunDir(run).step("read_corpus")
    table = src.read_shard(1)
    new_code = ["<!doctype html><p>rebuilt with other content</p>"] * table.num_rows
    table = table.set_column(table.column_names.index("code"), "code", [new_code])
    src.write_shard(1, table, {k: v for k, v in src.marker(1).items() if k in ("fingerprint", "failures")})
    scored = run / "stages" / "test_slow_score"
    kept = {i: (scored / f"shard-0000{i}.parquet").stat().st_mtime_ns for i in (0, 2)}
    result, said = _build(tmp_path)
    assert "shard 1 of step test_slow_score: its input changed: redoing" in _flat(said)
    assert "step export: its input shards changed: redoing the step" in _flat(said)
    assert [s.skipped for s in result.steps] == [3, 2, 0]
    assert {i: (scored / f"shard-0000{i}.parquet").stat().st_mtime_ns for i in (0, 2)} == kept
    rows = run_sql(run, "SELECT code FROM samples WHERE code LIKE '%rebuilt%'").num_rows
    assert rows == table.num_rows
    exported = pq.read_table(run / "dataset" / "data").to_pylist()
    assert sum("rebuilt with other content" in json.dumps(r) for r in exported) == table.num_rows


@pytest.fixture
def immutable(tmp_path: Path):
    """Make folders immutable (``chattr +i``: stops root too); undone at the end."""
    made: list[Path] = []

    def make(path: Path) -> Path:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not available on this filesystem")
        made.append(path)
        return path

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_unwritable_run_directory_is_one_paragraph(tmp_path: Path, immutable) -> None:
    write_corpus(tmp_path, 8)
    write_pipeline(tmp_path, PIPE.format(shard_size=4, delay=0, salt="a"))
    assert cli("build", "p.yaml", cwd=tmp_path).returncode == 0
    run = tmp_path / "runs" / "t"
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    immutable(run)
    (tmp_path / "ro").mkdir()
    immutable(tmp_path / "ro")
    (tmp_path / "a_file").write_text("x")
    cases = {
        "existing": ["--out", "runs/t"],
        "fresh": ["--out", "runs/t", "--fresh"],
        "new": ["--out", "ro/new"],
        "under a file": ["--out", "a_file/run"],
    }
    for case, args in cases.items():
        res = cli("build", "p.yaml", *args, cwd=tmp_path)
        text = _flat(res.stderr)
        assert res.returncode == 1, (case, res.stderr)
        assert "Error: Cannot write to the run directory" in text and "Pass --out with a folder" in text, case
        assert "Traceback" not in res.stderr, case
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before


def test_leftovers_of_a_killed_build_are_cleaned_and_its_lock_taken_over(tmp_path: Path) -> None:
    write_corpus(tmp_path, 8)
    _build(tmp_path)
    run = tmp_path / "runs" / "t"
    (run / "build.lock").write_text(json.dumps({"pid": 2**22 + 1, "host": "gone", "started": "earlier"}))
    leftovers = [
        run / ".manifest.json.tmp-4242",
        run / "stages" / "test_slow_score" / ".shard-00001.parquet.tmp-4242",
        run / "stages" / "export" / ".step.json.tmp-4242",
    ]
    for p in leftovers:
        p.write_bytes(b"half written")
    staging = [run / ".dataset.tmp" / "data", run / "stages" / ".trash-export-123" / "x"]
    for p in staging:
        p.mkdir(parents=True)
    keep = [run / "manifest.json", run / "dataset" / "README.md", run / "stages" / "export" / "step.json"]
    result, _ = _build(tmp_path)
    assert [s.skipped for s in result.steps] == [2, 2, 2]
    assert not [p for p in [*leftovers, *(s.parent for s in staging)] if p.exists()]
    assert all(p.exists() for p in keep)
    assert (run / "build.lock").read_text() == ""


def test_global_step_failures_name_the_step_and_its_log(tmp_path: Path) -> None:
    write_corpus(tmp_path, 8)
    body = (
        "name: g\nshard_size: 4\nplugins: [tests.plugin_stages]\nstages:\n"
        "  - stage: read_corpus\n    path: corpus.jsonl\n  - stage: test_global_boom\n{extra}"
    )
    write_pipeline(tmp_path, body.format(extra=""))
    res = cli("build", "p.yaml", cwd=tmp_path)
    log = tmp_path / "runs" / "g" / "logs" / "test_global_boom-global.log"
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert (
        "Step 'test_global_boom' (test_global_boom) failed on its pass over all rows: "
        "RuntimeError: the pass over all rows went wrong" in _flat(res.stderr)
    )
    assert f"the traceback is in {log}" in _flat(res.stderr)
    assert "Traceback" in log.read_text() and "shard--" not in " ".join(os.listdir(log.parent))
    pipe = load_pipeline(write_pipeline(tmp_path, body.format(extra="    in_setup: true\n")))
    with pytest.raises(AesdataError, match=r"failed in setup: RuntimeError: setup went wrong") as e:
        LocalExecutor(pipe, tmp_path / "runs" / "g", workers=1, console=Console(file=io.StringIO())).run()
    assert str(tmp_path / "runs" / "g" / "logs" / "test_global_boom-setup.log") in str(e.value)
