"""Live statistics of a build: ``stats.json`` in the run directory, rewritten every few seconds.

One writer for every backend: the build loop (``executor.base``) tells it when a step starts, advances
and ends; a backend adds where the step runs (workers, nodes); a thread rewrites the file atomically
every ``interval_s`` seconds, and once more at the end. Schema::

    {"status": "running" | "complete" | "failed", "executor": "local" | "ray",
     "started": ISO time, "updated_at": ISO time,
     "steps": [{"id", "stage", "mode", "status": "pending" | "running" | "complete" | "failed",
                "rows_done", "rows_total" (null while unknown), "failures", "retries" (shards rerun
                after their worker or node was lost), "rows_per_s" (rows done by
                this build / seconds since the step started), "eta_s" (null while unknown),
                "workers", "nodes", "seconds"}, ...]}

``rows_done`` counts rows of shards done earlier too; the rate counts only this build's.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from aesdata.executor.manifest import now
from aesdata.rundir import RunDir, atomic_write_json

#: seconds between rewrites of stats.json while a build runs
INTERVAL_S = 2.0


class StatsWriter:
    """Keeps the build's per-step statistics and rewrites ``stats.json``; use as a context manager."""

    def __init__(
        self,
        rundir: RunDir,
        executor: str,
        steps: list[tuple[str, str, str]],
        interval_s: float | None = None,
    ) -> None:
        """``steps``: (id, stage name, mode) of every step, in order."""
        self.path = rundir.stats_path
        self.interval_s = interval_s or INTERVAL_S
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0: dict[str, float] = {}
        self._earlier: dict[str, int] = {}
        self.data: dict[str, Any] = {
            "status": "running",
            "executor": executor,
            "started": now(),
            "updated_at": now(),
            "steps": [
                {
                    "id": sid,
                    "stage": stage,
                    "mode": mode,
                    "status": "pending",
                    "rows_done": 0,
                    "rows_total": None,
                    "failures": 0,
                    "retries": 0,
                    "rows_per_s": 0.0,
                    "eta_s": None,
                    "workers": 0,
                    "nodes": 0,
                    "seconds": 0.0,
                }
                for sid, stage, mode in steps
            ],
        }
        self._by_id = {s["id"]: s for s in self.data["steps"]}

    # ----------------------------------------------------------------- the build loop's calls
    def start_step(self, step_id: str) -> None:
        """Step ``step_id`` starts (its clock for the rate starts now; one worker until a backend says more)."""
        with self._lock:
            self._by_id[step_id].update(status="running", workers=1, nodes=1)
            self._t0[step_id] = time.monotonic()
        self.write()

    def set_total(self, step_id: str, total: int | None, done: int = 0) -> None:
        """Step ``step_id`` has ``total`` rows to reach (None: unknown), ``done`` of them done earlier."""
        with self._lock:
            self._by_id[step_id].update(rows_total=total, rows_done=done)
            self._earlier[step_id] = done

    def update(self, step_id: str, **fields: Any) -> None:
        """Set fields of a step (``rows_total``, ``workers``, ``nodes``...)."""
        with self._lock:
            self._by_id[step_id].update(fields)

    def advance(self, step_id: str, rows: int, failures: int = 0) -> None:
        """``rows`` more rows (``failures`` of them failed) of step ``step_id`` are done."""
        with self._lock:
            s = self._by_id[step_id]
            s["rows_done"] += rows
            s["failures"] += failures

    def retried(self, step_id: str) -> None:
        """A shard of step ``step_id`` is run again (its worker or node was lost)."""
        with self._lock:
            self._by_id[step_id]["retries"] += 1

    def end_step(
        self, step_id: str, status: str, rows: int | None = None, failures: int | None = None
    ) -> None:
        """Step ``step_id`` ended (``complete`` / ``failed``), with its final row and failure counts."""
        with self._lock:
            s = self._by_id[step_id]
            s["status"] = status
            if rows is not None:
                s["rows_done"] = rows
                if status == "complete" and (s["rows_total"] is None or s["mode"] != "map"):
                    s["rows_total"] = rows
            if failures is not None:
                s["failures"] = failures
            self._rates(s)
            if status == "complete":
                s["eta_s"] = 0.0
            self._t0.pop(step_id, None)
        self.write()

    # ----------------------------------------------------------------- the file
    def _rates(self, s: dict[str, Any]) -> None:
        t0 = self._t0.get(s["id"])
        if t0 is None:
            return
        seconds = time.monotonic() - t0
        rate = (s["rows_done"] - self._earlier.get(s["id"], 0)) / seconds if seconds > 0 else 0.0
        s["seconds"] = round(seconds, 1)
        s["rows_per_s"] = round(rate, 3)
        total = s["rows_total"]
        s["eta_s"] = round((total - s["rows_done"]) / rate, 1) if total is not None and rate > 0 else None

    def write(self) -> None:
        """Rewrite ``stats.json`` now (atomically; one writer at a time, newest snapshot last)."""
        with self._write_lock:
            with self._lock:
                for s in self.data["steps"]:
                    if s["status"] == "running":
                        self._rates(s)
                self.data["updated_at"] = now()
                snapshot = {**self.data, "steps": [dict(s) for s in self.data["steps"]]}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.path, snapshot)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.write()

    def __enter__(self) -> StatsWriter:
        self.write()
        self._thread = threading.Thread(target=self._loop, name="aesdata-stats", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self.data["status"] = "failed" if exc_type is not None else "complete"
            for s in self.data["steps"]:
                if s["status"] == "running":
                    s["status"] = "failed"
        self.write()
