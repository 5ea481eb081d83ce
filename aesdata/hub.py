"""Publish an exported dataset folder to the Hugging Face Hub: ``aesdata push <run> <repo-id>``.

The upload is planned first by a pure function (``plan_upload``): compare each local file with what
the Hub already holds (LFS files by sha256, regular files by git blob id) and upload only what is new
or changed, in commits of bounded size (data files first, the card and images last), deleting files
of an earlier export under ``data/`` and ``images/`` that this export no longer has (a stale shard
would otherwise be loaded with the new ones). Each commit is a unit of progress: rerunning an
interrupted push lists the Hub's tree again and skips what already landed, and LFS objects uploaded by
a failed commit are skipped by the Hub's LFS batch API. Commits are retried with exponential backoff
on rate limits (429) and server errors (5xx), honouring ``Retry-After``; huggingface_hub retries its
own preupload and LFS calls the same way.

Built on ``huggingface_hub`` (``create_repo``, ``list_repo_tree``, ``create_commit``); written by hand:
only the plan and the commit-level retry, which the library does not offer for a resumable folder
upload with deletions.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aesdata.errors import AesdataError

#: folders of the export that the push manages (a remote file there that the export lacks is deleted)
MANAGED = ("data/", "images/")
T = TypeVar("T")


@dataclass(frozen=True)
class LocalFile:
    """A file of the export folder: path relative to it (posix), size, sha256 and git blob id (hex)."""

    path: str
    size: int
    sha256: str
    git_sha1: str


@dataclass(frozen=True)
class RemoteFile:
    """A file on the Hub: path, size, the LFS sha256 (None for a regular file) and the git blob id."""

    path: str
    size: int
    lfs_sha256: str | None
    blob_id: str


@dataclass
class UploadPlan:
    """What a push does: commits of files to upload (in order), files already there, files to delete."""

    commits: list[list[LocalFile]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)

    @property
    def upload(self) -> list[LocalFile]:
        return [f for c in self.commits for f in c]

    @property
    def upload_bytes(self) -> int:
        return sum(f.size for f in self.upload)


def local_file(root: Path, path: Path) -> LocalFile:
    """Hash ``path`` (inside ``root``) as the Hub does: sha256 for LFS, ``sha1("blob <size>\\0" + bytes)`` for git."""
    sha256, sha1 = hashlib.sha256(), hashlib.sha1()
    size = path.stat().st_size
    sha1.update(f"blob {size}\0".encode())
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha256.update(chunk)
            sha1.update(chunk)
    return LocalFile(path.relative_to(root).as_posix(), size, sha256.hexdigest(), sha1.hexdigest())


def scan_folder(root: Path) -> list[LocalFile]:
    """Every file of an export folder except hidden ones (``.cache``, temporary files), sorted by path."""
    files = [
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return [local_file(root, p) for p in sorted(files)]


def same_content(local: LocalFile, remote: RemoteFile) -> bool:
    """True when the Hub already holds exactly ``local``'s bytes at its path."""
    if remote.lfs_sha256 is not None:
        return remote.lfs_sha256 == local.sha256
    return remote.blob_id == local.git_sha1


def plan_upload(
    local: Iterable[LocalFile], remote: Iterable[RemoteFile], *, max_files: int = 50, max_bytes: int = 2 << 30
) -> UploadPlan:
    """Plan a push of ``local`` files given the ``remote`` tree (pure: no I/O).

    Files whose content the Hub already holds are skipped. ``data/`` files go first, in commits of at
    most ``max_files`` files / ``max_bytes`` bytes; the last commit carries everything else (the card,
    images), so the card that declares the splits lands after the data it points to. Remote files under
    ``data/`` or ``images/`` that are not local are deleted (in the last commit).
    """
    remote_by_path = {r.path: r for r in remote}
    local = sorted(local, key=lambda f: f.path)
    plan = UploadPlan()
    todo = []
    for f in local:
        r = remote_by_path.get(f.path)
        if r is not None and same_content(f, r):
            plan.unchanged.append(f.path)
        else:
            todo.append(f)
    paths = {f.path for f in local}
    plan.delete = sorted(p for p in remote_by_path if p.startswith(MANAGED) and p not in paths)
    data = [f for f in todo if f.path.startswith("data/")]
    rest = [f for f in todo if not f.path.startswith("data/")]
    batch: list[LocalFile] = []
    for f in data:
        if batch and (len(batch) >= max_files or sum(b.size for b in batch) + f.size > max_bytes):
            plan.commits.append(batch)
            batch = []
        batch.append(f)
    if batch:
        plan.commits.append(batch)
    if rest or plan.delete:
        plan.commits.append(rest)
    return plan


def _status(e: BaseException) -> int | None:
    response = getattr(e, "response", None)
    return getattr(response, "status_code", None)


