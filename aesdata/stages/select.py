"""``select``: decide which rows go into the dataset, and record why every other row did not.

Rules run in this order; a row's ``drop_reason`` is the first rule that dropped it:

1. ``filters``: named SQL predicates kept in ``filters/<name>.sql`` files (searched in the pipeline's
   folder ``filters/``, its parent's ``filters/``, then aesdata's own ``filters/``), then inline ``where``
   predicates (``{name: predicate}``). A predicate says what to KEEP; it is evaluated by DuckDB over the
   rows registered as ``samples``, so it is the same SQL a user types in ``aesdata sql <run> "SELECT ...
   FROM samples WHERE <predicate>"``. A predicate that is NULL for a row (a missing score) drops it.
   The leading ``--`` comment lines of a filter file describe the rule (shown in the funnel).
2. ``dedup: representative``: of each ``cluster_id`` (written by the dedup step) keep the survivor with
   the best ``score``; the others are dropped as ``duplicate``. ``is_representative`` marks the keeper.
3. ``best_of_n: N``: keep the N best-scored survivors of each ``instruction_id`` (AesCoder writes two
   candidates per instruction and keeps the better: ``best_of_n: 1``); the rest are dropped as
   ``best_of_n``.
4. ``splits``: selected rows are split by instruction, seeded; instructions linked through a dedup
   cluster share a split, so no cluster crosses splits. A group's split comes from a hash of its
   smallest instruction id and the seed, so changing a threshold never moves an instruction from
   train to test.

``score`` is a SQL expression (default: the first present of ``reward``, ``static_score``,
``vlm_score``, ``exec_score``); ties are broken by ``id`` so selection is deterministic.
The filter files' text is part of the step's fingerprint: editing a threshold redoes selection and
what follows it (export), never rendering or judging.

``summarize`` returns the funnel: rows in / dropped / kept per rule, and per kind and category.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
from pydantic import Field, field_validator

from aesdata.configfile import find
from aesdata.errors import AesdataError
from aesdata.rundir import RunDir, atomic_write_json
from aesdata.schema import SAMPLE_SCHEMA
from aesdata.stage import GlobalJob, ShardReader, Stage, StageConfig, Tasks, register

_OWN = ("selected", "drop_reason", "is_representative", "split")
#: columns too heavy to load for selection (a predicate over them is an error that says so)
_HEAVY = ("screenshot", "screenshot_viewport")
_SCORE_DEFAULTS = ("reward", "static_score", "vlm_score", "exec_score")
_OUT = "id, selected, drop_reason, is_representative, split"
#: DuckDB's memory limit in the selection task (it spills to disk beyond)
_MEMORY_GB = 1.0
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"


class SelectConfig(StageConfig):
    filters: list[str] = Field(
        default_factory=list,
        description="names of filters/<name>.sql predicates (or paths to .sql files), applied in order",
    )
    where: dict[str, str] = Field(
        default_factory=dict,
        description="inline predicates {rule name: SQL over samples}, applied after the filters",
    )
    dedup: Literal["representative", "none"] = Field(
        default="representative", description="keep one row per cluster_id (when a dedup step ran)"
    )
    score: str | None = Field(
        default=None,
        description="SQL expression ranking rows for dedup and best_of_n (default: first of reward, static_score, vlm_score, exec_score)",
    )
    best_of_n: int | None = Field(
        default=None, gt=0, description="keep the N best-scored candidates of each instruction_id"
    )
    splits: dict[str, float] | None = Field(
        default=None, description="fractions per split, e.g. {train: 0.9, test: 0.1}, by instruction"
    )
    seed: int = Field(default=0, description="seed of the split assignment")

    @field_validator("where")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not re.fullmatch(_NAME, name) or name in ("duplicate", "best_of_n"):
                raise ValueError(
                    f"rule name {name!r} must be letters, digits, '_', '-', '.' and not 'duplicate'/'best_of_n'"
                )
        return v

    @field_validator("splits")
    @classmethod
    def _fractions(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        if not v or any(f <= 0 for f in v.values()) or abs(sum(v.values()) - 1) > 1e-6:
            raise ValueError(f"split fractions must be positive and sum to 1, got {v}")
        if any(not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", k) for k in v):
            raise ValueError("split names must be letters, digits and '_' (they name data files)")
        return v


class Rule:
    """One named keep-predicate: where it came from, its description and its SQL text."""

    def __init__(self, name: str, sql: str, description: str, origin: str) -> None:
        self.name, self.sql, self.description, self.origin = name, sql, description, origin

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.name, "description": self.description, "origin": self.origin, "sql": self.sql}


def find_filter(name: str, spec_dir: Path) -> Path:
    """Path of filter ``name``: a ``.sql`` path (relative to the pipeline), or ``<name>.sql`` in the pipeline's
    folder's ``filters/``, its parent's, then the shipped ones (``aesdata.configfile.find``)."""
    return find("filters", name, [spec_dir, spec_dir.parent], base=spec_dir).resolve()


def parse_filter(text: str, name: str, origin: str) -> Rule:
    """A filter file's text -> ``Rule``: leading ``--`` lines are the description, the rest the predicate."""
    lines = text.strip().splitlines()
    head: list[str] = []
    while lines and lines[0].lstrip().startswith("--"):
        head.append(lines.pop(0).lstrip()[2:].strip())
    sql = "\n".join(lines).strip().rstrip(";").strip()
    if not sql:
        raise AesdataError(
            f"Filter {origin} holds no predicate (only comments).",
            "Write a SQL condition over `samples` columns, e.g. `static_score >= 75`.",
        )
    return Rule(name, sql, " ".join(h for h in head if h), origin)


