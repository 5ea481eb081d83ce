"""Config files: YAML with line numbers, one-paragraph errors, and name-or-path lookup. Written once here.

Pipelines (``aesdata build demo``), recipes (``aesdata train sft``) and filters (``filters: [aescode]``)
are files a user names or points to. ``find(kind, name_or_path)`` turns a name into a file the same way
for all three and from a checkout or an installed wheel: first ``<kind>/<name>.<ext>`` under the given
search folders (the working directory for pipelines and recipes, the pipeline's folder and its parent for
filters), then the copy aesdata ships as package data (``aesdata/data/<kind>/``, with the demo corpus in
``aesdata/data/demo/``). A value with a suffix or a slash is a path and must exist.

``read_yaml(path, what)`` reads a file into plain data plus a line index (key path -> 1-based line), so a
validation error can name ``file:line`` and the key; ``describe(err)`` turns a pydantic error into one
clause. The loaders (``aesdata.spec``, ``aesdata.train.recipe``) build on these.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aesdata.errors import AesdataError

#: the files aesdata ships: pipelines/, filters/, recipes/ and the demo corpus
DATA_DIR = Path(__file__).resolve().parent / "data"

#: kind -> (file suffixes, what the user calls it)
KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "pipelines": ((".yaml", ".yml"), "pipeline"),
    "recipes": ((".yaml", ".yml"), "recipe"),
    "filters": ((".sql",), "filter"),
}

Lines = dict[tuple[Any, ...], int]


def shipped(path: Path) -> bool:
    """True when ``path`` is one of the files aesdata ships (inside its package data folder)."""
    return path.resolve().is_relative_to(DATA_DIR)


def known_names(kind: str, search: list[Path] | None = None) -> list[str]:
    """Names findable for ``kind``: those in the search folders' ``<kind>/`` and the shipped ones."""
    suffixes, _ = KINDS[kind]
    folders = [*(d / kind for d in (search or [])), DATA_DIR / kind]
    return sorted({p.stem for f in folders if f.is_dir() for p in f.iterdir() if p.suffix in suffixes})


def find(kind: str, name_or_path: str, search: list[Path] | None = None, base: Path | None = None) -> Path:
    """The file a name or path means (see module docstring); ``AesdataError`` naming what was tried.

    ``search``: folders whose ``<kind>/`` subfolder is looked in before the shipped files (default: the
    working directory). ``base``: what a relative path is relative to (default: the working directory).
    """
    suffixes, what = KINDS[kind]
    search = [Path.cwd()] if search is None else search
    candidate = Path(name_or_path)
    if candidate.suffix in suffixes or "/" in name_or_path:
        path = candidate if candidate.is_absolute() or base is None else base / candidate
        if path.is_file():
            return path
        raise AesdataError(
            f"{what.capitalize()} file {path} does not exist.",
            f"Check the path, or pass a {what} name: {', '.join(known_names(kind, search)) or 'none found'}.",
        )
    folders = [*(d / kind for d in search), DATA_DIR / kind]
    for folder in folders:
        for ext in suffixes:
            if (folder / f"{name_or_path}{ext}").is_file():
                return folder / f"{name_or_path}{ext}"
    raise AesdataError(
        f"No {what} named {name_or_path!r}: looked for {name_or_path}{suffixes[0]} in "
        f"{', '.join(str(f) for f in folders)}.",
        f"Known {kind}: {', '.join(known_names(kind, search)) or 'none'}; or pass a path to a "
        f"{suffixes[0]} file.",
    )


@dataclass(frozen=True)
class YamlFile:
    """A parsed YAML file: its text, its data, and the line of every key path."""

    path: Path
    text: str
    data: Any
    lines: Lines

    def line_of(self, key_path: tuple[Any, ...]) -> int | None:
        """Line of ``key_path`` or of its nearest ancestor present in the file."""
        return line_of(self.lines, key_path)


def read_yaml(path: Path, what: str) -> YamlFile:
    """Read a YAML file (``what``: "pipeline file", "recipe file"); ``AesdataError`` with ``file:line`` on
    unreadable, non-UTF-8 or malformed text. The data may be any YAML value; callers check its shape."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise AesdataError(
            f"{what.capitalize()} {path} is not UTF-8 text (byte {e.start}).", "Save it as UTF-8."
        ) from None
    except OSError as e:
        raise AesdataError(f"Cannot read {what} {path}: {e.strerror}.") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        loc = f"{path}:{mark.line + 1}" if mark else str(path)
        raise AesdataError(
            f"Invalid {what} {loc}: YAML syntax error: {problem}.",
            "Fix the indentation or quoting on that line.",
        ) from None
    return YamlFile(path, text, data, line_index(node) if node is not None else {})


def line_index(node: yaml.Node, path: tuple[Any, ...] = ()) -> Lines:
    """Map every key path of a composed YAML node tree to its 1-based line number."""
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = path + (key.value,)
            lines[sub] = key.start_mark.line + 1
            for p, ln in line_index(value, sub).items():
                lines.setdefault(p, ln)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(line_index(item, path + (i,)))
    return lines


def line_of(lines: Lines, key_path: tuple[Any, ...]) -> int | None:
    """Line of ``key_path`` in ``lines`` or of its nearest ancestor present there."""
    while key_path not in lines and key_path:
        key_path = key_path[:-1]
    return lines.get(key_path)


def describe(err: dict[str, Any]) -> str:
    """One clause for a pydantic error: what was expected and what was found."""
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        return "is not a known key"
    if err["type"] == "missing":
        return "is required but missing"
    found = err.get("input")
    found_txt = json.dumps(found, default=str) if not isinstance(found, dict) else "a mapping"
    if len(found_txt) > 60:
        found_txt = found_txt[:57] + "..."
    return f"expected: {msg[0].lower() + msg[1:]}; found {found_txt}"
