"""Materialise the real-page corpus from its manifest: each page's folder at the pinned commit.

    python corpus/realpages/fetch.py [--mirror /work/.mirror] [--out corpus/realpages/pages]

``manifest.jsonl`` names, per page, the public GitHub repository, the commit, the HTML file and its
folder, the repository's licence and a category. The pages are other people's work and stay out of
the aesdata repository: this script copies each page's folder (the HTML file plus its own css, js and
images, CDN links and ``integrity`` attributes exactly as written) out of a git snapshot of the
repository: ``<mirror>/<owner>+<name>/repo`` (a bare git directory) when present, else a fresh
``git clone`` from GitHub into ``<mirror>``. It writes ``<out>/<id>/...`` and ``<out>/corpus.jsonl``,
one row per page for the ``read_corpus`` stage: ``code_file`` (the page), ``files_root`` (its folder,
served as the page's origin, see docs of ``read_corpus``), ``category``, ``source`` (repo@commit:path),
``licence``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def git_dir(mirror: Path, repo: str) -> Path:
    """The bare git directory of ``repo`` under ``mirror``, cloned from GitHub when missing."""
    local = mirror / repo.replace("/", "+") / "repo"
    if local.is_dir():
        return local
    target = mirror / repo.replace("/", "+") / "clone.git"
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "clone", "--bare", "--filter=blob:none", f"https://github.com/{repo}.git", str(target)],
            check=True,
        )
    return target


def materialise(row: dict, mirror: Path, out: Path) -> dict:
    """Copy one page's folder into ``out/<id>``; return its ``read_corpus`` row."""
    gd = git_dir(mirror, row["repo"])
    folder = row["folder"]
    listing = subprocess.run(
        ["git", "--git-dir", str(gd), "ls-tree", "-r", "-z", row["commit"], "--", folder or "."],
        check=True,
        capture_output=True,
    ).stdout.decode()
    dest = out / row["id"]
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    prefix = f"{folder}/" if folder else ""
    missing = 0
    for entry in filter(None, listing.split("\0")):
        meta, name = entry.split("\t", 1)
        _, kind, sha = meta.split()
        if kind != "blob" or not name.startswith(prefix):
            continue
        blob = subprocess.run(["git", "--git-dir", str(gd), "cat-file", "blob", sha], capture_output=True)
        if blob.returncode != 0:  # a snapshot may leave out its largest files (photos): the page 404s them
            missing += 1
            continue
        target = dest / name[len(prefix) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob.stdout)
    page = row["path"][len(prefix) :]
    return {
        "instruction": f"Real page {row['repo']}/{row['path']}",
        "kind": "html",
        "category": row["category"],
        "code_file": f"{row['id']}/{page}",
        "files_root": row["id"],
        "source": f"{row['repo']}@{row['commit'][:12]}:{row['path']}",
        "licence": row["licence"],
        "page_id": row["id"],
        "files_missing_from_snapshot": missing,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", type=Path, default=HERE / "manifest.jsonl")
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--out", type=Path, default=HERE / "pages")
    ap.add_argument("--only", nargs="*", help="page ids to fetch (default: all)")
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in args.manifest.read_text().splitlines() if line.strip()]
    if args.only:
        rows = [r for r in rows if r["id"] in set(args.only)]
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = [materialise(r, args.mirror, args.out) for r in rows]
    with (args.out / "corpus.jsonl").open("w") as f:
        for row in corpus:
            f.write(json.dumps(row) + "\n")
    print(f"{len(corpus)} pages in {args.out} (corpus.jsonl for read_corpus)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
