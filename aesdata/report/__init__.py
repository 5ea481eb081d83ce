"""``aesdata report <run>``: one self-contained HTML file to look at a run.

What it shows: the selection funnel (per rule and per kind/category; how many renders were faithful,
degraded or broken, see ``render_fidelity``), score distributions (all rows
vs selected), a gallery of thumbnails with scores and findings (best, worst, borderline, by category,
failed renders), near-duplicate clusters side by side, and on click each judge's rationale.

How: DuckDB over the run's ``samples`` view picks the rows (the same view ``aesdata sql`` queries);
only the picked rows' screenshots are read and turned into small WebP thumbnails (Pillow) embedded as
data URIs; the page (``page.html``: inline CSS and a small script, no network) renders the embedded
JSON. The file opens from disk in any browser.
"""

from __future__ import annotations

import base64
import html
import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
from PIL import Image

from aesdata.query import connect
from aesdata.rundir import RunDir, atomic_write_bytes

SCORES = ("static_score", "vlm_score", "interactive_score", "reward")
_TEXT = (
    "instruction_id",
    "kind",
    "category",
    "instruction",
    "render_status",
    "render_error",
    "render_fidelity",
    "exec_pass",
    "static_score",
    "vlm_score",
    "interactive_score",
    "interactive_max",
    "reward",
    "static_rationale",
    "vlm_rationale",
    "static_findings_json",
    "exec_findings_json",
    "static_subscores_json",
    "static_judge",
    "vlm_judge",
    "rubric_version",
    "cluster_id",
    "cluster_size",
    "dup_signals",
    "selected",
    "drop_reason",
    "split",
    "interactive_trace_json",
)
_LONG = 4000  # characters kept of a long text field


def thumbnail(png: bytes, width: int = 400, max_ratio: float = 1.25, quality: int = 72) -> str:
    """A WebP data URI of ``png`` scaled to ``width`` px, cropped to the top ``width * max_ratio`` px."""
    with Image.open(io.BytesIO(png)) as img:
        img = img.convert("RGB")
        scale = width / img.width
        keep = min(img.height, int(width * max_ratio / scale))
        img = img.crop((0, 0, img.width, keep)).resize((width, max(1, int(keep * scale))), Image.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, format="WEBP", quality=quality, method=4)
    return "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode()


def _score_expr(columns: set[str], manifest: dict[str, Any]) -> str | None:
    funnel = _funnel(manifest)
    if funnel and funnel.get("score") and funnel["score"] != "0":
        return str(funnel["score"])
    return next((c for c in ("reward", "static_score", "vlm_score", "exec_score") if c in columns), None)


def _funnel(manifest: dict[str, Any]) -> dict[str, Any] | None:
    return next(
        (
            s["funnel"]
            for s in manifest.get("summaries", {}).values()
            if isinstance(s, dict) and "funnel" in s
        ),
        None,
    )