def with_retries(
    fn: Callable[[], T],
    *,
    attempts: int = 6,
    base: float = 1.0,
    cap: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn``; on HTTP 429 / 5xx or a connection error wait (``Retry-After`` or exponential backoff
    with jitter, at most ``cap`` seconds) and try again, ``attempts`` times in all."""
    import httpx

    for k in range(attempts):
        try:
            return fn()
        except Exception as e:
            status = _status(e)
            transient = (
                status == 429 or (status is not None and status >= 500) or isinstance(e, httpx.TransportError)
            )
            if not transient or k == attempts - 1:
                raise
            retry_after = getattr(getattr(e, "response", None), "headers", {}).get("Retry-After")
            try:
                wait = (
                    float(retry_after) if retry_after is not None else base * 2**k * (1 + random.random() / 2)
                )
            except ValueError:
                wait = base * 2**k
            sleep(min(wait, cap))
    raise AssertionError("unreachable")  # pragma: no cover


def dataset_folder(target: Path) -> Path:
    """The export folder of a run directory (from its manifest), or ``target`` itself when it is one."""
    if (target / "README.md").is_file() and (target / "data").is_dir():
        return target
    from aesdata.rundir import RunDir

    run = RunDir(target)
    if run.is_run():
        for summary in run.manifest().get("summaries", {}).values():
            if isinstance(summary, dict) and "dataset" in summary and Path(summary["dataset"]).is_dir():
                return Path(summary["dataset"])
        if (run.dataset_path / "data").is_dir():
            return run.dataset_path
        raise AesdataError(
            f"Run {target} has no exported dataset.", "Add an `export` step to the pipeline and rebuild."
        )
    raise AesdataError(
        f"{target} is neither a run directory nor a dataset folder (README.md + data/).",
        "Pass the run directory a build wrote (e.g. runs/demo) or its dataset folder.",
    )


def push(
    target: Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    base_wait: float = 1.0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Upload the export of ``target`` (a run or dataset folder) to dataset repo ``repo_id``; return a summary.

    The summary holds ``url``, ``uploaded`` / ``unchanged`` / ``deleted`` paths, ``bytes`` and ``commits``.
    """
    import httpx
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    folder = dataset_folder(target)
    api = HfApi(token=token)
    try:
        url = with_retries(
            lambda: api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True),
            base=base_wait,
        )
        remote = with_retries(lambda: _remote_files(api, repo_id), base=base_wait)
        plan = plan_upload(scan_folder(folder), remote)
        log(
            f"{repo_id}: {len(plan.upload)} file(s) to upload ({plan.upload_bytes / 1e6:.1f} MB), "
            f"{len(plan.unchanged)} already there, {len(plan.delete)} to delete, in {len(plan.commits)} commit(s)"
        )
        for k, files in enumerate(plan.commits, 1):
            ops: list[Any] = [
                CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(folder / f.path)) for f in files
            ]
            if k == len(plan.commits):
                ops += [CommitOperationDelete(path_in_repo=p) for p in plan.delete]
            message = f"aesdata push: {'data ' + str(k) + '/' + str(len(plan.commits)) if k < len(plan.commits) else 'card, images'}"

            def commit(ops: list[Any] = ops, message: str = message) -> Any:
                fresh = [
                    CommitOperationAdd(path_in_repo=o.path_in_repo, path_or_fileobj=o.path_or_fileobj)
                    if isinstance(o, CommitOperationAdd)
                    else o
                    for o in ops
                ]  # an Add cannot be reused after a failure
                return api.create_commit(repo_id, fresh, commit_message=message, repo_type="dataset")

            with_retries(commit, base=base_wait)
            log(f"  commit {k}/{len(plan.commits)}: {len(files)} file(s) uploaded")
    except HfHubHTTPError as e:
        raise _hub_error(e, repo_id) from None
    except (OSError, httpx.TransportError) as e:
        raise AesdataError(
            f"Cannot reach the Hub to push {repo_id}: {e}.",
            "Check the network (and HF_ENDPOINT), then rerun: the push resumes.",
        ) from None
    return {
        "url": str(url),
        "uploaded": [f.path for f in plan.upload],
        "unchanged": plan.unchanged,
        "deleted": plan.delete,
        "bytes": plan.upload_bytes,
        "commits": len(plan.commits),
    }


def _remote_files(api: Any, repo_id: str) -> list[RemoteFile]:
    from huggingface_hub import RepoFile
    from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError

    try:
        entries = list(api.list_repo_tree(repo_id, repo_type="dataset", recursive=True))
    except (EntryNotFoundError, RevisionNotFoundError):  # a new, empty repo
        return []
    return [
        RemoteFile(e.path, e.size, e.lfs.sha256 if e.lfs else None, e.blob_id)
        for e in entries
        if isinstance(e, RepoFile)
    ]


def _hub_error(e: Exception, repo_id: str) -> AesdataError:
    status = _status(e)
    first = (str(e).strip().splitlines() or [""])[0]
    if status in (401, 403):
        return AesdataError(
            f"The Hub refused to let you write to {repo_id} ({status}): {first}",
            "Log in with `hf auth login` (or set HF_TOKEN) with a token that can write to that namespace.",
        )
    if status == 404:
        return AesdataError(
            f"The Hub has no dataset repo {repo_id} you can see ({first}).",
            "Check the repo id (namespace/name).",
        )
    return AesdataError(
        f"Pushing to {repo_id} failed ({status or 'error'}): {first}",
        "Rerun the same command: the push resumes where it stopped.",
    )
