"""The plot sandbox: real matplotlib/seaborn/plotly scripts in warm bubblewrap workers, and a hostile corpus.

One sandbox (2 warm workers, 3 s per script, 256 MB over the warm image) serves the whole module.
The hostile scripts bypass the in-process audit hook with ctypes where they can, so what is tested
is the OS layer: namespaces, the read-only root, the uid drop and the resource limits.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image

from aesdata.render.isolation import Isolation
from aesdata.render.plot_sandbox import PlotJob, PlotSandbox

TIMEOUT_S = 3.0  # CPU seconds per script
WALL_S = 4 * TIMEOUT_S  # the wall-clock guard (a fork bomb spreads its CPU over many processes)
REPO_TESTS = Path(__file__).resolve().parent

MPL_GOOD = """
import matplotlib.pyplot as plt
import numpy as np
x = np.linspace(0, 10, 200)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(x, np.sin(x), label="sin", color="#1f77b4")
ax.plot(x, np.cos(x), label="cos", color="#d62728")
ax.set_title("Sine and cosine")
ax.set_xlabel("x")
ax.set_ylabel("value")
ax.legend(loc="lower left")
print("drew", len(x), "points")
plt.show()
plt.close("all")   # show() already registered the figure
"""

SEABORN_GOOD = """
import pandas as pd
import seaborn as sns
import matplotlib.pyplot as plt
df = pd.read_csv("data.csv")
sns.set_theme(style="whitegrid")
ax = sns.barplot(data=df, x="city", y="rain_mm", hue="city", palette="crest", legend=False)
ax.set_title("Rain by city")
plt.tight_layout()
plt.savefig("out.png")
plt.close()
"""
DATA_CSV = "city,rain_mm\nOslo,120\nLima,8\nPerth,65\nCork,140\n"

PLOTLY_GOOD = """
import plotly.express as px
fig = px.scatter(x=[1, 2, 3, 4, 5], y=[2, 5, 3, 8, 6], size=[10, 20, 30, 40, 50], title="Plotly bubbles")
fig.update_layout(width=640, height=420)
fig.write_image("bubbles.png")
fig.show()
"""

EMPTY_PLOT = """
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.set_title("nothing here")
"""

RAISES = """
import matplotlib.pyplot as plt
def load():
    raise ValueError("column 'sales' not found")
plt.plot([1, 2])
load()
"""

CROWDED = """
import matplotlib.pyplot as plt
names = [f"category number {i}" for i in range(40)]
fig, ax = plt.subplots(figsize=(6, 4))
ax.bar(names, range(40))
ax.plot([0, 39], [39, 39], label="a line along the top")
ax.legend(loc="upper right")
"""

PLOTLY_LEGEND = """
import numpy as np
import plotly.graph_objects as go
x = np.arange(100)
fig = go.Figure([go.Scatter(x=x, y=np.sin(x / 9), name="a sine wave"), go.Scatter(x=x, y=np.cos(x / 9), name="cosine")])
fig.update_layout(width=800, height=500{legend})
fig.show()
"""


@pytest.fixture(scope="module")
def fake_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN FAKE KEY----- SECRET-4242 -----END FAKE KEY-----\n")
    return home


@pytest.fixture(scope="module")
def sandbox(fake_home: Path) -> PlotSandbox:
    mp = pytest.MonkeyPatch()
    mp.setenv("HOME", str(fake_home))
    sb = PlotSandbox(workers=2, timeout_s=TIMEOUT_S, wall_timeout_s=WALL_S, memory_mb=256, max_procs=16)
    sb.start()
    yield sb
    sb.close()
    mp.undo()


def _png(row: dict) -> Image.Image:
    assert row["screenshot"] is not None and row["screenshot"]["path"] is None
    image = Image.open(io.BytesIO(row["screenshot"]["bytes"]))
    image.load()
    return image


def _colours(image: Image.Image) -> int:
    return len(image.convert("RGB").getcolors(maxcolors=1 << 20) or [])


def _worker_python_descendants(sb: PlotSandbox) -> int:
    """Python processes at or under the workers' top processes (the worker + anything left behind)."""
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            parents[int(name)] = int(stat[stat.rfind(b")") + 2 :].split()[1])
    roots = {w.proc.pid for w in sb._workers if w is not None}
    count = 0
    for pid in parents:
        p = pid
        while p and p not in roots:
            p = parents.get(p)
        if p in roots:
            try:
                if "python" in Path(f"/proc/{pid}/comm").read_text():
                    count += 1
            except OSError:
                pass
    return count


