"""Plotting scripts (matplotlib, seaborn, plotly) in warm sandboxed workers -> the schema's render columns.

``PlotSandbox`` starts ``workers`` fork servers (:mod:`aesdata.render.plot_worker`), each wrapped
in the strongest sandbox :func:`aesdata.render.isolation.detect_isolation` found (bubblewrap here).
A worker imports the plotting stack once; every script then runs in a fresh forked child with its
own work dir (``data.csv`` written there), resource limits, an unprivileged uid where possible, and
a wall-clock kill of its process group. A script's time budget is CPU time (``RLIMIT_CPU``: status
``timeout``), so a busy machine does not fail slow-but-correct scripts; the wall-clock guard, several
times longer, catches scripts that wait (status ``wall_timeout``), and :meth:`PlotSandbox.run_many`
runs those once more alone before the status is final. Plotly figures come back as JSON and are rasterised by one
lazily started renderer process (plotly.js in a warm headless Chromium page, in the same sandbox,
no network).

Usage::

    with PlotSandbox(workers=2) as sandbox:
        rows = sandbox.run_many([PlotJob(code, data_csv), ...])   # one dict per job, in order

Each dict is keyed by render-group columns of :mod:`aesdata.schema`. A failed script is a status
with an error text; its screenshot is null, never a placeholder image.
"""

from __future__ import annotations

import base64
import json
import math
import os
import queue
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aesdata.browser import LAUNCH_ARGS, find_browser
from aesdata.errors import AesdataError
from aesdata.render.isolation import Isolation, detect_isolation, mpl_cache_dir
from aesdata.resources import machine_cpus

_WORKER = Path(__file__).with_name("plot_worker.py")
#: run the worker file without putting aesdata/render on sys.path (its html.py shadows the stdlib)
_BOOT = "import runpy, sys; sys.path.pop(0); runpy.run_path({!r}, run_name='__main__')"
_HOST_MARGIN_S = 30.0  # the worker enforces the script timeout; the host only guards a hung worker
_SANDBOX_UID_BASE = 2_000_000
_MAX_FRAME = 256 * 2**20


@dataclass
class PlotJob:
    """One plotting script and the CSV text it may read as ``data.csv`` from its working dir."""

    code: str
    data_csv: str | None = None


