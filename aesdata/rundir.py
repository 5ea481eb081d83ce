"""The run directory: per-step Parquet shards with completion markers, and the manifest.

Layout::

    <run>/manifest.json                    spec, hashes, versions, per-step state, summaries
    <run>/stats.json                       live progress of the build (per step: rows, rate, ETA, workers)
    <run>/build.lock                       flock'd for a whole build; holds pid, host, start, command
    <run>/stages/<step>/step.json          the step's fingerprint and config
    <run>/stages/<step>/shard-00003.parquet
    <run>/stages/<step>/shard-00003.done   JSON marker: rows, failures, seconds, fingerprint, size,
                                           hash (blake2b of the shard file), inputs (hashes it read)
    <run>/stages/<step>/_complete          the step finished every shard (JSON: n_shards, rows)
    <run>/logs/<step>-shard-00003.log      traceback of a failed shard (``<step>-setup.log``,
                                           ``<step>-global.log``, ``<step>-read.log`` for a source)
    <run>/cache/requests.sqlite            the request cache of LLM / VLM calls (``settings.request_cache`` moves it)
    <run>/dataset/                         the export step's dataset (its ``out`` key moves it)

This module is the one owner of that layout: the CLI, the executor backends and the stages ask a
``RunDir`` for paths instead of joining them. ``runs/<pipeline name>`` is the default location.

One build at a time: ``RunDir.lock`` holds an ``fcntl.flock`` on ``build.lock`` for the whole
build (the kernel drops it when the holder dies, so a killed build's lock is simply taken over);
another build of the same folder is refused with the holder's pid, host and start time, and
``--fresh`` or a changed fingerprint deletes nothing before the lock is held. Taking the lock also
removes the temporary files killed builds left (``.<name>.tmp-<pid>``, ``.dataset.tmp``, ``.trash-*``).

A shard counts as finished only when its ``.done`` marker names the step's current fingerprint, the
file still has the size and blake2b hash the marker recorded, and the marker's ``inputs`` (the hashes
of the upstream shards it was computed from) match the upstream markers now; otherwise the shard is
redone, so a truncated shard, or an upstream shard rebuilt with other content, redoes what depends
on it. Files are written to a temporary name and renamed, so a killed build never leaves a half
shard that looks finished. Source and expand steps write whole rows; map and global steps
write ``id`` plus the columns they add, in the same row order as the shard they read, so the
``samples`` view is the base step joined with every later step on ``id``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from aesdata.errors import AesdataError
from aesdata.lineage import Sources, after_step
from aesdata.schema import SAMPLE_SCHEMA

#: the pipeline ``settings`` key that shares one request cache file between runs
CACHE_SETTING = "request_cache"
#: where ``aesdata build`` puts a pipeline's run when no ``--out`` is given (relative to the cwd)
DEFAULT_ROOT = Path("runs")
#: the lock file a build holds (``fcntl.flock``) for its whole run
LOCK_NAME = "build.lock"
#: temporary names a killed build can leave: atomic writes, the export's staging folder, discarded steps
_TEMP_NAME = re.compile(r"^\.(.+\.tmp(-\d+)?|trash-.+)$")
T = TypeVar("T")
#: check results of ``StepDir.check``
OK, TODO, CORRUPT, INPUTS = "ok", "todo", "corrupt", "inputs"


def file_digest(path: Path) -> tuple[int, str]:
    """(size in bytes, blake2b-128 hex) of the file at ``path``."""
    h = hashlib.blake2b(digest_size=16)
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def digest_json(obj: Any) -> str:
    """blake2b-128 hex of ``obj`` as canonical JSON (a global step's many input hashes in one value)."""
    return hashlib.blake2b(json.dumps(obj, sort_keys=True).encode(), digest_size=16).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())


