"""The library speaks in parameters, the CLI in flags; folders stay small (issue 23)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from faceprobe.cli.options import flag_map
from faceprobe.errors import OptionError, flags_in

PACKAGE = Path(__file__).resolve().parent.parent / "faceprobe"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")


def _library_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] != "cli" and rel.name != "errors.py":
            yield path


def _strings(tree):
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node


def test_no_library_message_names_a_cli_flag():
    found = [f"{path.relative_to(PACKAGE)}:{node.lineno}: {FLAG.search(node.value).group()}"
             for path in _library_modules() for node in _strings(ast.parse(path.read_text())) if FLAG.search(node.value)]
    assert found == [], "library strings name CLI flags (name the parameter in backticks instead): " + "; ".join(found)


def test_no_folder_holds_more_than_fifteen_modules():
    sizes = {str(d.relative_to(PACKAGE.parent)): len([p for p in d.glob("*.py") if p.name != "__init__.py"])
             for d in [PACKAGE, *(p for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__")]}
    assert {d: n for d, n in sizes.items() if n > 15} == {}


@pytest.mark.parametrize("text, shown", [
    ("raise `max_memory`", "raise --max-memory"),
    ("use `cv=3` or `group=none`", "use --cv 3 or --group none"),
    ("give it once or once per `backbones`", "give it once or once per --backbone"),
    ("(`strict` stops at the first bad image)", "(--strict stops at the first bad image)"),
    ("the file `faceprobe backbones`", "the file `faceprobe backbones`"),  # not a parameter name: left as it is
])
def test_parameter_references_become_flags_in_the_cli(text, shown):
    assert flags_in(text, flag_map()) == shown  # the CLI passes the option tables' flags


def test_an_option_error_reads_as_parameters_in_python_and_as_flags_in_the_cli():
    exc = OptionError("holdout", 0.2, "cannot be combined with `cv=5`; choose one protocol")
    assert str(exc) == "holdout=0.2: cannot be combined with `cv=5`; choose one protocol"
    assert exc.as_flag() == "--holdout 0.2: cannot be combined with --cv 5; choose one protocol"


def test_the_cli_shows_notes_and_json_with_flags_and_the_api_with_parameters(tiny_cache, invoke, tmp_path):
    import json

    import faceprobe

    api = faceprobe.evaluate(str(tiny_cache), head="logreg", cv=3)
    assert any("`group=none` for random splits" in n for n in api.notes)
    r = invoke("classify", "-c", tiny_cache, "--head", "logreg", "--cv", 3, "-q", "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    assert "--group none for random splits" in r.output and "`" not in r.output
    assert any("--group none for random splits" in n for n in json.loads((tmp_path / "r.json").read_text())["notes"])