class _FrameProcess:
    """A sandboxed child speaking length-prefixed JSON frames over stdin/stdout."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, ready_timeout_s: float) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            start_new_session=True,
        )
        try:
            self.hello: dict[str, Any] = self.recv(ready_timeout_s)
        except (TimeoutError, EOFError) as exc:
            self.kill()
            raise RuntimeError(f"sandboxed worker did not start ({exc}): {self.log_tail()}") from exc

    def send(self, obj: Any) -> None:
        data = json.dumps(obj).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(struct.pack(">I", len(data)) + data)
        self.proc.stdin.flush()

    def recv(self, timeout_s: float) -> Any:
        """Read one frame; ``TimeoutError`` after ``timeout_s``, ``EOFError`` if the process ended."""
        deadline = time.monotonic() + timeout_s
        (size,) = struct.unpack(">I", self._read(4, deadline))
        if size > _MAX_FRAME:
            raise EOFError(f"frame of {size} bytes is over the limit")
        return json.loads(self._read(size, deadline))

    def _read(self, n: int, deadline: float) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        chunks, left = [], n
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError("no answer in time")
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError(f"worker exited: {self.log_tail()}")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 600) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def kill(self) -> None:
        """Kill the sandbox and everything in it (its own session / pid namespace)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self._log.close()

    def close(self, timeout_s: float = 5.0) -> None:
        """Close stdin (the process exits at EOF); kill it if it lingers."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout_s)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


class PlotSandbox:
    """Warm, sandboxed plot workers; ``run_many`` turns scripts into render rows.

    Args:
        workers: fork servers run in parallel (default: ``machine_cpus()``, the worker's reservation).
        timeout_s: CPU-time limit per script (seconds of CPU, rounded up; exceeded: ``timeout``).
        wall_timeout_s: wall-clock guard per script (default: 3 x ``timeout_s``, at least 60 s;
            exceeded: ``wall_timeout``, retried once alone by ``run_many``).
        memory_mb: address space a script may add over the warm image it is forked from.
        dpi: matplotlib rendering resolution (plotly: scale = dpi / 100).
        max_figures: figures per script described in ``layout_json`` (the first is the screenshot).
        max_procs: processes a script may run at once (RLIMIT_NPROC for its own uid).
        file_mb: largest file a script may write (RLIMIT_FSIZE).
        max_output_chars: stdout/stderr kept per script.
        start_timeout_s: how long a worker may take to import the plotting stack.
        isolation: a probed :class:`Isolation` (default: the strongest available here).
    """

    def __init__(
        self,
        workers: int | None = None,
        timeout_s: float = 20.0,
        wall_timeout_s: float | None = None,
        memory_mb: int = 1024,
        dpi: int = 100,
        max_figures: int = 4,
        max_procs: int = 64,
        file_mb: int = 64,
        max_output_chars: int = 8000,
        start_timeout_s: float = 180.0,
        isolation: Isolation | None = None,
    ) -> None:
        self.n_workers = max(1, workers or machine_cpus())
        self.timeout_s = float(timeout_s)
        self.wall_timeout_s = float(wall_timeout_s or max(60.0, 3 * self.timeout_s))
        self.memory_mb = int(memory_mb)
        self.dpi = int(dpi)
        self.max_figures = int(max_figures)
        self.max_procs = int(max_procs)
        self.file_mb = int(file_mb)
        self.max_output_chars = int(max_output_chars)
        self.start_timeout_s = float(start_timeout_s)
        self._isolation = isolation
        self._workers: list[_FrameProcess | None] = []
        # Workers are spawned and driven only from these long-lived threads: bubblewrap's
        # --die-with-parent fires when the *thread* that started it exits.
        self._pool: ThreadPoolExecutor | None = None
        self._free: queue.Queue[int] = queue.Queue()
        self._renderer: _FrameProcess | None = None
        self._renderer_error: str | None = None
        self._renderer_lock = threading.Lock()
        self._plotly_meta: dict[str, str] = {}
        self._tmp: Path | None = None
        self._hello: dict[str, Any] = {}
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> PlotSandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Probe the isolation, prepare matplotlib's font cache and start the warm workers (in parallel)."""
        if self._started:
            return
        if not hasattr(os, "fork"):
            raise AesdataError(
                "The plot sandbox needs a POSIX system with fork().", "Run plot rendering on Linux."
            )
        self._isolation = self._isolation or detect_isolation()
        self._tmp = Path(tempfile.mkdtemp(prefix="aesdata-plot-"))
        weakref.finalize(self, shutil.rmtree, self._tmp, True)  # also when close() is never called
        self._cache = _prepare_mpl_cache()
        self._workers = [None] * self.n_workers
        # twice the workers: a thread waiting on the plotly renderer has already freed its worker
        self._pool = ThreadPoolExecutor(max_workers=2 * self.n_workers, thread_name_prefix="plot-slot")
        errors: list[str] = []

        def boot(i: int) -> None:
            try:
                self._workers[i] = self._spawn_worker(i)
            except RuntimeError as exc:
                errors.append(str(exc))

        for future in [self._pool.submit(boot, i) for i in range(self.n_workers)]:
            future.result()
        for i in range(self.n_workers):
            self._free.put(i)
        self._started = True
        if errors:
            self.close()
            raise AesdataError(
                f"The plot sandbox could not start its workers: {errors[0]}", "Run `aesdata doctor`."
            )

    def close(self) -> None:
        """Stop every worker and the plotly renderer; remove the sandbox's temp files."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._free = queue.Queue()
        for worker in self._workers:
            if worker is not None:
                worker.close()
        self._workers = []
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._started = False

    def isolation(self) -> dict[str, Any]:
        """{"method", "network" (True = scripts can reach it), "fs_readonly", "details"} of this sandbox."""
        iso = self._isolation or detect_isolation()
        out = iso.as_dict()
        out["details"] = {
            **out["details"],
            "limits": {
                "cpu_s": self.timeout_s,
                "wall_timeout_s": self.wall_timeout_s,
                "memory_mb": self.memory_mb,
                "max_procs": self.max_procs,
                "file_mb": self.file_mb,
            },
            "audit_hook": "refuses os.system, subprocess, exec, fork"
            + ("" if not iso.network else ", sockets"),
            "plotly_export": "plotly.js in a warm headless Chromium page inside the sandbox",
        }
        return out

    # ------------------------------------------------------------------ workers

    def _env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": "/tmp/home" if self._bwrap else str(self._tmp),
            "MPLBACKEND": "Agg",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "NUMEXPR_NUM_THREADS": "1",
        }

    @property
    def _bwrap(self) -> bool:
        return self._isolation is not None and self._isolation.method == "bwrap"

    def _argv(self, mode_args: list[str], for_browser: bool = False) -> list[str]:
        assert self._isolation is not None
        argv = [sys.executable, "-s", "-c", _BOOT.format(str(_WORKER)), *mode_args]
        return self._isolation.wrap(
            argv, ro_paths=[str(_WORKER.parent), str(self._cache)], for_browser=for_browser
        )

    def _spawn_worker(self, index: int) -> _FrameProcess:
        assert self._tmp is not None and self._isolation is not None
        root = "/tmp" if self._bwrap else str(self._tmp)
        cfg = {
            "work_root": f"{root}/work-{index}",
            "mpl_dir": f"{root}/mplconfig-{index}",
            "mpl_cache": str(self._cache),
            "sandbox_uid": _SANDBOX_UID_BASE + (os.getpid() % 100_000) * 16 + index
            if self._isolation.drops_uid
            else None,
            "block_network_in_python": self._isolation.network,
        }
        log = self._tmp / f"worker-{index}.log"
        worker = _FrameProcess(self._argv(["serve", json.dumps(cfg)]), self._env(), log, self.start_timeout_s)
        self._hello = worker.hello
        return worker

    def _nproc_limit(self) -> int:
        """RLIMIT_NPROC counts every process of the uid: with a private uid it is ``max_procs``."""
        assert self._isolation is not None
        if self._isolation.drops_uid:
            return self.max_procs
        return _count_processes(os.getuid()) + self.max_procs

    # ------------------------------------------------------------------ running

    def run_many(self, jobs: Sequence[PlotJob | Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Run every job on the warm workers; return one render-row dict per job, in job order.

        A job is a :class:`PlotJob` or a mapping with ``code`` and optional ``data_csv``. A job that hit
        the wall-clock guard runs once more after the others, alone; a second ``wall_timeout`` is final
        as ``timeout``.
        """
        self.start()
        assert self._pool is not None
        nproc = self._nproc_limit()
        plot_jobs = [j if isinstance(j, PlotJob) else PlotJob(j["code"], j.get("data_csv")) for j in jobs]
        futures = [self._pool.submit(self._run_on_free_slot, job, nproc) for job in plot_jobs]
        rows = [f.result() for f in futures]
        for i, row in enumerate(rows):
            if row["render_status"] == "wall_timeout":
                retry = self._pool.submit(self._run_on_free_slot, plot_jobs[i], nproc).result()
                if retry["render_status"] == "wall_timeout":
                    retry["render_status"] = "timeout"
                    retry["render_error"] = f"{retry['render_error']} (also when run alone)"
                rows[i] = retry
        return rows

    def _run_on_free_slot(self, job: PlotJob, nproc: int) -> dict[str, Any]:
        """Run the script on a free worker, free it, then rasterise a plotly figure if there is one."""
        slot = self._free.get()
        t0 = time.perf_counter()
        try:
            result = self._run_one(slot, job, nproc)
        finally:
            self._free.put(slot)
        png = None
        first = result.pop("first", None)
        if result["status"] == "ok" and first is not None:
            if first["library"] == "matplotlib":
                png = base64.b64decode(first["png_b64"])
            else:
                t1 = time.perf_counter()
                png, error = self._render_plotly(first["figure_json"])
                result.setdefault("timings", {})["plotly_export_ms"] = round(
                    (time.perf_counter() - t1) * 1000, 2
                )
                if png is None:
                    result.update(
                        status="crash" if error.startswith("plotly renderer") else "exec_error", error=error
                    )
        return self._row(result, png, t0)

    def _run_one(self, slot: int, job: PlotJob, nproc: int) -> dict[str, Any]:
        """Send one job to the worker of ``slot`` (restarting it if it died); return its raw result."""
        worker = self._workers[slot]
        if worker is None or not worker.alive():
            if worker is not None:
                worker.kill()
            try:
                worker = self._workers[slot] = self._spawn_worker(slot)
            except RuntimeError as exc:
                self._workers[slot] = None
                return {"status": "crash", "error": f"plot worker could not restart: {exc}"}
        request = {
            "code": job.code,
            "data_csv": job.data_csv,
            "timeout_s": self.wall_timeout_s,
            "cpu_s": math.ceil(self.timeout_s),
            "memory_mb": self.memory_mb,
            "nproc": nproc,
            "file_mb": self.file_mb,
            "dpi": self.dpi,
            "max_figures": self.max_figures,
            "max_output_chars": self.max_output_chars,
        }
        try:
            worker.send(request)
            return worker.recv(self.wall_timeout_s + _HOST_MARGIN_S)
        except (OSError, EOFError, TimeoutError, ValueError) as exc:
            worker.kill()
            self._workers[slot] = None
            return {"status": "crash", "error": f"plot worker died: {exc}"}

    def _render_plotly(self, figure_json: str) -> tuple[bytes | None, str]:
        """Rasterise one plotly figure in the sandboxed plotly renderer: (png, "") or (None, error)."""
        with self._renderer_lock:
            if self._renderer is None or not self._renderer.alive():
                if self._renderer_error is not None:
                    return None, self._renderer_error
                try:
                    self._renderer = self._spawn_renderer()
                except RuntimeError as exc:
                    self._renderer_error = f"plotly renderer unavailable: {exc}"
                    return None, self._renderer_error
            try:
                self._renderer.send({"figure": figure_json, "scale": self.dpi / 100})
                answer = self._renderer.recv(self.wall_timeout_s + _HOST_MARGIN_S)
            except (OSError, EOFError, TimeoutError, ValueError) as exc:
                self._renderer.kill()
                self._renderer = None
                return None, f"plotly renderer failed on this figure: {exc}"
        if "error" in answer:
            return None, f"plotly export failed: {answer['error']}"
        return base64.b64decode(answer["png_b64"]), ""

    def _spawn_renderer(self) -> _FrameProcess:
        assert self._tmp is not None
        env = self._env()
        try:
            browser = find_browser()
        except AesdataError as exc:
            raise RuntimeError(exc.message) from exc
        env["BROWSER_PATH"] = browser.path
        env["AESDATA_BROWSER_ARGS"] = json.dumps(LAUNCH_ARGS)
        self._plotly_meta = {
            "browser": browser.path,
            "browser_version": browser.label,
            "plotly.js": _package_version("plotly"),
        }
        return _FrameProcess(
            self._argv(["plotly"], for_browser=True), env, self._tmp / "plotly.log", self.start_timeout_s
        )

    # ------------------------------------------------------------------ rows

    def _row(self, result: dict[str, Any], png: bytes | None, t0: float) -> dict[str, Any]:
        """The schema's render columns for one script."""
        status = result["status"]
        ok = status == "ok" and png is not None
        width, height = _png_size(png) if ok and png else (None, None)
        image = {"bytes": png, "path": None} if ok else None
        layouts = result.get("layouts")
        timings = {**result.get("timings", {}), "total_ms": round((time.perf_counter() - t0) * 1000, 2)}
        library = layouts[0]["library"] if layouts else None
        meta = {
            "renderer": "plot_sandbox",
            "library": library,
            "dpi": self.dpi,
            "isolation": self.isolation(),
            "versions": self._hello.get("versions", {}),
        }
        if library == "plotly":
            meta["plotly_export"] = {"method": "Plotly.toImage in headless Chromium", **self._plotly_meta}
        return {
            "render_status": status if ok or status != "ok" else "crash",
            "render_error": result.get("error") if status != "ok" else (None if ok else "no image came back"),
            "plot_stdout": result.get("plot_stdout", ""),
            "plot_stderr": result.get("plot_stderr", ""),
            "plot_figures": int(result.get("n_figures", 0)),
            "screenshot": image,
            "screenshot_viewport": image,
            "screenshot_width": width,
            "screenshot_height": height,
            "render_ms": timings["total_ms"],
            "render_timings_json": json.dumps(timings),
            "render_meta_json": json.dumps(meta),
            "layout_json": json.dumps({"n_figures": result.get("n_figures", 0), "figures": layouts})
            if ok
            else None,
        }


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def _package_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _count_processes(uid: int) -> int:
    """Processes currently owned by ``uid`` (for a relative RLIMIT_NPROC when scripts share our uid)."""
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    count += 1
            except OSError:
                continue
    return count


def _prepare_mpl_cache() -> Path:
    """Build matplotlib's font cache once per machine (host side, trusted), so workers start fast."""
    cache = mpl_cache_dir()
    if not any(cache.glob("fontlist-*.json")):
        cache.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MPLCONFIGDIR": str(cache), "MPLBACKEND": "Agg"}
        subprocess.run(
            [sys.executable, "-s", "-c", "import matplotlib.font_manager"], env=env, check=False, timeout=300
        )
    return cache
