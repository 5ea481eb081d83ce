"""Plot worker: a fork server that runs untrusted plotting scripts, one fresh child per script.

Started by :class:`aesdata.render.plot_sandbox.PlotSandbox`, usually inside bubblewrap, as
``python -s -c <run this file> serve '<config json>'`` (or ``plotly`` for the plotly renderer) with
a clean environment (``PYTHONHASHSEED=0``, so set iteration order, hence colours, is reproducible).
It imports nothing from aesdata and is not run as ``python plot_worker.py``, which would put
``aesdata/render`` (holding an ``html.py`` that shadows the standard library) on ``sys.path``.

``serve``: imports numpy, pandas, matplotlib (Agg), seaborn and plotly once and draws a warm-up
figure, then answers job frames on stdin with result frames on stdout (4-byte big-endian length +
UTF-8 JSON). Per job it forks a child that
  - starts a new session (so the whole process group can be killed), closes the protocol pipes,
    sends stdout/stderr to capped files, chdirs into a fresh work dir holding ``data.csv``;
  - sets RLIMIT_AS (the warm image + ``memory_mb``), RLIMIT_CPU, RLIMIT_NPROC, RLIMIT_FSIZE,
    RLIMIT_CORE=0, then (when the worker runs as root) drops to an unprivileged per-worker uid
    with no capabilities and ``no_new_privs``;
  - installs an audit hook that refuses process spawning (``os.system``, ``subprocess``, ``exec``,
    ``fork``) and, where the OS layer leaves the network up, ``socket.connect`` -- a policy layer
    with clear errors on top of the OS isolation, which stays the real boundary;
  - runs the script with :func:`plot_script.run_script` (seeded, figures captured and extracted) and
    sends back its result frame.
The parent enforces the wall-clock limit (SIGKILL to the child's process group), and, being a child
subreaper, kills every process the script left behind before answering.

``plotly``: keeps one headless Chromium page with plotly.js warm (no network inside the sandbox)
and turns figure JSON frames into PNG frames (:func:`serve_plotly`).

This module is the process side (protocol, forking, confinement); the plotting side (warm-up, running
a script, figure capture and extraction, plotly rasterising) is the sibling ``plot_script.py``, with
the figures' layout summaries in ``plot_layout.py``: both are loaded from this file's folder
(:func:`load_siblings`), which the sandbox binds read-only.

Hand-written (no library does this): the fork server, the limits and uid drop.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import json
import os
import resource
import select
import signal
import struct
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any

_PACKAGE = "_aesdata_plot"
MAX_RESULT_BYTES = 64 * 1024 * 1024
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38
_EXIT_MEMORY = 71  # the child ran out of memory even while reporting
_libc = ctypes.CDLL(None, use_errno=True)


def load_siblings() -> tuple[Any, Any]:
    """Import ``plot_script.py`` and ``plot_layout.py`` from this file's folder, as modules of a
    stand-in package ``_aesdata_plot`` whose path is that folder (so their relative imports work),
    without putting ``aesdata/render`` on ``sys.path`` (its ``html.py`` would shadow the standard
    library) and without importing aesdata. Returns (plot_script, plot_layout)."""
    package = types.ModuleType(_PACKAGE)
    package.__path__ = [str(Path(__file__).parent)]
    sys.modules[_PACKAGE] = package
    return (
        importlib.import_module(f"{_PACKAGE}.plot_script"),
        importlib.import_module(f"{_PACKAGE}.plot_layout"),
    )


script, layout = load_siblings()


# ---------------------------------------------------------------- framing (shared with plot_sandbox)


def write_frame(fd: int, obj: Any) -> None:
    """Write ``obj`` as one frame (4-byte big-endian length + UTF-8 JSON) to file descriptor ``fd``."""
    data = json.dumps(obj, separators=(",", ":"), default=layout.jsonable).encode()
    view = memoryview(struct.pack(">I", len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def read_frame(fd: int) -> Any:
    """Read one frame from ``fd``; raise ``EOFError`` when the stream ends."""
    (size,) = struct.unpack(">I", _read_exact(fd, 4))
    return json.loads(_read_exact(fd, size))


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("stream closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _prctl(option: int, arg: int) -> bool:
    return _libc.prctl(option, arg, 0, 0, 0) == 0


# ---------------------------------------------------------------- the fork server


class ForkServer:
    """Warm parent: owns the imported libraries; ``run(job)`` forks one child per script."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.work_root: str = cfg["work_root"]
        self.sandbox_uid: int | None = cfg.get("sandbox_uid") if os.geteuid() == 0 else None
        self.block_network: bool = bool(cfg.get("block_network_in_python", False))
        self.jobs_done = 0
        os.makedirs(self.work_root, exist_ok=True)
        os.chmod(self.work_root, 0o711)  # the sandbox uid may enter its own job dir, not list others
        _private_mplconfig(cfg.get("mpl_cache"), cfg["mpl_dir"])
        self.versions = self._warm_up()
        self.subreaper = _prctl(_PR_SET_CHILD_SUBREAPER, 1)  # orphans of scripts re-parent here

    def _warm_up(self) -> dict[str, str]:
        """Import the plotting stack and draw one figure of each kind so children start hot."""
        versions = script.warm_up()
        gc.collect()
        gc.freeze()  # children's collections skip the warm image, so they copy fewer pages on write
        return versions

    def hello(self) -> dict[str, Any]:
        """What the sandbox host learns once at start: versions and the protections in force."""
        return {
            "ready": True,
            "versions": self.versions,
            "uid_drop": self.sandbox_uid is not None,
            "subreaper": self.subreaper,
            "warm_vsz_mb": round(_vsz_bytes() / 2**20),
        }

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run one script in a fresh child; return the result dict (status, error, figures, ...)."""
        self.jobs_done += 1
        t0 = time.perf_counter()
        job_dir = os.path.join(self.work_root, f"job-{os.getpid()}-{self.jobs_done}")
        io_dir = job_dir + ".io"
        os.mkdir(job_dir, 0o700)
        os.mkdir(io_dir, 0o700)
        with open(os.path.join(job_dir, script.SCRIPT_NAME), "w") as f:
            f.write(job["code"])
        if job.get("data_csv") is not None:
            with open(os.path.join(job_dir, "data.csv"), "w") as f:
                f.write(job["data_csv"])
        if self.sandbox_uid is not None:
            for name in [job_dir, *(os.path.join(job_dir, n) for n in os.listdir(job_dir))]:
                os.chown(name, self.sandbox_uid, self.sandbox_uid)
        out_fd = os.open(os.path.join(io_dir, "stdout"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        err_fd = os.open(os.path.join(io_dir, "stderr"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        r, w = os.pipe()
        try:
            pid = os.fork()
            if pid == 0:  # child: never returns
                os.close(r)
                _child_main(job, self, job_dir, out_fd, err_fd, w)
            os.close(w)
            raw, wait_status, timed_out = self._wait(pid, r, float(job["timeout_s"]))
            leftovers = _kill_descendants()
            result = _decide(raw, wait_status, timed_out, leftovers, job)
            result["plot_stdout"] = _read_capped(out_fd, int(job["max_output_chars"]))
            result["plot_stderr"] = _read_capped(err_fd, int(job["max_output_chars"]))
        finally:
            for fd in (r, out_fd, err_fd):
                os.close(fd)
            _rmtree(job_dir)
            _rmtree(io_dir)
        result.setdefault("timings", {})["worker_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        return result

    def _wait(self, pid: int, r: int, timeout_s: float) -> tuple[bytes, int | None, bool]:
        """Collect the child's result bytes until it exits or the wall-clock limit passes.

        Returns (result bytes, wait status or None when killed for time, timed_out).
        """
        deadline = time.monotonic() + timeout_s
        pidfd = os.pidfd_open(pid)
        os.set_blocking(r, False)
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    _killpg(pid)
                    os.waitpid(pid, 0)
                    return b"", None, True
                ready, _, _ = select.select([r, pidfd], [], [], left)
                if r in ready:
                    size += _drain(r, chunks, MAX_RESULT_BYTES - size)
                    if size >= MAX_RESULT_BYTES:
                        _killpg(pid)
                if pidfd in ready:
                    _, status = os.waitpid(pid, 0)
                    _drain(r, chunks, MAX_RESULT_BYTES - size)
                    return b"".join(chunks), status, False
        finally:
            os.close(pidfd)


def _private_mplconfig(cache: str | None, target: str) -> None:
    """Copy the host's prepared font cache into a private, writable MPLCONFIGDIR (fast import)."""
    import shutil

    if cache and os.path.isdir(cache):
        shutil.copytree(cache, target, dirs_exist_ok=True)
    os.makedirs(target, exist_ok=True)
    os.chmod(target, 0o755)
    os.environ["MPLCONFIGDIR"] = target


