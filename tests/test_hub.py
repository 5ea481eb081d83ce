"""Hub push: the upload plan (pure), commit retries, and a round trip through a loopback Hub TEST DOUBLE.

The server in ``tests/hub_double.py`` is a test double of the Hugging Face Hub, not the Hub. Push and
load run in subprocesses because huggingface_hub and datasets read HF_ENDPOINT at import time.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import httpx
import pytest
from huggingface_hub.errors import HfHubHTTPError

from aesdata.hub import LocalFile, RemoteFile, plan_upload, scan_folder, with_retries
from tests.frame_helpers import REPO
from tests.hub_double import HubDouble
from tests.select_helpers import build_scored_run


def _local(path: str, size: int = 10, content: str = "a") -> LocalFile:
    return LocalFile(
        path, size, hashlib.sha256(content.encode()).hexdigest(), hashlib.sha1(content.encode()).hexdigest()
    )


def test_plan_skips_unchanged_deletes_stale_and_orders_commits() -> None:
    local = [
        _local("README.md", content="card2"),
        _local("data/train-00000-of-00002.parquet", content="t0"),
        _local("data/train-00001-of-00002.parquet", content="t1"),
        _local("images/score_histograms.png", content="png"),
    ]
    remote = [
        RemoteFile("data/train-00000-of-00002.parquet", 10, local[1].sha256, "x"),  # same LFS content
        RemoteFile(
            "README.md", 10, None, _local("README.md", content="card1").git_sha1
        ),  # changed regular file
        RemoteFile("images/score_histograms.png", 10, local[3].sha256, "y"),
        RemoteFile("data/train-00000-of-00001.parquet", 10, "old", "z"),  # an earlier export's shard
        RemoteFile(".gitattributes", 10, None, "g"),
        RemoteFile("notes.txt", 10, None, "n"),  # not ours
    ]
    plan = plan_upload(local, remote)
    assert plan.unchanged == ["data/train-00000-of-00002.parquet", "images/score_histograms.png"]
    assert [[f.path for f in c] for c in plan.commits] == [
        ["data/train-00001-of-00002.parquet"],
        ["README.md"],
    ]
    assert plan.delete == ["data/train-00000-of-00001.parquet"]
    assert plan.upload_bytes == 20
    # regular files compare by git blob id, not sha256
    assert plan_upload([local[0]], [RemoteFile("README.md", 10, None, local[0].git_sha1)]).commits == []


def test_plan_batches_data_by_files_and_bytes() -> None:
    data = [_local(f"data/train-{k:05d}-of-00007.parquet", size=100, content=str(k)) for k in range(7)]
    plan = plan_upload([*data, _local("README.md")], [], max_files=3, max_bytes=250)
    assert [len(c) for c in plan.commits] == [2, 2, 2, 1, 1]
    assert plan.commits[-1][0].path == "README.md"
    assert plan_upload([], []).commits == []


def test_scan_folder_hashes_like_git_and_skips_hidden(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.parquet").write_bytes(b"hello")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x").write_bytes(b"tmp")
    files = scan_folder(tmp_path)
    assert [f.path for f in files] == ["data/a.parquet"]
    assert files[0].git_sha1 == "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0"  # `git hash-object` of "hello"
    assert files[0].sha256 == hashlib.sha256(b"hello").hexdigest()


def _http_error(status: int, retry_after: str | None = None) -> HfHubHTTPError:
    response = httpx.Response(
        status,
        headers={"Retry-After": retry_after} if retry_after else {},
        request=httpx.Request("POST", "http://hub.test/api/datasets/a/b/commit/main"),
    )
    return HfHubHTTPError(f"{status} error", response=response)


def test_retries_rate_limits_and_server_errors_only() -> None:
    waits: list[float] = []
    calls = iter([_http_error(429, "7"), _http_error(503), "done"])

    def fn() -> str:
        v = next(calls)
        if isinstance(v, Exception):
            raise v
        return v

    assert with_retries(fn, base=0.5, sleep=waits.append) == "done"
    assert waits[0] == 7 and 1.0 <= waits[1] <= 1.5  # Retry-After honoured, then exponential backoff
    with pytest.raises(HfHubHTTPError):
        with_retries(lambda: (_ for _ in ()).throw(_http_error(404)), sleep=waits.append)
    assert len(waits) == 2  # a 404 is not retried
    with pytest.raises(HfHubHTTPError):
        with_retries(lambda: (_ for _ in ()).throw(_http_error(500)), attempts=3, base=0, sleep=waits.append)
    assert len(waits) == 4


@pytest.fixture(scope="module")
def hub() -> HubDouble:
    server = HubDouble().start()
    yield server
    server.stop()


def _env(hub: HubDouble, tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HUB_DISABLE_XET": "1",
        "HF_TOKEN": "hf_test_token",
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "HF_HOME": str(tmp / "hf"),
        "HF_DATASETS_CACHE": str(tmp / "ds"),
        "PYTHONPATH": str(REPO),
        "COLUMNS": "200",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }


def _aesdata(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aesdata", *args], env=env, capture_output=True, text=True, timeout=120
    )


_ROWS = """
import hashlib
def rows(ds):
    return {s: sorted([r["id"], r["static_score"], hashlib.sha256(r["screenshot"].tobytes()).hexdigest(), r["messages"][1]["content"]]
                      for r in ds[s]) for s in ds}