def test_isolation_reported(sandbox: PlotSandbox) -> None:
    iso = sandbox.isolation()
    assert set(iso) >= {"method", "network", "fs_readonly", "details"}
    if shutil.which("bwrap"):
        assert iso["method"] == "bwrap"
        assert iso["network"] is False and iso["fs_readonly"] is True
        assert iso["details"]["pid_namespace"] is True


def test_good_scripts_render(sandbox: PlotSandbox, tmp_path: Path) -> None:
    rows = sandbox.run_many([PlotJob(MPL_GOOD), PlotJob(SEABORN_GOOD, DATA_CSV), PlotJob(PLOTLY_GOOD)])
    for row, name in zip(rows, ["mpl", "seaborn", "plotly"], strict=True):
        assert row["render_status"] == "ok", (name, row["render_error"], row["plot_stderr"])
        image = _png(row)
        assert (image.width, image.height) == (row["screenshot_width"], row["screenshot_height"])
        assert row["screenshot_viewport"]["bytes"] == row["screenshot"]["bytes"]
        assert _colours(image) > 20, f"{name} looks blank"
        image.save(tmp_path / f"{name}.png")
        meta = json.loads(row["render_meta_json"])
        assert meta["isolation"]["method"] and meta["versions"]["matplotlib"]
        assert json.loads(row["render_timings_json"])["total_ms"] > 0
    mpl, sea, ply = rows
    assert (mpl["screenshot_width"], mpl["screenshot_height"]) == (600, 400)
    assert "drew 200 points" in mpl["plot_stdout"]
    layout = json.loads(mpl["layout_json"])["figures"][0]
    axes = layout["axes"][0]
    assert axes["title"] == "Sine and cosine" and axes["n_lines"] == 2 and axes["n_points"] == 400
    assert axes["legend"]["n_entries"] == 2 and axes["xtick_labels"]
    sea_axes = json.loads(sea["layout_json"])["figures"][0]["axes"][0]
    assert sea_axes["n_patches"] == 4 and sea_axes["title"] == "Rain by city"
    assert [box[1] for box in sea_axes["xtick_labels"]]  # four city labels under the bars
    ply_layout = json.loads(ply["layout_json"])["figures"][0]
    assert (
        ply_layout["library"] == "plotly"
        and ply_layout["n_traces"] == 1
        and ply_layout["title"] == "Plotly bubbles"
    )
    again = sandbox.run_many([PlotJob(MPL_GOOD + "import random\nprint(random.random())\n")] * 2)
    assert again[0]["screenshot"]["bytes"] == again[1]["screenshot"]["bytes"] == mpl["screenshot"]["bytes"]
    assert again[0]["plot_stdout"] == again[1]["plot_stdout"]  # same seed state in every fresh child
    assert ply_layout["n_traces_with_data"] == 1 and ply_layout["traces"][0]["points"] == 5
    assert (ply["screenshot_width"], ply["screenshot_height"]) == (640, 420)


