"""TEST DOUBLE of the Hugging Face Hub: a loopback HTTP server speaking just enough of the Hub's API.

It is not the Hub and not a mirror: it keeps dataset repos in memory and answers the endpoints that
``huggingface_hub`` (create_repo, list_repo_tree, create_commit with preupload + LFS batch + basic
transfer) and ``datasets.load_dataset("<repo-id>")`` (repo info, tree, paths-info, resolve) call.
Point a process at it with ``HF_ENDPOINT=<server.url>`` and ``HF_HUB_DISABLE_XET=1`` (both read at
import time, so set them before importing huggingface_hub / datasets, e.g. in a subprocess).

Fault injection: ``server.fail[route] = [429, 503]`` answers the next requests of ``route`` with those
statuses (``Retry-After: 0``). ``server.hits[route]`` counts requests per route.
Routes: create, info, preupload, lfs-batch, lfs-put, commit, tree, paths-info, resolve, validate-yaml.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

_LFS_SUFFIXES = (".parquet", ".png", ".jpg", ".jpeg", ".webp", ".arrow")


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    lfs: set[str] = field(default_factory=set)  # paths stored as LFS
    head: str = "0" * 40
    commits: int = 0

    def entry(self, path: str) -> dict[str, Any]:
        data = self.files[path]
        out: dict[str, Any] = {"type": "file", "path": path, "size": len(data), "oid": git_sha1(data)}
        if path in self.lfs:
            out["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return out

    def folders(self) -> set[str]:
        return {"/".join(p.split("/")[:k]) for p in self.files for k in range(1, p.count("/") + 1)}


class HubDouble(ThreadingHTTPServer):
    """The server: ``url``, ``repos``, ``hits``, ``fail``; ``start()`` / ``stop()``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.repos: dict[str, Repo] = {}
        self.blobs: dict[str, bytes] = {}  # LFS store by sha256
        self.hits: Counter[str] = Counter()
        self.fail: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def start(self) -> HubDouble:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


