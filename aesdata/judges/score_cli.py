"""``aesdata score <file.html | file.py | file.png>...``: judge files on disk and show the verdicts.

HTML files are rendered in a warm browser pool and judged (execution, design, interactive); Python files
are run in the plot sandbox and judged as plots; PNG / JPEG files are scored by the design judge's
screenshot mode (pixel measures only). Output: a rich table (score, sub-scores, findings) or, with
``as_json``, one JSON object per file on its own line.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aesdata.errors import AesdataError
from aesdata.judges import design

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
_KINDS = {".html": "html", ".htm": "html", ".py": "plot", **{s: "image" for s in _IMAGE_SUFFIXES}}


def _kind(path: Path) -> str:
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:
        raise AesdataError(
            f"Cannot score {path}: unknown file type {path.suffix!r}.",
            "Pass .html pages, .py plot scripts or .png/.jpg screenshots.",
        )
    if not path.is_file():
        raise AesdataError(f"Cannot score {path}: no such file.", "Check the path.")
    if kind != "image":
        _check_text(path)
    return kind


def _check_text(path: Path) -> None:
    """Refuse a page or script that is not text: a NUL byte, or more than 10% control bytes, in its
    first 64 KiB (text in a legacy 8-bit encoding passes; it is read with replacement characters)."""
    with path.open("rb") as f:
        head = f.read(65536)
    controls = sum(1 for b in head if (b < 32 and b not in b"\t\n\r\f\b") or b == 127)
    binary = b"\0" in head or controls > 0.1 * len(head)
    if binary:
        raise AesdataError(
            f"Cannot score {path}: it is a binary file, not a text "
            f"{'HTML page' if path.suffix.lower() in ('.html', '.htm') else 'Python script'}.",
            "Pass the page or script source itself (a .png/.jpg screenshot is scored as an image).",
        )


def _image_result(path: Path) -> dict[str, Any]:
    try:
        res = design.judge_screenshot(path.read_bytes())
    except OSError as e:
        raise AesdataError(f"Cannot read {path} as an image: {e}.", "Pass a PNG or JPEG file.") from None
    return {
        "file": str(path),
        "kind": "image",
        "status": "ok",
        "exec_pass": None,
        "static_score": res.score,
        "subscores": {k: res.subscores[k] for k in ("aesthetics", "structure", "alignment")},
        "not_measured": res.subscores["not_measured"],
        "findings": res.findings,
        "interactive_score": None,
        "reward": None,
        "judge": res.judge,
    }


def _row_result(path: Path, kind: str, row: dict[str, Any]) -> dict[str, Any]:
    subs = json.loads(row.get("static_subscores_json") or "{}")
    exec_findings = [
        f["message"] for f in json.loads(row.get("exec_findings_json") or "[]") if f["severity"] == "error"
    ]
    return {
        "file": str(path),
        "kind": kind,
        "status": row.get("render_status"),
        "exec_pass": row.get("exec_pass"),
        "static_score": row.get("static_score"),
        "subscores": {k: subs.get(k) for k in ("aesthetics", "structure", "alignment")},
        "not_measured": subs.get("not_measured", []),
        "findings": exec_findings + json.loads(row.get("static_findings_json") or "[]"),
        "interactive_score": row.get("interactive_score"),
        "interactive_max": row.get("interactive_max"),
        "reward": row.get("reward"),
        "judge": row.get("static_judge"),
    }


def _data_csv(script: Path, data: Path | None) -> str | None:
    """The CSV a plot script reads as ``data.csv``: ``data`` when given, else a data.csv beside the script."""
    path = data or (script.parent / "data.csv")
    if not path.is_file():
        if data:
            raise AesdataError(
                f"Data file {data} does not exist.", "Pass the CSV the scripts read as data.csv."
            )
        return None
    return path.read_text(encoding="utf-8", errors="replace")


async def _score(paths: list[Path], data: Path | None = None) -> list[dict[str, Any]]:
    from aesdata.judges.runner import Judges

    kinds = [_kind(p) for p in paths]
    results: list[dict[str, Any] | None] = [None] * len(paths)
    todo = []
    for i, (p, k) in enumerate(zip(paths, kinds, strict=True)):
        if k == "image":
            results[i] = _image_result(p)
        else:
            todo.append(i)
    if todo:
        async with Judges() as judges:
            items = [
                {
                    "kind": kinds[i],
                    "code": paths[i].read_text(encoding="utf-8", errors="replace"),
                    "instruction": "",
                    "data_csv": _data_csv(paths[i], data) if kinds[i] == "plot" else None,
                }
                for i in todo
            ]
            rows = await judges.render_and_judge(items)
        for i, row in zip(todo, rows, strict=True):
            results[i] = _row_result(paths[i], kinds[i], row)
    return [r for r in results if r is not None]


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "pass" if value else "FAIL"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def score_files(
    paths: list[str | Path], as_json: bool = False, console: Console | None = None, data: Path | None = None
) -> int:
    """Judge ``paths`` and print the verdicts; return the exit code (0 all scored and passed, 1 some failed
    execution). Bad input (unknown type, missing file) raises ``AesdataError`` before anything runs."""
    files = [Path(p) for p in paths]
    for f in files:
        _kind(f)
    results = asyncio.run(_score(files, data))
    console = console or Console()
    if as_json:
        for r in results:
            print(json.dumps(r, default=str, ensure_ascii=False))
    else:
        table = Table(title="aesdata score")
        for col in ("file", "status", "exec", "design", "aes/30", "str/30", "clicks", "reward"):
            table.add_column(
                col,
                no_wrap=True,
                overflow="ellipsis",
                min_width=12 if col == "file" else None,
                justify="left" if col in ("file", "status") else "right",
            )
        for r in results:
            inter = r.get("interactive_score")
            table.add_row(
                Path(r["file"]).name,
                r["status"] or "-",
                _fmt(r["exec_pass"]),
                _fmt(r["static_score"]),
                _fmt(r["subscores"].get("aesthetics")),
                _fmt(r["subscores"].get("structure")),
                "-" if inter is None else f"{inter:g}/{r.get('interactive_max') or 3}",
                _fmt(r["reward"], 3),
            )
        console.print(table)
        for r in results:
            console.print(
                f"[bold]{escape(Path(r['file']).name)}[/]: "
                + ("no defects found" if not r["findings"] else "")
            )
            for finding in r["findings"][:8]:
                console.print(f"  - {escape(finding)}", highlight=False)
        console.print(
            "[dim]design score = aesthetics + structure rescaled to 0..100; alignment with the "
            "instruction is not measured without a VLM judge.[/dim]"
        )
    return 1 if any(r["exec_pass"] is False for r in results) else 0