def conform(table: pa.Table, columns: list[str] | tuple[str, ...]) -> pa.Table:
    """Return ``table`` restricted to ``columns`` (in order) cast to the sample schema's types.

    Missing columns become nulls; a value that cannot be cast raises ``AesdataError`` naming the column.
    """
    arrays = []
    fields = []
    for name in columns:
        field = SAMPLE_SCHEMA.field(name)
        if name in table.column_names:
            col = table.column(name)
            if col.type != field.type:
                try:
                    col = col.cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                    raise AesdataError(
                        f"Column {name!r} holds {col.type} values that are not {field.type}: {e}."
                    ) from None
        else:
            col = pa.nulls(table.num_rows, field.type)
        arrays.append(col)
        fields.append(field)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=SAMPLE_SCHEMA.metadata))


class StepDir:
    """One step's folder: shard files, markers and the step fingerprint."""

    def __init__(self, root: Path, step_id: str) -> None:
        self.path = root / "stages" / step_id
        self.step_id = step_id

    def shard_path(self, i: int) -> Path:
        return self.path / f"shard-{i:05d}.parquet"

    def marker_path(self, i: int) -> Path:
        return self.path / f"shard-{i:05d}.done"

    # fingerprint --------------------------------------------------------------
    def fingerprint(self) -> str | None:
        """The fingerprint the folder's shards were made with, or None when there is none."""
        try:
            return json.loads((self.path / "step.json").read_text())["fingerprint"]
        except (OSError, ValueError, KeyError):
            return None

    def prepare(self, fingerprint: str, info: dict[str, Any]) -> bool:
        """Make the folder ready for ``fingerprint``; return True when earlier work was discarded.

        A folder made with another fingerprint (config or upstream changed) is removed first.
        """
        discarded = False
        if self.path.exists() and self.fingerprint() != fingerprint:
            trash = self.path.with_name(f".trash-{self.step_id}-{time.time_ns()}")
            os.replace(self.path, trash)
            shutil.rmtree(trash, ignore_errors=True)
            discarded = True
        self.path.mkdir(parents=True, exist_ok=True)
        if self.fingerprint() != fingerprint:
            atomic_write_json(self.path / "step.json", {"fingerprint": fingerprint, **info})
        return discarded

    # shards -------------------------------------------------------------------
    def check(self, i: int, fingerprint: str, inputs: dict[str, str]) -> str:
        """Whether shard ``i`` can be kept: ``OK``; ``TODO`` (no marker for ``fingerprint``, or one
        without a content hash); ``CORRUPT`` (the file is gone or its size or hash differ from the
        marker's); ``INPUTS`` (it was computed from upstream shards whose content has changed)."""
        marker = self.marker(i)
        if marker.get("fingerprint") != fingerprint or "hash" not in marker:
            return TODO
        path = self.shard_path(i)
        try:
            size = path.stat().st_size
            if size != marker.get("size") or file_digest(path) != (size, marker["hash"]):
                return CORRUPT
        except OSError:
            return CORRUPT
        return OK if marker.get("inputs", {}) == inputs else INPUTS

    def marker(self, i: int) -> dict[str, Any]:
        """Shard ``i``'s marker, or ``{}`` when it has none (or an unreadable one)."""
        try:
            return json.loads(self.marker_path(i).read_text())
        except (OSError, ValueError):
            return {}

    def write_shard(
        self, i: int, table: pa.Table, marker: dict[str, Any], inputs: dict[str, str] | None = None
    ) -> None:
        """Write shard ``i`` then its marker, both atomically (the marker last).

        The marker gets the file's size and blake2b hash and ``inputs`` (upstream step -> hash of the
        shard read), which ``check`` compares on resume."""
        tmp = self.shard_path(i).with_name(f".{self.shard_path(i).name}.tmp-{os.getpid()}")
        pq.write_table(table, tmp, compression="zstd")
        size, digest = file_digest(tmp)
        os.replace(tmp, self.shard_path(i))
        atomic_write_json(
            self.marker_path(i),
            {"rows": table.num_rows, **marker, "size": size, "hash": digest, "inputs": inputs or {}},
        )

    def read_shard(self, i: int, columns: list[str] | None = None) -> pa.Table:
        """Read shard ``i`` (optionally only ``columns``); raise ``AesdataError`` for a corrupt file."""
        path = self.shard_path(i)
        try:
            return pq.read_table(path, columns=columns)
        except (OSError, pa.ArrowException) as e:
            raise AesdataError(
                f"Shard {path} is corrupt or unreadable ({str(e).splitlines()[0]}).",
                "Rerun the build: it checks every shard against its marker and redoes the ones that "
                "fail; other shards are kept.",
            ) from None

    def markers(self) -> list[dict[str, Any]]:
        """Every shard marker of the folder, in shard order."""
        out = []
        for p in sorted(self.path.glob("shard-*.done")):
            try:
                out.append(json.loads(p.read_text()))
            except ValueError:
                continue
        return out

    def mark_complete(self, n_shards: int, rows: int) -> None:
        atomic_write_json(
            self.path / "_complete", {"n_shards": n_shards, "rows": rows, "fingerprint": self.fingerprint()}
        )

    def completion(self) -> dict[str, Any] | None:
        """The ``_complete`` record when the step finished with its current fingerprint."""
        try:
            done = json.loads((self.path / "_complete").read_text())
        except (OSError, ValueError):
            return None
        return done if done.get("fingerprint") == self.fingerprint() else None

    def clear_complete(self) -> None:
        (self.path / "_complete").unlink(missing_ok=True)