def collect(run: Path, per_section: int = 12, clusters: int = 8) -> dict[str, Any]:
    """The report's data: summary, funnel, score arrays, gallery sections (ids) and rows with thumbnails."""
    manifest = RunDir(run).manifest()
    con = connect(run)
    try:
        columns = {r[0] for r in con.execute("DESCRIBE samples").fetchall()}
        score = _score_expr(columns, manifest)
        heavy = [c for c in ("screenshot", "screenshot_viewport") if c in columns]
        base = f"SELECT * EXCLUDE ({', '.join(heavy)}) FROM samples" if heavy else "SELECT * FROM samples"
        kept = "selected" if "selected" in columns else "true"
        ok = "render_status = 'ok'" if "render_status" in columns else "true"
        con.execute(
            f"CREATE TEMP TABLE r AS SELECT *, {f'({score})::DOUBLE' if score else 'NULL::DOUBLE'} AS _score, "
            f"coalesce({kept}, false) AS _kept, coalesce({ok}, false) AS _ok FROM ({base})"
        )
        has_shot = "screenshot" in columns

        def ids(sql: str, params: list[Any] | None = None) -> list[str]:
            return [r[0] for r in con.execute(sql, params or []).fetchall()]

        sections: list[dict[str, Any]] = []
        if score:
            sections.append(
                {
                    "name": "Best",
                    "note": f"highest {score}",
                    "ids": ids(
                        f"SELECT id FROM r WHERE _score IS NOT NULL ORDER BY _score DESC, id LIMIT {per_section}"
                    ),
                }
            )
            sections.append(
                {
                    "name": "Worst",
                    "note": f"lowest {score} among rendered rows",
                    "ids": ids(
                        f"SELECT id FROM r WHERE _score IS NOT NULL AND _ok ORDER BY _score, id LIMIT {per_section}"
                    ),
                }
            )
            half = per_section // 2
            by_filter = (
                "coalesce(drop_reason, '') NOT IN ('duplicate', 'best_of_n')"
                if "drop_reason" in columns
                else "true"
            )
            sections.append(
                {
                    "name": "Borderline",
                    "note": "lowest-scored kept rows and best-scored rows a filter dropped",
                    "ids": ids(
                        f"(SELECT id FROM r WHERE _kept AND _score IS NOT NULL ORDER BY _score, id LIMIT {half}) UNION ALL "
                        f"(SELECT id FROM r WHERE NOT _kept AND _score IS NOT NULL AND {by_filter} "
                        f"ORDER BY _score DESC, id LIMIT {per_section - half})"
                    ),
                }
            )
        order = "_score DESC NULLS LAST, id" if score else "id"
        for (category,) in con.execute(
            "SELECT DISTINCT coalesce(category, kind) FROM r ORDER BY 1"
        ).fetchall():
            sections.append(
                {
                    "name": str(category),
                    "group": "By category",
                    "note": f"best of {category}",
                    "ids": ids(
                        f"SELECT id FROM r WHERE coalesce(category, kind) = ? ORDER BY {order} LIMIT {max(4, per_section // 2)}",
                        [category],
                    ),
                }
            )
        sections.append(
            {
                "name": "Failed",
                "note": "renders that failed: a status, never a blank image",
                "ids": ids(f"SELECT id FROM r WHERE NOT _ok ORDER BY id LIMIT {per_section}"),
            }
        )
        groups: list[dict[str, Any]] = []
        if "cluster_id" in columns:
            for cid, size in con.execute(
                f"SELECT cluster_id, count(*) AS n FROM r WHERE cluster_id IS NOT NULL GROUP BY 1 HAVING n > 1 "
                f"ORDER BY n DESC, cluster_id LIMIT {clusters}"
            ).fetchall():
                members = ids(
                    f"SELECT id FROM r WHERE cluster_id = ? ORDER BY {'is_representative DESC NULLS LAST, ' if 'is_representative' in columns else ''}{order} LIMIT 6",
                    [cid],
                )
                groups.append({"cluster_id": cid, "size": int(size), "ids": members})
        wanted = sorted({i for s in sections for i in s["ids"]} | {i for g in groups for i in g["ids"]})
        rows = _rows(con, wanted, columns, has_shot)
        scores = {
            c: con.execute(
                f"SELECT list({c}) FILTER (WHERE {c} IS NOT NULL), list({c}) FILTER (WHERE {c} IS NOT NULL AND _kept) FROM r"
            ).fetchone()
            for c in SCORES
            if c in columns
        }
        totals = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE _kept), count(*) FILTER (WHERE _ok), "
            f"{'count(DISTINCT cluster_id)' if 'cluster_id' in columns else 'NULL'} FROM r"
        ).fetchone()
        fidelity = (
            dict(
                con.execute(
                    "SELECT render_fidelity, count(*) FROM r WHERE render_fidelity IS NOT NULL GROUP BY 1"
                ).fetchall()
            )
            if "render_fidelity" in columns
            else {}
        )
        by_cat = con.execute(
            f"SELECT kind, category, count(*), count(*) FILTER (WHERE _kept), "
            f"{'round(avg(_score), 2)' if score else 'NULL'} FROM r GROUP BY ALL ORDER BY 1, 2"
        ).fetchall()
    finally:
        con.close()
    pipeline = manifest.get("pipeline", {})
    return {
        "title": f"{pipeline.get('name') or run.name}",
        "run": str(run),
        "description": pipeline.get("description", ""),
        "spec_hash": pipeline.get("spec_hash"),
        "finished": manifest.get("finished") or manifest.get("started"),
        "versions": manifest.get("versions", {}),
        "score": score,
        "totals": {"rows": totals[0], "kept": totals[1], "rendered": totals[2], "clusters": totals[3]},
        "by_category": [
            {"kind": k, "category": c, "rows": n, "kept": kept, "mean": m} for k, c, n, kept, m in by_cat
        ],
        "funnel": _funnel(manifest),
        "fidelity": fidelity,
        "scores": {c: {"all": v[0] or [], "kept": v[1] or []} for c, v in scores.items()},
        "sections": sections,
        "clusters": groups,
        "rows": rows,
    }


def _rows(con: Any, wanted: list[str], columns: set[str], has_shot: bool) -> dict[str, dict[str, Any]]:
    """Text fields and a thumbnail of each wanted row, by id."""
    if not wanted:
        return {}
    con.register("wanted", pa.table({"id": wanted}))
    cols = [c for c in _TEXT if c in columns]
    select = ", ".join(["id", "_score", *cols, *(["screenshot.bytes AS png"] if has_shot else [])])
    table = con.sql(
        f"SELECT {select} FROM samples JOIN wanted USING (id) JOIN (SELECT id, _score FROM r) USING (id)"
    ).to_arrow_table()
    out: dict[str, dict[str, Any]] = {}
    for row in table.to_pylist():
        png = row.pop("png", None)
        for k, v in row.items():
            if isinstance(v, str) and len(v) > _LONG:
                row[k] = v[:_LONG] + " …"
        row["thumb"] = thumbnail(png) if png else None
        out[row["id"]] = row
    return out


def render(data: dict[str, Any]) -> str:
    """The HTML page with ``data`` embedded (``</`` escaped so no string can close the script)."""
    page = resources.files("aesdata.report").joinpath("page.html").read_text(encoding="utf-8")
    payload = json.dumps(data, default=str, ensure_ascii=False).replace("</", "<\\/")
    return page.replace("__TITLE__", html.escape(data["title"])).replace("/*__DATA__*/null", payload)


def build_report(run: Path, out: Path | None = None) -> Path:
    """Write the report of run ``run`` to ``out`` (default ``<run>/report.html``); return its path."""
    rundir = RunDir(run)
    rundir.manifest()  # AesdataError when the folder is not a run directory
    out = out or rundir.report_path
    atomic_write_bytes(out, render(collect(run)).encode())
    return out
