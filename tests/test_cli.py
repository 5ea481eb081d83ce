"""The CLI as a user runs it: sql formats, stages, doctor, help on every command."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.frame_helpers import PIPE, cli, write_corpus, write_pipeline


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    write_corpus(folder, 15)
    write_pipeline(folder, PIPE.format(shard_size=4, delay=0, salt="a"))
    res = cli("build", "p.yaml", cwd=folder)
    assert res.returncode == 0, res.stderr
    assert "Dataset:" in res.stdout and "Samples by category" in res.stdout
    return folder / "runs" / "t"


def test_sql_group_by_table(run: Path) -> None:
    res = cli("sql", str(run), "SELECT kind, count(*) AS n FROM samples GROUP BY kind ORDER BY kind", cwd=run)
    assert res.returncode == 0, res.stderr
    assert "html" in res.stdout and "plot" in res.stdout and "2 rows" in res.stdout


def test_sql_formats(run: Path, tmp_path: Path) -> None:
    q = "SELECT kind, count(*) AS n, avg(static_score) AS s FROM samples GROUP BY kind ORDER BY kind"
    rows = list(csv.DictReader(io.StringIO(cli("sql", str(run), q, "--format", "csv", cwd=run).stdout)))
    assert [r["kind"] for r in rows] == ["html", "plot"] and sum(int(r["n"]) for r in rows) == 15
    lines = cli("sql", str(run), q, "--format", "json", cwd=run).stdout.splitlines()
    assert [json.loads(x)["kind"] for x in lines] == ["html", "plot"]
    out = tmp_path / "r.parquet"
    assert cli("sql", str(run), q, "--format", "parquet", "-o", str(out), cwd=run).returncode == 0
    assert pq.read_table(out).num_rows == 2


def test_sql_bad_query_is_one_paragraph(run: Path) -> None:
    res = cli("sql", str(run), "SELECT nope FROM samples", cwd=run)
    assert res.returncode == 1 and "SQL error" in res.stderr and "Traceback" not in res.stderr
    res = cli("sql", str(run.parent / "missing"), "SELECT 1", cwd=run)
    assert res.returncode == 1 and "does not exist" in res.stderr


def test_stages_lists_builtins() -> None:
    res = cli("stages", cwd=Path.cwd())
    assert res.returncode == 0 and "read_corpus" in res.stdout and "export" in res.stdout


def test_doctor_reports_every_check() -> None:
    res = cli("doctor", cwd=Path.cwd())
    for name in ("Chromium", "Fonts", "Plot sandbox", "GPU"):
        assert name in res.stdout
    assert "Traceback" not in res.stderr


def test_help_on_every_command() -> None:
    from aesdata.cli import app

    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        res = cli(name, "--help", cwd=Path.cwd())
        assert res.returncode == 0 and "Usage" in res.stdout, name