class RunDir:
    """A build's run directory: the steps' folders, the manifest, logs, cache and dataset paths."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_pipeline(cls, name: str, out: Path | None = None) -> RunDir:
        """The run directory of pipeline ``name``: ``out`` when given, else ``runs/<name>``; absolute."""
        return cls((out or DEFAULT_ROOT / name).resolve())

    def step(self, step_id: str) -> StepDir:
        return StepDir(self.path, step_id)

    def log_path(self, step_id: str, shard: int | str) -> Path:
        """Log file of a failed shard (an int) or of a step's ``"setup"`` / ``"global"`` phase."""
        tail = f"shard-{shard:05d}" if isinstance(shard, int) else shard
        return self.path / "logs" / f"{step_id}-{tail}.log"

    def cache_path(self, settings: dict[str, Any] | None = None) -> Path:
        """The request cache file: ``settings["request_cache"]`` when set (shared between runs), else in the run."""
        shared = (settings or {}).get(CACHE_SETTING)
        return Path(shared).expanduser() if shared else self.path / "cache" / "requests.sqlite"

    @property
    def dataset_path(self) -> Path:
        """Where the export step writes the dataset unless its ``out`` key says otherwise."""
        return self.path / "dataset"

    @property
    def report_path(self) -> Path:
        """Where ``aesdata report`` writes the HTML report by default."""
        return self.path / "report.html"

    def is_run(self) -> bool:
        """True when the folder holds a manifest (a build started here)."""
        return self.manifest_path.is_file()

    def prepare_for_build(self, pipeline_name: str, fresh: bool) -> contextlib.AbstractContextManager[None]:
        """Check the folder may take a build of ``pipeline_name``, lock it, and with ``fresh`` empty it.

        Use as ``with rundir.prepare_for_build(name, fresh): executor.run()``: the lock is held for
        the block. Refuses (``AesdataError``) a non-empty folder that is not a run directory, a run of
        another pipeline unless ``fresh``, a folder another build holds, and one that cannot be written.
        """
        if self._has_entries() and not self.is_run():  # checked before the lock writes anything here
            what = "--fresh would delete" if fresh else "Cannot build into"
            raise AesdataError(
                f"{what} {self.path}, which exists and is not an aesdata run directory.",
                "Pick another --out folder.",
            )
        return self._prepared(pipeline_name, fresh)

    @contextlib.contextmanager
    def _prepared(self, pipeline_name: str, fresh: bool) -> Iterator[None]:
        with self.lock():
            if fresh:
                for entry in self.path.iterdir():
                    if entry.name != LOCK_NAME:
                        _writable(self.path, lambda e=entry: _remove(e))
            elif self.is_run():
                old = self.manifest().get("pipeline", {}).get("name")
                if old and old != pipeline_name:
                    raise AesdataError(
                        f"{self.path} holds a run of pipeline {old!r}, not {pipeline_name!r}.",
                        "Use --out for another folder, or --fresh to replace it.",
                    )
            yield

    def _has_entries(self) -> bool:
        """True when the folder exists and holds anything besides the lock file."""
        try:
            return any(p.name != LOCK_NAME for p in self.path.iterdir())
        except FileNotFoundError:
            return False
        except OSError as e:
            raise unwritable(self.path, e) from None

    # lock -----------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run directory's build lock for the block (re-entrant within one process).

        Creates the folder, takes an exclusive ``flock`` on ``build.lock`` without waiting, records
        the holder (pid, host, start time, command) in it and removes temporary files killed builds
        left. Raises ``AesdataError`` naming the holder when another build has it, and one paragraph
        when the folder cannot be created or written.
        """
        key = os.path.realpath(self.path)
        if key in _HELD:
            yield
            return
        _writable(self.path, lambda: self.path.mkdir(parents=True, exist_ok=True))
        f = _writable(self.path, lambda: open(self.path / LOCK_NAME, "a+", encoding="utf-8"))
        try:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise self._held_error(f) from None
            holder = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                "command": shlex.join(sys.argv),
            }
            try:
                _writable(self.path, lambda: _write_holder(f, holder))
                _writable(self.path, self.clean_temporary)
                _HELD.add(key)
                yield
            finally:
                _HELD.discard(key)
                f.truncate(0)  # released: no holder recorded
        finally:
            f.close()  # closing the descriptor releases the flock

    def _held_error(self, f: TextIO) -> AesdataError:
        f.seek(0)
        try:
            h = json.loads(f.read())
        except ValueError:
            h = {}
        who = f"pid {h.get('pid', '?')} on host {h.get('host', '?')}, started {h.get('started', '?')}" + (
            f" ({h['command']})" if h.get("command") else ""
        )
        return AesdataError(
            f"Another build is using the run directory {self.path}: {who}. Only one build may write a "
            "run directory at a time; this one stops before touching anything.",
            "Wait for that build to finish (then rerun the same command to resume), stop it, or pass "
            "--out for another folder.",
        )

    def clean_temporary(self) -> list[Path]:
        """Remove the temporary files and folders killed builds left; return what was removed.

        Looks in the run folder and in every step folder (not deeper): ``.<name>.tmp-<pid>`` of atomic
        writes, ``.<name>.tmp`` staging folders (the export's ``.dataset.tmp``) and ``.trash-*`` of
        discarded steps. Call it only with the lock held."""
        folders = [self.path, self.path / "stages"]
        if (self.path / "stages").is_dir():
            folders += [p for p in (self.path / "stages").iterdir() if p.is_dir()]
        removed = []
        for folder in folders:
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if _TEMP_NAME.match(entry.name):
                    _remove(entry)
                    removed.append(entry)
        return removed

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def stats_path(self) -> Path:
        """The build's live progress (``executor.stats``), rewritten every few seconds while it runs."""
        return self.path / "stats.json"

    def manifest(self) -> dict[str, Any]:
        """The manifest; raise ``AesdataError`` when the folder is not a run directory."""
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise AesdataError(
                f"{self.path} is not an aesdata run directory (no manifest.json).",
                "Pass the folder a build wrote, e.g. runs/demo.",
            ) from None
        except ValueError as e:
            raise AesdataError(f"{self.manifest_path} is not valid JSON ({e}).", "Rebuild the run.") from None

    def manifest_or_empty(self) -> dict[str, Any]:
        """The manifest, or ``{}`` when there is none yet or it cannot be read."""
        try:
            return self.manifest()
        except AesdataError:
            return {}

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.manifest_path, manifest)

    def column_sources(self) -> tuple[str, dict[str, str]]:
        """Return (base step id, {column: step id that wrote it last}) from the manifest's step list."""
        sources: Sources = {}
        for s in self.manifest().get("steps", []):
            if self.step(s["id"]).completion() and (sources or s["mode"] in ("source", "expand")):
                sources = after_step(sources, s["id"], s["mode"], s["outputs"])
        base = sources.get("id")
        if base is None:
            raise AesdataError(
                f"Run {self.path} has no finished source step yet.",
                "Run `aesdata build` to completion first.",
            )
        return base, sources

    def read_columns(self, i: int, columns: list[str] | tuple[str, ...], sources: dict[str, str]) -> pa.Table:
        """Shard ``i`` with ``id`` + ``columns``, each read from the step that wrote it last, joined by position."""
        by_step: dict[str, list[str]] = {}
        for c in columns:
            if c == "id":
                continue
            if c not in sources:
                raise AesdataError(f"Column {c!r} is not written by any step before this one in {self.path}.")
            by_step.setdefault(sources[c], []).append(c)
        table = self.step(sources["id"]).read_shard(i, ["id"])
        for step_id, cols in by_step.items():
            part = self.step(step_id).read_shard(i, ["id", *cols])
            if part.num_rows != table.num_rows or part.column("id") != table.column("id"):
                raise AesdataError(
                    f"Shard {i} of step {step_id} does not line up with its input (ids differ).",
                    "Rebuild with --fresh.",
                )
            for c in cols:
                table = table.append_column(part.schema.field(c), part.column(c))
        return table

    def input_hashes(
        self, i: int, columns: list[str] | tuple[str, ...], sources: dict[str, str]
    ) -> dict[str, str]:
        """{step id: content hash of its shard ``i``} for every step ``read_columns`` reads ``columns`` from."""
        steps = {sources["id"], *(sources[c] for c in columns if c in sources)}
        return {s: str(self.step(s).marker(i).get("hash", "")) for s in sorted(steps)}

    def samples_sql(self) -> str:
        """A DuckDB SELECT over every finished step's shards joined on id: the ``samples`` view."""
        base, sources = self.column_sources()
        steps = [base] + [s for s in dict.fromkeys(sources.values()) if s != base]
        cols_by_step: dict[str, list[str]] = {}
        for c, s in sources.items():
            cols_by_step.setdefault(s, []).append(c)
        parts = []
        for n, s in enumerate(steps):
            glob = str(self.step(s).path / "shard-*.parquet").replace("'", "''")
            parts.append((f"s{n}", glob, cols_by_step[s]))
        select = ", ".join(
            f'{alias}."{c}"' for alias, _, cols in parts for c in cols if not (c == "id" and alias != "s0")
        )
        sql = f"SELECT {select} FROM read_parquet('{parts[0][1]}') s0"
        for alias, glob, _ in parts[1:]:
            sql += f" LEFT JOIN read_parquet('{glob}') {alias} USING (id)"
        return sql


