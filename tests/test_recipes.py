"""Every command in docs/recipes.md runs as written (DenseNet-121 replaced by a random-weight stand-in)."""

import pytest
import os
import re
import subprocess
import sys
from pathlib import Path

from .conftest import TINY

RECIPES = Path(__file__).resolve().parents[1] / "docs" / "recipes.md"


def commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", RECIPES.read_text(), flags=re.S)
    return [line for block in blocks for line in block.strip().splitlines() if line.strip()]


@pytest.mark.slow
def test_recipes_run_as_written(tmp_path):
    cmds = commands()
    assert len(cmds) >= 9 and cmds[0].startswith("DEMO=")
    bindir = Path(sys.executable).parent
    script = ["set -euo pipefail"]
    for cmd in cmds:
        # the stand-in: same commands, a small model with random weights
        cmd = cmd.replace("featurize --backbone densenet121", f"featurize --backbone {TINY} --weights none --precision fp32")
        cmd = cmd.replace("--backbone densenet121", f"--backbone {TINY}")
        script += [f"echo '>>> {cmd}'", cmd]
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-c", "\n".join(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])
    assert out.stdout.count("metric (%)") == 11  # 9 tables, the LOSO recipe's pooled table, the regression's bins
    assert "regression of brightness" in out.stdout and "picked by mae (lower is better)" in out.stdout
    assert "the same predictions as classes of bins [0,40), [40,60), [60,100]" in out.stdout
    assert "leave-one-subject-out" in out.stdout and "--normalize subject: left out" in out.stdout
    assert "50% holdout" in out.stdout and "20% holdout, 10 repeats" in out.stdout
    assert "NOT grouped by subject" in out.stdout
    for name in ("svm.json", "svm.html", "svm.md"):
        assert (tmp_path / name).stat().st_size > 0