def test_error_empty_and_layout_signals(sandbox: PlotSandbox) -> None:
    raised, empty, crowded, silent, over, beside = sandbox.run_many(
        [
            PlotJob(RAISES),
            PlotJob(EMPTY_PLOT),
            PlotJob(CROWDED),
            {"code": "x = 1 + 1\n", "data_csv": None},
            PlotJob(PLOTLY_LEGEND.format(legend=", legend=dict(x=0.3, y=0.5, font=dict(size=24))")),
            PlotJob(PLOTLY_LEGEND.format(legend="")),
        ]
    )
    assert raised["render_status"] == "exec_error" and raised["screenshot"] is None
    assert raised["render_error"].startswith("ValueError: column 'sales' not found")
    assert "line 4, in load" in raised["render_error"] and raised["layout_json"] is None

    assert empty["render_status"] == "ok"
    axes = json.loads(empty["layout_json"])["figures"][0]["axes"][0]
    assert axes["has_data"] is False and axes["n_lines"] == axes["n_patches"] == axes["n_collections"] == 0
    assert axes["title"] == "nothing here"

    axes = json.loads(crowded["layout_json"])["figures"][0]["axes"][0]
    assert axes["xtick_overlaps"] > 10  # 40 long labels on a 6-inch axis
    assert axes["legend"]["covered_data"] > 0  # the legend sits on the bars and the line
    assert silent["render_status"] == "no_figure" and silent["screenshot"] is None

    # plotly: the estimated legend box sits on the two waves, or beside the plot area by default
    over_fig, beside_fig = (json.loads(r["layout_json"])["figures"][0] for r in (over, beside))
    assert over_fig["n_points"] == beside_fig["n_points"] == 200
    x, y, w, h = over_fig["plot_box"]
    lx, ly, lw, lh = over_fig["legend"]["box"]
    assert x < lx < x + w and y < ly < ly + lh < y + h and over_fig["legend"]["covered_data"] > 5
    assert beside_fig["legend"]["box"][0] >= x + w and beside_fig["legend"]["covered_data"] == 0


def test_hostile_scripts_are_contained(sandbox: PlotSandbox, fake_home: Path, tmp_path: Path) -> None:
    hits: list[tuple] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]

    def accept() -> None:
        while True:
            try:
                hits.append(server.accept())
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    repo_target = REPO_TESTS / f"pwned-{uuid.uuid4().hex}.txt"
    host_tmp_target = tmp_path / "pwned.txt"
    key = fake_home / ".ssh" / "id_rsa"
    libc = "import ctypes, os, time\nlibc = ctypes.CDLL(None)\n"
    hostile = {
        "infinite_loop": "while True:\n    pass\n",
        "memory_bomb": "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 1024 * 1024))\n",
        "fork_bomb": libc + "while True:\n    libc.fork()\n",
        "grandchild": libc
        + "pid = libc.fork()\nif pid == 0:\n    os.setsid()\n    time.sleep(60)\n    os._exit(0)\n"
        + "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n",
        "subprocess": "import subprocess\nsubprocess.Popen(['sleep', '60'])\n",
        "socket": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n",
        "socket_raw": f"import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', {port}))\n",
        "internet": "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=2)\n",
        "write_repo": f"open({str(repo_target)!r}, 'w').write('pwned')\n",
        "write_host_tmp": f"open({str(host_tmp_target)!r}, 'w').write('pwned')\n",
        "os_system": f"import os\nos.system('echo pwned > {repo_target}')\n",
        "libc_system": libc + f"rc = libc.system(b'echo pwned > {repo_target}')\nassert rc == 0, rc\n",
        "read_ssh": f"print(open({str(key)!r}).read())\n",
        "read_root_home": "import os\nprint(os.listdir('/root'), os.listdir('/home'))\nprint(open('/root/.ssh/id_rsa').read())\n",
    }
    good = PlotJob("import matplotlib.pyplot as plt\nplt.bar(['a', 'b'], [1, 2])\n")
    jobs = [PlotJob(code) for code in hostile.values()] + [good, good]
    t0 = time.monotonic()
    rows = sandbox.run_many(jobs)
    elapsed = time.monotonic() - t0
    server.close()
    by_name = dict(zip(hostile, rows[: len(hostile)], strict=True))
    for name, row in by_name.items():
        assert row["render_status"] != "ok", (name, row)
        assert row["screenshot"] is None, name
        text = (row["render_error"] or "") + row["plot_stdout"] + row["plot_stderr"]
        assert "SECRET-4242" not in text, name
    assert by_name["infinite_loop"]["render_status"] == "timeout"
    assert by_name["memory_bomb"]["render_status"] == "killed"
    assert "MemoryError" in by_name["memory_bomb"]["render_error"]
    assert by_name["fork_bomb"]["render_status"] in {"timeout", "killed", "exec_error"}
    assert by_name["grandchild"]["render_status"] == "killed"
    assert "background process" in by_name["grandchild"]["render_error"]
    assert "not allowed in the plot sandbox" in by_name["subprocess"]["render_error"]
    assert "not allowed in the plot sandbox" in by_name["os_system"]["render_error"]
    assert by_name["libc_system"]["render_status"] == "exec_error"  # sh ran, but could not write
    for name in (
        "socket",
        "socket_raw",
        "internet",
        "write_repo",
        "write_host_tmp",
        "read_ssh",
        "read_root_home",
    ):
        assert by_name[name]["render_status"] == "exec_error", (name, by_name[name]["render_error"])
    assert not hits, "a connection reached the host's loopback"
    assert not repo_target.exists() and not host_tmp_target.exists()
    # the timeouts overlap on 2 workers; a wall-clock guard runs twice (the retry alone); nothing hangs
    assert elapsed < 4 * TIMEOUT_S + 2 * WALL_S + 10
    # the sandbox still serves, and nothing the scripts started is left running
    assert [r["render_status"] for r in rows[-2:]] == ["ok", "ok"]
    assert _worker_python_descendants(sandbox) == 2
    after = sandbox.run_many([good])
    assert after[0]["render_status"] == "ok"


