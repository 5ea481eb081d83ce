"""Which sandbox this machine can give untrusted plot scripts, and the command that applies it.

``detect_isolation()`` probes, once per process, from strongest to weakest:

1. ``bwrap``: bubblewrap with new network, pid, ipc and uts namespaces; the root filesystem bound
   read-only; a private, size-capped ``/tmp``; ``/run``, ``/var/tmp``, ``/dev/shm``, ``/root``,
   ``/home`` and ``$HOME`` hidden behind empty tmpfs (the Python installation re-bound read-only if
   it lives there). As root, every capability is dropped except the few the fork server needs to
   hand each script an unprivileged uid; otherwise bubblewrap runs in a user namespace.
2. ``unshare``: util-linux ``unshare --net --pid`` (with ``--map-root-user`` when not root): no
   network and its own pid space, but the filesystem is only protected by the user's permissions.
3. ``rlimits-only``: no namespaces; scripts keep the per-script limits, the uid drop (as root) and
   the in-process audit hook that refuses sockets and process spawning.

Each probe runs ``python -I`` inside the candidate sandbox and checks that it really sees only the
loopback interface and (for bwrap) a read-only root, so a half-working bubblewrap is not trusted.
``aesdata doctor`` and the run manifest report :meth:`Isolation.as_dict`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

#: capabilities the fork server keeps when bubblewrap runs as root: enough to chown a job dir,
#: switch the child to the sandbox uid, kill and clean up after it; no CAP_SYS_ADMIN.
ROOT_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_FOWNER")
TMP_SIZE_MB = 512

_PROBE = r"""
import errno, json, os, socket
ifaces = sorted(n for _, n in socket.if_nameindex())
try:
    with open("/etc/.aesdata-sandbox-probe", "w"):
        pass
    os.unlink("/etc/.aesdata-sandbox-probe")
    ro = False
except OSError as e:
    ro = e.errno == errno.EROFS
print(json.dumps({"ifaces": ifaces, "ro": ro, "pid": os.getpid()}))
"""


@dataclass(frozen=True)
class Isolation:
    """One sandbox method: how to wrap a command, and what it protects.

    ``network`` is True when scripts can reach the network (i.e. it is *not* isolated).
    """

    method: str
    network: bool
    fs_readonly: bool
    pid_namespace: bool
    userns: bool = False
    hidden: tuple[str, ...] = ()
    details: str = ""
    tried: tuple[str, ...] = field(default=())

    def wrap(self, argv: list[str], ro_paths: list[str] = (), for_browser: bool = False) -> list[str]:
        """Return ``argv`` wrapped in this sandbox; ``ro_paths`` stay visible (read-only) even if hidden.

        ``for_browser`` (the plotly renderer) drops every capability when running as root.
        """
        if self.method == "bwrap":
            return [*_bwrap_args(self.userns, list(ro_paths), keep_caps=not for_browser), "--", *argv]
        if self.method == "unshare":
            return [*_unshare_args(), *argv]
        return list(argv)

    @property
    def drops_uid(self) -> bool:
        """True when the fork server can hand each script an unprivileged uid.

        That needs real root, and, outside bubblewrap (which re-binds the interpreter into an open
        tmpfs), an interpreter the unprivileged uid can read (a pyenv under a 0700 /root is not).
        """
        if os.geteuid() != 0 or self.userns:
            return False
        return self.method == "bwrap" or all(_world_traversable(p) for p in python_paths())

    def as_dict(self) -> dict[str, object]:
        """{"method", "network", "fs_readonly", "details": {...}} for doctor and the run manifest."""
        return {
            "method": self.method,
            "network": self.network,
            "fs_readonly": self.fs_readonly,
            "details": {
                "pid_namespace": self.pid_namespace,
                "user_namespace": self.userns,
                "uid_drop": self.drops_uid,
                "hidden_paths": list(self.hidden),
                "note": self.details,
                "tried": list(self.tried),
            },
        }


def _world_traversable(path: str) -> bool:
    """True when every directory from / down to ``path`` lets other users through (o+x)."""
    current = Path(path).resolve()
    for directory in [current, *current.parents]:
        try:
            if not directory.stat().st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


def _hidden_paths() -> list[str]:
    """Directories replaced by an empty tmpfs: homes, runtime sockets, shared temp dirs."""
    candidates = ["/root", "/home", os.environ.get("HOME", ""), "/run", "/var/tmp", "/dev/shm"]
    out: list[str] = []
    for path in candidates:
        if not path or not os.path.isdir(path) or os.path.islink(path):
            continue
        path = os.path.realpath(path)
        if path not in out and path != "/" and not path.startswith("/tmp/"):  # /tmp is private anyway
            out.append(path)
    return out


def python_paths() -> list[str]:
    """The interpreter's own trees (venv, base install) that must stay visible in the sandbox."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    return sorted(p for p in paths if p and os.path.isdir(p))