def _drain(fd: int, chunks: list[bytes], budget: int) -> int:
    """Read what is available on non-blocking ``fd`` (at most ``budget`` bytes); return bytes read."""
    got = 0
    while got < budget:
        try:
            chunk = os.read(fd, min(1 << 20, budget - got))
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return got


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _children_of(ppid: int) -> list[int]:
    """Pids whose parent is ``ppid`` (read from /proc)."""
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[1]) == ppid:
            kids.append(int(name))
    return kids


def _kill_descendants(limit_s: float = 5.0) -> int:
    """SIGKILL and reap every process the script left behind; return how many were killed.

    As a child subreaper this process inherits every orphan of the script's tree, so "no children
    left" means "no descendants left".
    """
    killed: set[int] = set()
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            continue
        kids = _children_of(os.getpid())
        for kid in kids:
            try:
                os.kill(kid, signal.SIGKILL)
                killed.add(kid)
            except ProcessLookupError:
                pass
        if not kids:
            time.sleep(0.001)
    return len(killed)


def _decide(
    raw: bytes, wait_status: int | None, timed_out: bool, leftovers: int, job: dict[str, Any]
) -> dict[str, Any]:
    """Turn what came back from the child into a result dict with a status."""
    if timed_out:
        return {
            "status": "wall_timeout",
            "error": f"wall-clock guard of {job['timeout_s']:g} s exceeded (CPU limit not reached: the "
            "script waited, or the machine was busy); process group killed",
        }
    result: dict[str, Any] | None = None
    if raw:
        try:
            (size,) = struct.unpack(">I", raw[:4])
            result = json.loads(raw[4 : 4 + size])
            if not isinstance(result, dict) or "status" not in result:
                raise ValueError("not a result object")
        except (struct.error, ValueError) as exc:
            return {"status": "crash", "error": f"malformed result from the script process: {exc}"}
    if result is None:
        assert wait_status is not None
        if os.WIFSIGNALED(wait_status):
            sig = os.WTERMSIG(wait_status)
            why = {
                signal.SIGXCPU: f"CPU time limit of {job['cpu_s']} s exceeded",
                signal.SIGKILL: "killed (memory or CPU limit)",
                signal.SIGSEGV: "segmentation fault (often the memory limit)",
            }.get(sig, f"killed by signal {signal.Signals(sig).name}")
            return {"status": "timeout" if sig == signal.SIGXCPU else "killed", "error": why}
        code = os.WEXITSTATUS(wait_status)
        if code == _EXIT_MEMORY:
            return {
                "status": "killed",
                "error": f"MemoryError: memory limit of {job['memory_mb']} MB exceeded",
            }
        return {"status": "crash", "error": f"script process exited with code {code} without a result"}
    if leftovers and result["status"] == "ok":
        result = {
            "status": "killed",
            "error": f"the script left {leftovers} background process(es) running; they were killed",
            "n_figures": result.get("n_figures", 0),
            "timings": result.get("timings", {}),
        }
    return result