#: run folders whose lock this process holds (a nested ``RunDir.lock`` of one of them just goes on)
_HELD: set[str] = set()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _write_holder(f: TextIO, holder: dict[str, Any]) -> None:
    f.seek(0)
    f.truncate()
    f.write(json.dumps(holder) + "\n")
    f.flush()
    probe = Path(f.name).with_name(f".write-probe.tmp-{os.getpid()}")
    probe.write_bytes(b"")  # a folder that keeps its files but takes no new ones fails here, not mid-build
    probe.unlink()


def unwritable(path: Path, e: OSError) -> AesdataError:
    """One paragraph for a run directory that cannot be created, read or written (``e`` says why)."""
    where = f" ({e.filename})" if e.filename and str(e.filename) != str(path) else ""
    return AesdataError(
        f"Cannot write to the run directory {path}: {e.strerror or e}{where}. A build writes its shards, "
        "markers, manifest and lock file there.",
        "Pass --out with a folder you can write to, or make this one writable (check its owner and "
        "permissions, a read-only mount, `lsattr` for the immutable flag, free disk space).",
    )


def _writable(path: Path, action: Callable[[], T]) -> T:
    """Run ``action()``; turn a permission, read-only or disk-full error into ``unwritable``."""
    try:
        return action()
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR):
            raise unwritable(path, e) from None
        raise