def _funnel(con: duckdb.DuckDBPyConnection, rules: list[Rule], extra: list[str]) -> dict[str, Any]:
    """Counts from the ``decided`` table: per rule in order (in, dropped, out), per kind/category, per split."""
    dropped = dict(con.execute("SELECT drop_reason, count(*) FROM decided GROUP BY 1").fetchall())
    total = sum(dropped.values())
    described = {r.name: r.description for r in rules} | _EXTRA_DESCRIPTIONS
    stages: list[dict[str, Any]] = []
    left = total
    for name in [r.name for r in rules] + extra:
        d = int(dropped.get(name, 0))
        stages.append(
            {"rule": name, "description": described[name], "in": left, "dropped": d, "out": left - d}
        )
        left -= d
    groups: dict[tuple[Any, Any], dict[str, Any]] = {}
    for kind, category, reason, n in con.execute(
        "SELECT kind, category, drop_reason, count(*) FROM decided GROUP BY ALL ORDER BY kind, category NULLS LAST"
    ).fetchall():
        g = groups.setdefault(
            (kind, category), {"kind": kind, "category": category, "rows": 0, "selected": 0, "dropped": {}}
        )
        g["rows"] += int(n)
        if reason is None:
            g["selected"] += int(n)
        else:
            g["dropped"][reason] = int(n)
    splits = dict(
        con.execute("SELECT split, count(*) FROM decided WHERE selected GROUP BY 1 ORDER BY 1").fetchall()
    )
    return {
        "total": int(total),
        "selected": int(left),
        "rules": stages,
        "by_group": list(groups.values()),
        "splits": {k: int(v) for k, v in splits.items()},
    }


_EXTRA_DESCRIPTIONS = {
    "duplicate": "keep the best-scored row of each near-duplicate cluster",
    "best_of_n": "keep the best-scored candidates of each instruction",
}


def split_of(key: str, seed: int, splits: dict[str, float]) -> str:
    """The split of a group whose smallest instruction id is ``key``: a seeded hash bucket in [0, 1)."""
    u = int.from_bytes(hashlib.sha256(f"{seed}\x1f{key}".encode()).digest()[:8], "big") / 2**64
    acc = 0.0
    for name, frac in splits.items():
        acc += frac
        if u < acc:
            return name
    return list(splits)[-1]


