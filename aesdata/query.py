"""SQL over a run with DuckDB: the ``samples`` view, and output as a table, CSV, JSON or Parquet."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from aesdata.errors import AesdataError
from aesdata.rundir import RunDir


def connect(run: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the run's ``samples`` view."""
    if not run.is_dir():
        raise AesdataError(
            f"Run directory {run} does not exist.", "Pass the folder a build wrote, e.g. runs/demo."
        )
    con = duckdb.connect()
    try:
        con.execute(f"CREATE VIEW samples AS {RunDir(run).samples_sql()}")
    except duckdb.Error as e:
        raise AesdataError(
            f"Cannot open the shards of {run}: {str(e).splitlines()[0]}",
            "A shard may be corrupt: rerun the build, which checks every shard and redoes the ones that fail.",
        ) from None
    return con


def run_sql(run: Path, query: str) -> pa.Table:
    """Run ``query`` against the run's ``samples`` view; ``AesdataError`` with DuckDB's message on a bad query."""
    con = connect(run)
    try:
        rel = con.sql(query)
        return rel.to_arrow_table() if rel is not None else pa.table({})
    except duckdb.Error as e:
        msg = " ".join(str(e).split())
        shard = re.search(r"'([^']*shard-\d+\.parquet)'", msg)
        if shard and isinstance(e, (duckdb.InvalidInputException, duckdb.IOException)):
            raise AesdataError(
                f"Shard {shard.group(1)} is corrupt or unreadable ({msg}).",
                "Rerun the build: it checks every shard against its marker and redoes the ones that fail; other shards are kept.",
            ) from None
        raise AesdataError(
            f"SQL error: {msg}", "The view is called `samples`; list its columns with `DESCRIBE samples`."
        ) from None
    finally:
        con.close()


def _cell(value: object) -> str:
    if value is None:
        return "[dim]null[/]"
    if isinstance(value, bytes):
        return f"<{len(value) / 1024:.1f} KB>"
    if isinstance(value, dict) and "bytes" in value:
        b = value.get("bytes")
        return f"<png {len(b) / 1024:.0f} KB>" if b else "[dim]null[/]"
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value).replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def write_result(
    table: pa.Table, fmt: str, output: Path | None, console: Console, max_rows: int = 50
) -> None:
    """Show or write a query result in ``fmt`` (table | csv | json | parquet)."""
    fmt = fmt.lower()
    if fmt == "table":
        view = Table(
            show_lines=False,
            caption=f"{table.num_rows} row{'s' * (table.num_rows != 1)}"
            + (f" (first {max_rows} shown)" if table.num_rows > max_rows else ""),
        )
        for name in table.column_names:
            view.add_column(name, overflow="fold")
        for row in table.slice(0, max_rows).to_pylist():
            view.add_row(*(_cell(v) for v in row.values()))
        console.print(view)
        return
    binary = [f.name for f in table.schema if pa.types.is_binary(f.type) or pa.types.is_struct(f.type)]
    if fmt == "parquet":
        if output is None:
            raise AesdataError("--format parquet needs --output FILE.")
        pq.write_table(table, output)
    elif fmt == "csv":
        if binary:
            table = table.drop_columns(binary)
        if output:
            pacsv.write_csv(table, output)
        else:
            buf = pa.BufferOutputStream()
            pacsv.write_csv(table, buf)
            console.file.write(buf.getvalue().to_pybytes().decode())
    elif fmt == "json":
        rows = table.drop_columns(binary).to_pylist() if binary else table.to_pylist()
        text = "\n".join(json.dumps(r, default=str, ensure_ascii=False) for r in rows) + (
            "\n" if rows else ""
        )
        if output:
            output.write_text(text)
        else:
            console.file.write(text)
    else:
        raise AesdataError(f"Unknown --format {fmt!r}.", "Use table, csv, json or parquet.")
