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


def test_no_import_cycles():
    graph = _imports()
    modules = set(graph)
    edges = {m: {d for d in deps if d in modules and d != m and d != "faceprobe"} for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for d in edges[m]:
            if state.get(d) == 1:
                raise AssertionError(" -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(modules):
        if m not in state:
            visit(m, [m])


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