def assign_splits(pairs: list[tuple[str, str | None]], seed: int, splits: dict[str, float]) -> dict[str, str]:
    """Split of each instruction id, given (instruction_id, cluster_id) pairs of the selected rows.

    Instructions that share a cluster form one group (union-find) and get one split, so a
    near-duplicate cluster never crosses splits. Returns {instruction_id: split}.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for instr, cluster in pairs:
        a = find("i:" + instr)
        if cluster is not None:
            b = find("c:" + cluster)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = {}
    for instr, _ in pairs:
        groups.setdefault(find("i:" + instr), []).append(instr)
    out: dict[str, str] = {}
    for members in groups.values():
        name = split_of(min(members), seed, splits)
        out.update({m: name for m in members})
    return out


@register
class Select(Stage):
    name = "select"
    summary = "Keep rows by SQL filters, one per dedup cluster and best-of-N per instruction; split; record drop_reason."
    mode = "global"
    Config = SelectConfig
    requires = ("kind",)
    uses = tuple(f.name for f in SAMPLE_SCHEMA if f.name not in ("id", "kind", *_OWN, *_HEAVY))
    outputs = _OWN
    config: SelectConfig

    def rules(self) -> list[Rule]:
        """The filter files' and inline predicates, in the order they apply."""
        rules = []
        for name in self.config.filters:
            path = find_filter(name, self.context.spec_dir)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise AesdataError(f"Cannot read filter {path}: {e}.") from None
            rules.append(parse_filter(text, Path(name).stem, str(path)))
        rules += [parse_filter(sql, name, f"where.{name}") for name, sql in self.config.where.items()]
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise AesdataError(
                f"Two selection rules share a name ({', '.join(sorted({n for n in names if names.count(n) > 1}))}).",
                "Give every filter and inline `where` rule a distinct name.",
            )
        return rules

    def fingerprint_extra(self) -> dict[str, Any]:
        """The filter files' predicates: editing a threshold redoes selection (and export) only."""
        return {r.name: hashlib.sha256(r.sql.encode()).hexdigest()[:16] for r in self.rules()}

    def run_global(self, shards: ShardReader) -> pa.Table:
        """Select over in-memory shards (``requires`` + uses + id); return id + outputs for every row."""
        tables = [
            t.append_column("_shard", pa.array([k] * t.num_rows, pa.int64())) for k, t in enumerate(shards)
        ]
        con = duckdb.connect()
        try:
            con.register("samples", pa.concat_tables(tables))
            self._decide(con, [c for c in tables[0].column_names if c != "_shard"])
            return con.sql(f"SELECT {_OUT} FROM decided").to_arrow_table()
        finally:
            con.close()

    def run_tasks(self, job: GlobalJob, tasks: Tasks) -> None:
        """Select in one task: DuckDB over the input shards' Parquet files with a memory limit (spilling to
        the step's ``work/`` folder), each output shard written from there."""
        tasks.map(_select_task, [(self, job)], name="select", memory_gb=_MEMORY_GB + 0.5)

    def _decide(self, con: duckdb.DuckDBPyConnection, columns: list[str]) -> None:
        """Create table ``decided`` from view ``samples`` (with ``_shard``) and write the funnel."""
        rules = self.rules()
        for rule in rules:
            _check_rule(con, rule, columns)
        score = self.config.score or next((c for c in _SCORE_DEFAULTS if c in columns), "0")
        _check_expr(con, score, "score", columns)
        con.execute(self._decide_sql(rules, score, columns))
        dedup = self.config.dedup == "representative" and "cluster_id" in columns
        extra = (["duplicate"] if dedup else []) + (["best_of_n"] if self.config.best_of_n else [])
        if self.config.splits:
            pairs = con.execute("SELECT instruction_id, cluster_id FROM decided WHERE selected").fetchall()
            mapping = assign_splits([(str(i), c) for i, c in pairs], self.config.seed, self.config.splits)
            con.register(
                "split_map", pa.table({"instruction_id": list(mapping), "s": list(mapping.values())})
            )
            con.execute(
                "UPDATE decided SET split = (SELECT s FROM split_map m WHERE m.instruction_id = decided.instruction_id::VARCHAR) WHERE selected"
            )
        funnel = _funnel(con, rules, extra)
        funnel["rule_sql"] = [r.as_dict() for r in rules]
        funnel["score"] = score
        self.context.stage_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.context.stage_dir / "funnel.json", funnel)

    def _decide_sql(self, rules: list[Rule], score: str, columns: list[str]) -> str:
        """SQL creating table ``decided``: id, kind, category, instruction_id, cluster_id and the decision."""
        first_fail = " ".join(f"WHEN NOT coalesce((\n{r.sql}\n), false) THEN '{r.name}'" for r in rules)
        reason = f"CASE {first_fail} END" if rules else "NULL::VARCHAR"
        cluster = "cluster_id" if "cluster_id" in columns else "NULL::VARCHAR"
        instr = "instruction_id" if "instruction_id" in columns else "id"
        category = "category" if "category" in columns else "NULL::VARCHAR"
        dedup = "true" if self.config.dedup == "representative" and "cluster_id" in columns else "false"
        n = self.config.best_of_n
        return f"""
        CREATE TABLE decided AS
        WITH filtered AS (
            SELECT id, _shard, kind, {category} AS category, {instr} AS instruction_id, {cluster} AS cluster_id,
                   {reason} AS filter_drop, ({score})::DOUBLE AS _score
            FROM samples
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY coalesce(cluster_id, 'row:' || id)
                                         ORDER BY filter_drop IS NULL DESC, _score DESC NULLS LAST, id) AS cluster_rank
            FROM filtered
        ), deduped AS (
            SELECT *, CASE WHEN filter_drop IS NOT NULL THEN filter_drop
                           WHEN {dedup} AND cluster_rank > 1 THEN 'duplicate' END AS pre_drop
            FROM ranked
        ), best AS (
            SELECT *, row_number() OVER (PARTITION BY instruction_id
                                         ORDER BY pre_drop IS NULL DESC, _score DESC NULLS LAST, id) AS instr_rank
            FROM deduped
        ), decided AS (
            SELECT *, coalesce(pre_drop, CASE WHEN {n or 0} > 0 AND instr_rank > {n or 0} THEN 'best_of_n' END) AS drop_reason
            FROM best
        )
        SELECT id, _shard, kind, category, instruction_id, cluster_id, drop_reason, drop_reason IS NULL AS selected,
               CASE WHEN {dedup} THEN filter_drop IS NULL AND cluster_rank = 1 END AS is_representative,
               CASE WHEN drop_reason IS NULL THEN 'train' END AS split
        FROM decided
        """

    def summarize(self, run_dir: Path) -> dict[str, Any] | None:
        """The funnel written by ``run_global`` (rules in order, counts per kind/category, splits)."""
        try:
            return {"funnel": json.loads((self.context.stage_dir / "funnel.json").read_text())}
        except (OSError, ValueError):
            return None


