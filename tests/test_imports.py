"""The import graph of aesdata: no circle (imports inside functions count) and no private names across modules.

The graph is read from the source with ``ast``: every ``import`` / ``from ... import`` anywhere in a
module (top level, functions, ``TYPE_CHECKING`` blocks) is an edge. Importing ``a.b.c`` runs the
``__init__`` of ``a`` and ``a.b`` first, so such an import is also an edge to each parent package,
except the importer's own parent packages (they are always initialised before the importer runs).
"""

from __future__ import annotations

import ast
from pathlib import Path

import aesdata

PKG = Path(aesdata.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        if path.is_relative_to(PKG / "data"):
            continue  # shipped data (the demo corpus's scripts), not modules
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(module: str, node: ast.ImportFrom, is_pkg: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(modules: dict[str, Path]) -> dict[str, set[tuple[str, str | None]]]:
    """module -> {(imported aesdata module, name imported from it or None)}."""
    graph: dict[str, set[tuple[str, str | None]]] = {}
    for name, path in modules.items():
        edges: set[tuple[str, str | None]] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges |= {(a.name, None) for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name, node, path.name == "__init__.py")
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    edges.add((sub, None) if sub in modules else (target, a.name))
        graph[name] = {(m, n) for m, n in edges if m == "aesdata" or m.startswith("aesdata.")}
    return graph


def _ancestors(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:k]) for k in range(1, len(parts))}


def _with_parents(target: str, importer: str, modules: dict[str, Path]) -> set[str]:
    out = _ancestors(target) | {target}
    return {m for m in out if m in modules and m != "aesdata"} - _ancestors(importer)


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {
        m: {p for t, _ in edges for p in _with_parents(t, m, modules)} - {m}
        for m, edges in _imports(modules).items()
    }
    # Tarjan's strongly connected components: any component of more than one module is a circle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not circles, f"import circles: {circles}"


def test_no_private_names_across_modules() -> None:
    modules = _modules()
    bad = sorted(
        f"{m} imports {t}.{n}"
        for m, edges in _imports(modules).items()
        for t, n in edges
        if n and n.startswith("_") and not n.startswith("__") and t != m
    )
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def test_the_graph_sees_function_level_imports() -> None:
    """The walker is not blind: a known import inside a function of cli.py is an edge."""
    edges = _imports(_modules())["aesdata.cli"]
    assert any(t == "aesdata.judges.score_cli" for t, _ in edges)