def _read_capped(fd: int, max_chars: int) -> str:
    """The captured output of a script, cut to ``max_chars`` characters with a note."""
    size = os.fstat(fd).st_size
    data = os.pread(fd, max_chars * 4 + 1, 0)
    text = data.decode("utf-8", "replace")
    if len(text) > max_chars or size > len(data):
        text = text[:max_chars] + f"\n...[truncated, {size} bytes in all]"
    return text


def _rmtree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _vsz_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------- the child


_SPAWN_EVENTS = (
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "subprocess.Popen",
    "pty.spawn",
)


def _child_main(
    job: dict[str, Any], server: ForkServer, job_dir: str, out_fd: int, err_fd: int, w: int
) -> None:
    """Confine this freshly forked process, run the script, write one result frame to ``w``, exit."""
    code = 70
    try:
        os.setsid()
        for fd in server.cfg["protocol_fds"]:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        for fd in (devnull, out_fd, err_fd):
            os.close(fd)
        os.chdir(job_dir)
        os.environ.update(HOME=job_dir, TMPDIR=job_dir, PWD=job_dir)
        _set_limits(job)
        if server.sandbox_uid is not None:
            uid = server.sandbox_uid
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        if not _prctl(_PR_SET_NO_NEW_PRIVS, 1):
            raise OSError("prctl(PR_SET_NO_NEW_PRIVS) failed")
        _refuse_spawning(server.block_network)
        result = script.run_script(job)
        write_frame(w, result)
        code = 0
    except MemoryError:
        code = _EXIT_MEMORY
    except BaseException:  # the child must never return into the server loop
        try:
            os.write(2, traceback.format_exc().encode())
        except OSError:
            pass
    finally:
        os._exit(code)