def _samples_sql(job: GlobalJob) -> str:
    """A SELECT over the input shards' Parquet files: the step's input columns joined on id, plus ``_shard``."""
    rundir = RunDir(job.run_dir)
    base = job.sources["id"]
    by_step: dict[str, list[str]] = {}
    for c in job.columns:
        if c != "id":
            by_step.setdefault(job.sources[c], []).append(c)

    def files(step: str) -> str:
        paths = [str(rundir.step(step).shard_path(i)).replace("'", "''") for i in range(job.n_shards)]
        return "[" + ", ".join(f"'{p}'" for p in paths) + "]"

    steps = [base, *(s for s in by_step if s != base)]
    cols = ["s0.id", "regexp_extract(s0.filename, 'shard-([0-9]+)[.]parquet$', 1)::BIGINT AS _shard"]
    cols += [f's{k}."{c}"' for k, s in enumerate(steps) for c in by_step.get(s, [])]
    sql = f"SELECT {', '.join(cols)} FROM read_parquet({files(base)}, filename = true) s0"
    for k, s in enumerate(steps[1:], 1):
        sql += f" LEFT JOIN read_parquet({files(s)}) s{k} USING (id)"
    return sql


def _select_task(stage: Select, job: GlobalJob) -> dict[str, int]:
    """Task: decide every row with DuckDB (memory limited) over the input Parquet files; write the shards."""
    job.work_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        config={"memory_limit": f"{int(_MEMORY_GB * 1024)}MB", "temp_directory": str(job.work_dir / "duckdb")}
    )
    rows = 0
    try:
        con.execute(f"CREATE VIEW samples AS {_samples_sql(job)}")
        stage._decide(con, list(job.columns))
        for i in range(job.n_shards):
            rows += job.write(
                stage, i, con.sql(f"SELECT {_OUT} FROM decided WHERE _shard = {int(i)}").to_arrow_table()
            )["rows"]
    finally:
        con.close()
    shutil.rmtree(job.work_dir, ignore_errors=True)
    return {"rows": rows}


def _check_rule(con: duckdb.DuckDBPyConnection, rule: Rule, columns: list[str]) -> None:
    """Raise ``AesdataError`` naming the rule when its predicate is not valid boolean SQL over ``samples``."""
    typ = _check_expr(con, rule.sql, f"rule {rule.name!r} ({rule.origin})", columns)
    if typ != "BOOLEAN":
        raise AesdataError(
            f"Selection rule {rule.name!r} ({rule.origin}) gives {typ} values, not true/false.",
            "Write a condition such as `static_score >= 75`.",
        )


def _check_expr(con: duckdb.DuckDBPyConnection, sql: str, what: str, columns: list[str]) -> str:
    """Type of expression ``sql`` over ``samples``; ``AesdataError`` with DuckDB's message when it does not bind."""
    try:
        return str(con.execute(f"DESCRIBE SELECT (\n{sql}\n) AS v FROM samples").fetchall()[0][1])
    except duckdb.Error as e:
        msg = " ".join(str(e).split())
        heavy = [c for c in _HEAVY if c in sql]
        hint = (
            f"Selection does not load {', '.join(heavy)}; use screenshot_width/height or render_status instead."
            if heavy
            else f"Columns available here: {', '.join(sorted(columns))}. A judge or dedup column exists "
            "only when that step runs before select."
        )
        raise AesdataError(f"Selection {what} is not valid SQL over `samples`: {msg}", hint) from None