_REPO = r"(?P<repo>[^/]+/[^/]+)"
_ROUTES = [
    ("POST", "create", re.compile(r"^/api/repos/create$")),
    ("POST", "validate-yaml", re.compile(r"^/api/validate-yaml$")),
    ("GET", "info", re.compile(rf"^/api/datasets/{_REPO}(?:/revision/(?P<rev>[^/]+))?$")),
    ("POST", "preupload", re.compile(rf"^/api/datasets/{_REPO}/preupload/(?P<rev>[^/]+)$")),
    ("POST", "commit", re.compile(rf"^/api/datasets/{_REPO}/commit/(?P<rev>[^/]+)$")),
    ("GET", "tree", re.compile(rf"^/api/datasets/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$")),
    ("POST", "paths-info", re.compile(rf"^/api/datasets/{_REPO}/paths-info/(?P<rev>[^/]+)$")),
    ("POST", "lfs-batch", re.compile(rf"^/datasets/{_REPO}\.git/info/lfs/objects/batch$")),
    ("PUT", "lfs-put", re.compile(r"^/lfs-upload/(?P<oid>[0-9a-f]{64})$")),
    ("GET", "resolve", re.compile(rf"^/datasets/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")),
    ("HEAD", "resolve", re.compile(rf"^/datasets/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")),
]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HubDouble

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # ------------------------------------------------------------------ plumbing
    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        ctype: str = "application/json",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _error(self, status: int, message: str, code: str | None = None) -> None:
        self._json(
            {"error": message},
            status,
            {"X-Error-Message": message, **({"X-Error-Code": code} if code else {})},
        )

    def _dispatch(self, method: str) -> None:
        url = urlparse(self.path)
        path = unquote(url.path)
        for m, name, pattern in _ROUTES:
            match = pattern.match(path)
            if m == method and match:
                body = self._body() if method in ("POST", "PUT") else b""
                with self.server.lock:
                    self.server.hits[name] += 1
                    pending = self.server.fail.get(name)
                    status = pending.pop(0) if pending else None
                if status:
                    self._json({"error": f"injected {status}"}, status, {"Retry-After": "0"})
                    return
                getattr(self, "_" + name.replace("-", "_"))(match.groupdict(), parse_qs(url.query), body)
                return
        self._error(404, f"test double: no route for {method} {path}")

    def _repo(self, groups: dict[str, str]) -> Repo | None:
        repo = self.server.repos.get(groups["repo"])
        if repo is None:
            self._error(404, "Repository not found", "RepoNotFound")
        return repo

    # ------------------------------------------------------------------ endpoints
    def _create(self, g: dict[str, str], q: dict[str, list[str]], body: bytes) -> None:
        req = json.loads(body)
        repo_id = f"{req['organization']}/{req['name']}" if req.get("organization") else f"user/{req['name']}"
        if repo_id in self.server.repos:  # the Hub's 409 names the existing repo's url
            self._json(
                {
                    "error": "You already created this dataset repo",
                    "url": f"{self.server.url}/datasets/{repo_id}",
                },
                409,
            )
            return
        self.server.repos[repo_id] = Repo(
            private=req.get("visibility") == "private" or bool(req.get("private"))
        )
        self._json({"url": f"{self.server.url}/datasets/{repo_id}", "name": repo_id})

    def _validate_yaml(self, g: dict[str, str], q: dict[str, list[str]], body: bytes) -> None:
        self._json({"errors": [], "warnings": []})

    def _info(self, g: dict[str, str], q: dict[str, list[str]], body: bytes) -> None:
        if (repo := self._repo(g)) is None:
            return
        self._json(
            {
                "id": g["repo"],
                "_id": g["repo"],
                "author": g["repo"].split("/")[0],
                "sha": repo.head,
                "private": repo.private,
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "lastModified": "2026-01-01T00:00:00.000Z",
                "createdAt": "2026-01-01T00:00:00.000Z",
                "siblings": [{"rfilename": p} for p in sorted(repo.files)],
                "cardData": {},
            }
        )

    def _preupload(self, g: dict[str, str], q: dict[str, list[str]], body: bytes) -> None:
        if (repo := self._repo(g)) is None:
            return
        files = []
        for f in json.loads(body)["files"]:
            lfs = f["path"].endswith(_LFS_SUFFIXES) or f["size"] > 10 << 20
            oid = None
            if f["path"] in repo.files:
                data = repo.files[f["path"]]
                oid = hashlib.sha256(data).hexdigest() if f["path"] in repo.lfs else git_sha1(data)
            files.append(
                {
                    "path": f["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": oid,
                }
            )
        self._json({"files": files})

    def _lfs_batch(self, g: dict[str, str], q: dict[str, list[str]], body: bytes) -> None:
        objects = []
        for o in json.loads(body)["objects"]:
            obj: dict[str, Any] = {"oid": o["oid"], "size": o["size"], "authenticated": True}
            if o["oid"] not in self.server.blobs:  # already stored objects get no upload action
                obj["actions"] = {
                    "upload": {"href": f"{self.server.url}/lfs-upload/{o['oid']}", "header": {}}
                }
            objects.append(obj)
        self._send(
            200,
            json.dumps({"transfer": "basic", "objects": objects}).encode(),
            ctype="application/vnd.git-lfs+json",
        )

    def _lfs_put(self, g: dict[str, str], q: dict[str, list[str]], body: bytes) -> None:
        if hashlib.sha256(body).hexdigest() != g["oid"]:
            self._error(400, "sha256 mismatch")
            return
        self.server.blobs[g["oid"]] = body
        self._send(200, b"", {"ETag": '"x"'})

    def _commit(self, g: dict[str, str], q: dict[str, list[str]], body: bytes) -> None:
        if (repo := self._repo(g)) is None:
            return
        staged = dict(repo.files)
        lfs = set(repo.lfs)
        for line in body.splitlines():
            item = json.loads(line)
            key, v = item["key"], item["value"]
            if key == "file":
                staged[v["path"]] = base64.b64decode(v["content"])
                lfs.discard(v["path"])
            elif key == "lfsFile":
                if v["oid"] not in self.server.blobs:
                    self._error(422, f"LFS object {v['oid']} was never uploaded")
                    return
                staged[v["path"]] = self.server.blobs[v["oid"]]
                lfs.add(v["path"])
            elif key in ("deletedFile", "deletedFolder"):
                gone = [p for p in staged if p == v["path"] or p.startswith(v["path"].rstrip("/") + "/")]
                if not gone:
                    self._error(404, "A file with this name doesn't exist", "EntryNotFound")
                    return
                for p in gone:
                    del staged[p]
                    lfs.discard(p)
        repo.files, repo.lfs = staged, lfs
        repo.commits += 1
        repo.head = hashlib.sha1(f"{g['repo']}:{repo.commits}".encode()).hexdigest()
        self._json(
            {
                "commitUrl": f"{self.server.url}/datasets/{g['repo']}/commit/{repo.head}",
                "commitOid": repo.head,
                "pullRequestUrl": None,
                "success": True,
            }
        )

    def _tree(self, g: dict[str, str], q: dict[str, list[str]], body: bytes) -> None:
        if (repo := self._repo(g)) is None:
            return
        base = (g.get("path") or "").strip("/")
        recursive = q.get("recursive", ["false"])[0].lower() == "true"
        prefix = base + "/" if base else ""
        if base and base not in repo.folders():
            self._error(404, f"{base} does not exist", "EntryNotFound")
            return

        def inside(p: str) -> bool:
            return p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])

        entries = [
            {"type": "directory", "path": d, "size": 0, "oid": "0" * 40}
            for d in sorted(repo.folders())
            if inside(d)
        ]
        entries += [repo.entry(p) for p in sorted(repo.files) if inside(p)]
        self._json(entries)

    def _paths_info(self, g: dict[str, str], q: dict[str, list[str]], body: bytes) -> None:
        if (repo := self._repo(g)) is None:
            return
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            paths = json.loads(body).get("paths", [])
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        out = []
        for p in paths:
            p = p.strip("/")
            if p in repo.files:
                out.append(repo.entry(p))
            elif p in repo.folders():
                out.append({"type": "directory", "path": p, "size": 0, "oid": "0" * 40})
        self._json(out)

    def _resolve(self, g: dict[str, str], q: dict[str, list[str]], body: bytes) -> None:
        if (repo := self._repo(g)) is None:
            return
        path = g["path"]
        if path not in repo.files:
            self._error(404, "Entry not found", "EntryNotFound")
            return
        data = repo.files[path]
        entry = repo.entry(path)
        etag = entry["lfs"]["oid"] if "lfs" in entry else entry["oid"]
        headers = {"X-Repo-Commit": repo.head, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if "lfs" in entry:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
        rng = self.headers.get("Range")
        if rng and (m := re.match(r"bytes=(\d+)-(\d*)", rng)):
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else len(data) - 1
            part = data[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{start + len(part) - 1}/{len(data)}"
            self._send(206, part, headers, "application/octet-stream")
            return
        self._send(200, data, headers, "application/octet-stream")