def _set_limits(job: dict[str, Any]) -> None:
    """Address space = the warm image (shared copy-on-write) + ``memory_mb``; CPU, processes, file size."""
    mem = _vsz_bytes() + int(job["memory_mb"]) * 2**20
    cpu = int(job["cpu_s"])
    nproc = int(job["nproc"])
    fsize = int(job["file_mb"]) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _refuse_spawning(block_network: bool) -> None:
    """An audit hook that refuses process spawning (and, with ``block_network``, sockets)."""
    blocked = _SPAWN_EVENTS + (("socket.connect", "socket.sendto", "socket.sendmsg") if block_network else ())

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event.startswith(blocked):
            raise PermissionError(f"{event} is not allowed in the plot sandbox")

    sys.addaudithook(audit)


# ---------------------------------------------------------------- plotly renderer


def serve_plotly(proto_in: int, proto_out: int) -> None:
    """Answer {"figure": json, "scale": s} frames with {"png_b64": ...} or {"error": ...}, drawn in
    one warm page (:func:`plot_script.plotly_page`)."""
    with script.plotly_page() as page:
        write_frame(proto_out, {"ready": True, "warm_png_bytes": page.warm_png_bytes})
        while True:
            try:
                msg = read_frame(proto_in)
            except EOFError:
                break
            try:
                png = page.png_b64(msg["figure"], float(msg.get("scale", 1.0)))
                write_frame(proto_out, {"png_b64": png})
            except Exception as exc:  # a bad figure is that row's error, not the renderer's end
                write_frame(proto_out, {"error": f"{type(exc).__name__}: {exc}"})


# ---------------------------------------------------------------- entry point


def main(argv: list[str]) -> None:
    """``serve '<config json>'`` or ``plotly``: take over stdin/stdout as the protocol pipes."""
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # stray prints from libraries go to stderr, never into the protocol
    os.close(devnull)
    _prctl(_PR_SET_DUMPABLE, 0)  # scripts running as the same uid cannot ptrace this process
    if argv[0] == "plotly":
        serve_plotly(proto_in, proto_out)
        return
    cfg = json.loads(argv[1])
    cfg["protocol_fds"] = [proto_in, proto_out]
    server = ForkServer(cfg)
    write_frame(proto_out, server.hello())
    while True:
        try:
            job = read_frame(proto_in)
        except EOFError:
            break
        try:
            result = server.run(job)
        except Exception as exc:  # e.g. fork() refused: this job fails, the server lives on
            result = {
                "status": "crash",
                "error": f"plot worker could not run the script: {type(exc).__name__}: {exc}",
            }
        write_frame(proto_out, result)


if __name__ == "__main__":
    main(sys.argv[1:])