def _bwrap_args(userns: bool, ro_paths: list[str], keep_caps: bool = True) -> list[str]:
    args = [
        "bwrap",
        "--die-with-parent",
        "--new-session",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
    ]
    if userns:
        args.append("--unshare-user")
    elif os.geteuid() == 0:
        args += ["--cap-drop", "ALL"]
        for cap in ROOT_CAPS if keep_caps else ():
            args += ["--cap-add", cap]
    args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    args += ["--size", str(TMP_SIZE_MB * 2**20), "--tmpfs", "/tmp"]
    hidden = _hidden_paths()
    for path in hidden:
        if path != "/tmp":
            args += ["--tmpfs", path]
    made: set[str] = set()
    for path in [*python_paths(), *ro_paths]:
        cover = next(
            (h for h in [*hidden, "/tmp"] if path == h or path.startswith(h.rstrip("/") + "/")), None
        )
        if cover is None:
            continue
        # bubblewrap would create the directories leading to the mount point as 0700
        for parent in reversed(Path(path).parents):
            if len(str(parent)) > len(cover) and str(parent) not in made:
                made.add(str(parent))
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", path, path]
    return args + ["--chdir", "/tmp"]


def _unshare_args() -> list[str]:
    args = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
    if os.geteuid() != 0:
        args.append("--map-root-user")
    return args


def _probe(argv: list[str]) -> dict[str, object] | None:
    try:
        proc = subprocess.run(
            [*argv, sys.executable, "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=30,
            start_new_session=True,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


@lru_cache(maxsize=1)
def detect_isolation() -> Isolation:
    """Probe the strongest sandbox that works here (cached for the process)."""
    tried: list[str] = []
    if sys.platform.startswith("linux") and shutil.which("bwrap"):
        variants = [False, True] if os.geteuid() == 0 else [True]
        for userns in variants:
            name = "bwrap --unshare-user" if userns else "bwrap (root, capabilities dropped)"
            seen = _probe([*_bwrap_args(userns, []), "--"])
            if seen and seen["ifaces"] == ["lo"] and seen["ro"]:
                return Isolation(
                    "bwrap",
                    network=False,
                    fs_readonly=True,
                    pid_namespace=True,
                    userns=userns,
                    hidden=tuple(_hidden_paths()),
                    details=f"{name}: no network, read-only root, private /tmp ({TMP_SIZE_MB} MB)",
                    tried=tuple(tried),
                )
            tried.append(f"{name}: {'ran but not isolated' if seen else 'failed to start'}")
    elif sys.platform.startswith("linux"):
        tried.append("bwrap: not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    if sys.platform.startswith("linux") and shutil.which("unshare"):
        seen = _probe(_unshare_args())
        if seen and seen["ifaces"] == ["lo"]:
            return Isolation(
                "unshare",
                network=False,
                fs_readonly=False,
                pid_namespace=True,
                details="unshare --net --pid: no network, own pid space; filesystem guarded only by permissions",
                tried=tuple(tried),
            )
        tried.append("unshare --net --pid: not permitted")
    return Isolation(
        "rlimits-only",
        network=True,
        fs_readonly=False,
        pid_namespace=False,
        details="no namespaces available: resource limits, uid drop (as root) and an in-process audit hook only",
        tried=tuple(tried),
    )


def mpl_cache_dir() -> Path:
    """The host directory holding matplotlib's font cache, shared read-only with the workers."""
    from importlib.metadata import version

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "aesdata" / f"mplconfig-{version('matplotlib')}"