def test_rlimits_only_fallback_still_contains(tmp_path: Path) -> None:
    """Without namespaces: the audit hook refuses sockets, leftovers are killed, limits hold."""
    iso = Isolation(
        "rlimits-only", network=True, fs_readonly=False, pid_namespace=False, details="forced by test"
    )
    with PlotSandbox(workers=1, timeout_s=TIMEOUT_S, memory_mb=256, isolation=iso) as sb:
        assert sb.isolation()["method"] == "rlimits-only" and sb.isolation()["network"] is True
        rows = sb.run_many(
            [
                PlotJob("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n"),
                PlotJob(
                    "import ctypes, os, time\nif ctypes.CDLL(None).fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
                    "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n"
                ),
                PlotJob("x = bytearray(2 * 1024**3)\n"),
                PlotJob(MPL_GOOD),
            ]
        )
        assert "socket.connect is not allowed" in rows[0]["render_error"]
        assert rows[1]["render_status"] == "killed"
        assert rows[2]["render_status"] == "killed"
        assert rows[3]["render_status"] == "ok"
        assert _worker_python_descendants(sb) == 1
        sb._workers[0].kill()  # a worker that dies is replaced on the next job
        assert sb.run_many([PlotJob(MPL_GOOD)])[0]["render_status"] == "ok"


def test_time_limits_count_cpu_and_a_wall_guard_is_retried_alone(sandbox: PlotSandbox) -> None:
    """A script that waits longer than its CPU budget is fine; one that waits past the wall-clock guard is
    ``wall_timeout``, run once more alone, then final ``timeout``; one that computes past its CPU budget is
    ``timeout`` at once."""
    waits = PlotJob(
        f"import time\ntime.sleep({TIMEOUT_S + 1})\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\n"
    )
    hangs = PlotJob("import time\ntime.sleep(600)\n")
    spins = PlotJob("while True:\n    pass\n")
    t0 = time.monotonic()
    rows = sandbox.run_many([waits, hangs, spins])
    elapsed = time.monotonic() - t0
    assert rows[0]["render_status"] == "ok", rows[0]["render_error"]
    assert rows[1]["render_status"] == "timeout"
    assert "wall-clock guard" in rows[1]["render_error"] and "also when run alone" in rows[1]["render_error"]
    assert rows[2]["render_status"] == "timeout"
    assert "CPU time limit" in rows[2]["render_error"]
    assert 2 * WALL_S <= elapsed < 2 * WALL_S + 4 * TIMEOUT_S + 10
