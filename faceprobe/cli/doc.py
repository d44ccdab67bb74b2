"""Render the CLI reference (docs/cli.md) from click's own help texts.

Regenerate with ``python -m faceprobe.cli.doc > docs/cli.md``; a test fails when it is stale.
"""

from __future__ import annotations

import click

__all__ = ["render"]


def _walk(ctx: click.Context):
    """Yield a context per command; children inherit settings (``-h``) as they do when run."""
    yield ctx
    cmd = ctx.command
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            sub = cmd.commands[name]
            yield from _walk(click.Context(sub, info_name=name, parent=ctx, **sub.context_settings))


def render() -> str:
    """Markdown with the ``--help`` of every command, in a stable order."""
    from .main import cli

    out = ["# CLI reference", "", "Generated from the commands' `--help` by `python -m faceprobe.cli.doc`; do not edit.", ""]
    out.append("The `featurize` entry point is the same command as `faceprobe featurize`.")
    out.append("")
    root = click.Context(cli, info_name="faceprobe", terminal_width=100, **cli.context_settings)
    for ctx in _walk(root):
        out += [f"## {ctx.command_path}", "", "```", ctx.command.get_help(ctx), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
