"""Command-line entry points: ``faceprobe`` (all commands), ``featurize`` and ``classify``.

Each command group has its module in this package (``featurize.py``, ``classify.py``, ``cache.py``,
...), its flags made from the stage's option table (:mod:`faceprobe.cli.options`); this module only
assembles them. Heavy imports happen inside the
commands, so ``--help`` answers at once.
"""

from __future__ import annotations

import click

from .._version import __version__
from ..errors import FaceprobeError
from ..plugins import load_plugins
from .cache import cache_group
from .corpus import corpus_group
from .classify import classify_command, engines_command, fit_command
from .predict import predict_command
from .demo import demo_command
from .ending import run_then_end
from .report import report_command
from .runs import runs_group
from .featurize import backbones_command, featurize_command

__all__ = ["cli", "main", "featurize_main", "classify_main"]

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="faceprobe")
def cli():
    """faceprobe: frozen-CNN features for facial expression and pain recognition, evaluated without leaks.

    \b
    Example:
      featurize --backbone densenet121 DATA/
      classify --head svm --cv 10
    """


cli.add_command(featurize_command)
cli.add_command(classify_command)
cli.add_command(fit_command)
cli.add_command(predict_command)
cli.add_command(report_command)
cli.add_command(demo_command)
cli.add_command(cache_group)
cli.add_command(corpus_group)
cli.add_command(backbones_command)
cli.add_command(engines_command)
cli.add_command(runs_group)


def _with_version(cmd: click.Command) -> None:
    """Every command and sub-command answers --version."""
    if not any("--version" in p.opts for p in cmd.params):
        click.version_option(__version__, prog_name="faceprobe")(cmd)
    for sub in getattr(cmd, "commands", {}).values():
        _with_version(sub)


_with_version(cli)


def _plugins() -> None:
    """Import the modules named by ``FACEPROBE_PLUGINS`` (what they register is usable at once)."""
    try:
        load_plugins()
    except FaceprobeError as exc:
        raise SystemExit(f"Error: {exc}") from None


def main() -> None:
    _plugins()
    run_then_end(lambda: cli(prog_name="faceprobe"))


def featurize_main() -> None:
    _plugins()
    featurize_command.context_settings.update(CONTEXT)
    run_then_end(lambda: featurize_command(prog_name="featurize"))


def classify_main() -> None:
    _plugins()
    classify_command.context_settings.update(CONTEXT)
    run_then_end(lambda: classify_command(prog_name="classify"))


if __name__ == "__main__":
    main()
