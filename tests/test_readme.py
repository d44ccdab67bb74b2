"""The README's tour runs as printed on the data it names (the dev faces)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARK = "<!-- tour: runs on the dev faces -->"


def tour_commands() -> list[str]:
    """The featurize command of the tour, then every line of the block under the marker."""
    text = (ROOT / "README.md").read_text()
    featurize = re.search(r"```bash\n(\.venv/bin/featurize --backbone efficientnet_lite0 \.\./shared/data/muxspace-dev/manifest\.csv \\\n"
                          r"\s+--root [^\n]+)\n```", text)
    block = text.split(MARK, 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [featurize.group(1).replace("\\\n", " ")] + [line for line in block.splitlines() if line.strip()]


def test_the_tour_block_is_found_and_names_only_the_dev_faces():
    commands = tour_commands()
    assert commands[0].startswith(".venv/bin/featurize") and len(commands) >= 8
    assert all(c.startswith(".venv/bin/") for c in commands)
    assert not any(w in " ".join(commands) for w in ("DATA/", "NEW_FACES", "--where", "--target", "--split-col"))


@pytest.mark.slow
def test_every_tour_command_runs_as_printed_on_the_dev_faces(real_dir, tmp_path):
    bin_dir = Path(sys.executable).parent
    for command in tour_commands():
        args = shlex.split(command, comments=True)
        args[0] = str(bin_dir / Path(args[0]).name)
        args = [a.replace("../shared/data/muxspace-dev", str(real_dir)) for a in args]
        done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
        assert done.returncode == 0, f"{command}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr, command
    assert (tmp_path / "grid.tex").exists() and (tmp_path / "r.html").exists() and (tmp_path / "predictions.csv").exists()


def python_block() -> str:
    """The README's Python block (the notebook tour)."""
    text = (ROOT / "README.md").read_text()
    return text.split("## From Python (a notebook)", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def test_the_python_block_defines_every_name_it_uses():
    import ast
    import builtins

    tree = ast.parse(python_block())
    defined = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    defined |= {a.asname or a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    defined |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)} | {a.arg for n in ast.walk(tree) if isinstance(n, ast.arg) for a in [n]}
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    assert used - defined - set(dir(builtins)) == set()


@pytest.mark.slow
def test_the_python_block_runs_as_printed_on_the_dev_faces(real_dir, tmp_path):
    code = python_block().replace('"../shared/data/muxspace-dev"', repr(str(real_dir)))
    script = tmp_path / "tour.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "report.html").exists() and (tmp_path / "model.skops").exists()
