"""docs/tracking.md's commands run as printed, in a folder holding a features.h5 of real faces."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "tracking.md"


def doc_commands() -> list[str]:
    """Every `.venv/bin/...` line of the page's bash blocks but installs."""
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.S)
    return [line for b in blocks for line in b.splitlines() if line.startswith(".venv/bin/") and " install " not in line]


def test_the_tracking_page_has_its_commands():
    commands = doc_commands()
    assert any(c.startswith(".venv/bin/faceprobe runs compare") for c in commands) and len(commands) >= 8


@pytest.mark.slow
def test_every_tracking_command_runs_as_printed_on_real_faces(real_lite0_eager_cache, tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="the page's last command logs to MLflow")
    shutil.copy(real_lite0_eager_cache, tmp_path / "features.h5")
    monkeypatch.setenv("FACEPROBE_RESULTS_DB", str(tmp_path / "runs.sqlite"))
    bin_dir = Path(sys.executable).parent
    for command in doc_commands():
        args = shlex.split(command, comments=True)
        args[0] = str(bin_dir / Path(args[0]).name)
        done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{command}\n{done.stdout[-1000:]}\n{done.stderr[-2000:]}"
    assert (tmp_path / "figures.csv").exists() and (tmp_path / "mlflow.db").exists()