"""
_LOAD = _ROWS + "import datasets, json, sys\nprint(json.dumps(rows(datasets.load_dataset(sys.argv[1]))))\n"


def test_push_round_trips_and_resumes(hub: HubDouble, tmp_path: Path) -> None:
    run = build_scored_run(tmp_path / "b", 24)
    env = _env(hub, tmp_path)
    hub.fail = {"commit": [429], "lfs-batch": [503]}  # one rate limit, one server error
    pushed = _aesdata(env, "push", str(run), "alice/aescode-demo", "--private")
    assert pushed.returncode == 0, pushed.stderr
    assert f"{hub.url}/datasets/alice/aescode-demo" in pushed.stdout
    repo = hub.repos["alice/aescode-demo"]
    assert repo.private
    assert hub.hits["commit"] == repo.commits + 1  # the 429 was retried
    assert sorted(repo.files) == sorted(f.path for f in scan_folder(run / "dataset"))

    remote = subprocess.run(
        [sys.executable, "-c", _LOAD, "alice/aescode-demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert remote.returncode == 0, remote.stderr
    scope: dict = {}
    exec(_ROWS, scope)
    local = json.loads(json.dumps(scope["rows"](datasets.load_dataset(str(run / "dataset")))))
    assert json.loads(remote.stdout) == local and len(local["train"]) > 0

    commits = repo.commits
    again = _aesdata(env, "push", str(run), "alice/aescode-demo")
    assert again.returncode == 0 and "0 file(s) to upload" in again.stderr and repo.commits == commits

    # an interrupted earlier push: one shard missing, plus a stale shard of an older export
    shard = next(p for p in sorted(repo.files) if p.startswith("data/train-"))
    del repo.files[shard]
    repo.files["data/train-00009-of-00010.parquet"] = b"stale"
    resumed = _aesdata(env, "push", str(run), "alice/aescode-demo")
    assert resumed.returncode == 0, resumed.stderr
    assert "1 file(s) to upload" in resumed.stderr and "1 to delete" in resumed.stderr
    assert sorted(repo.files) == sorted(f.path for f in scan_folder(run / "dataset"))


def test_push_without_permission_is_one_clear_error(hub: HubDouble, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "README.md").write_text("---\nlicense: other\n---\n")
    hub.fail = {"create": [401]}
    out = _aesdata(_env(hub, tmp_path), "push", str(tmp_path), "bob/x")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "hf auth login" in out.stderr
