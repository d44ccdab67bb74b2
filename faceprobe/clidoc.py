"""Render the CLI reference (docs/cli.md) from click's own help texts.

Regenerate with ``python -m faceprobe.clidoc > docs/cli.md``; a test fails when it is stale.
"""

from __future__ import annotations

import click

__all__ = ["render"]


def _walk(cmd: click.Command, path: list[str]):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            yield from _walk(cmd.commands[name], path + [name])


def render() -> str:
    """Markdown with the ``--help`` of every command, in a stable order."""
    from .cli import cli

    out = ["# CLI reference", "", "Generated from the commands' `--help` by `python -m faceprobe.clidoc`; do not edit.", ""]
    out.append("The `featurize` entry point is the same command as `faceprobe featurize`.")
    out.append("")
    for path, cmd in _walk(cli, ["faceprobe"]):
        ctx = click.Context(cmd, info_name=" ".join(path), terminal_width=100, max_content_width=100)
        out += [f"## {' '.join(path)}", "", "```", cmd.get_help(ctx), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
