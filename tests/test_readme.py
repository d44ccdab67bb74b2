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
