"""The layering the design promises: classify never reaches featurize or torch, no import cycles,
no private names imported across modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "faceprobe"


def _imports() -> dict[str, set[str]]:
    """module -> faceprobe modules it imports (any level, also inside functions)."""
    out: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        name = ".".join(parts)
        pkg = parts if rel.name == "__init__" else parts[:-1]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = pkg[: len(pkg) - node.level + 1] if node.level else []
                mod = ".".join(base + ([node.module] if node.module else []))
                if mod.startswith("faceprobe"):
                    deps.add(mod)
                    deps.update(f"{mod}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("faceprobe"))
        out[name] = deps
    return out


def test_classify_never_imports_featurize():
    bad = {m: sorted(d for d in deps if d.startswith("faceprobe.featurize"))
           for m, deps in _imports().items() if m.startswith("faceprobe.classify")}
    assert not {m: d for m, d in bad.items() if d}


def _cycle(edges: dict[str, set[str]]) -> str | None:
    """An import cycle in ``edges`` (node -> nodes it imports) as ``a -> b -> a``, or None."""
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for d in sorted(edges[m]):
            if state.get(d) == 1:
                return " -> ".join(stack[stack.index(d):] + [d])
            if d not in state and (found := visit(d, stack + [d])):
                return found
        state[m] = 2
        return None

    return next((found for m in sorted(edges) if m not in state and (found := visit(m, [m]))), None)


def test_no_import_cycles():
    graph = _imports()
    modules = set(graph)
    edges = {m: {d for d in deps if d in modules and d != m and d != "faceprobe"} for m, deps in graph.items()}
    assert _cycle(edges) is None


def test_no_import_cycles_between_the_rooms_of_any_folder():
    """Within every package, each module and each sub-folder (all it holds, as one) is a room; no
    two rooms import each other, directly or round a loop, so every folder's rooms stand in
    floors with every import pointing down (a folder that imports a module which imports it back
    is a cycle here, though its files make none)."""
    graph = _imports()
    found = {}
    for parent in sorted({m.rsplit(".", 1)[0] for m in graph if "." in m}):
        def room(name: str) -> str | None:
            rest = name[len(parent) + 1:] if name.startswith(parent + ".") else None
            return rest.split(".")[0] if rest else None

        edges: dict[str, set[str]] = {}
        for m, deps in graph.items():
            here = room(m)
            if here is not None:
                edges.setdefault(here, set()).update(r for r in map(room, deps) if r is not None and r != here and r in _rooms(graph, parent))
        cycle = _cycle({r: edges.get(r, set()) for r in _rooms(graph, parent)})
        if cycle:
            found[parent] = cycle
    assert not found


def _rooms(graph: dict, parent: str) -> set[str]:
    return {m[len(parent) + 1:].split(".")[0] for m in graph if m.startswith(parent + ".")}


def test_no_private_names_imported_across_modules():
    leaks = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("faceprobe")):
                leaks += [f"{path.name}: {a.name}" for a in node.names if a.name.startswith("_") and a.name != "__version__"]
    assert not leaks


def test_classify_run_loads_no_torch(tiny_cache):
    # featurize's option table (declarations only, for the API's signatures) is the one featurize module allowed
    tables = ("faceprobe.featurize", "faceprobe.featurize.options")
    code = ("import sys, faceprobe; faceprobe.evaluate(sys.argv[1], head='all', cv=3).summary(); "
            f"print('torch' in sys.modules, any(m.startswith('faceprobe.featurize') and m not in {tables!r} for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(tiny_cache)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
