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
    return "\n".join(out + option_tables())


def _allowed(o) -> str:
    from ..errors import flags_in

    parts = []
    if o.choices is not None:
        parts.append(" ".join(map(str, o.allowed())))
    if o.low is not None or o.high is not None:
        from ..params import range_words

        parts.append(range_words(o.low, o.high, o.open_low, o.open_high))
    if o.also:
        parts.append("or " + " or ".join(map(str, o.also)))
    return flags_in(", ".join(parts)) if parts else ""


def option_tables() -> list[str]:
    """The option tables (:mod:`faceprobe.classify.options`, :mod:`faceprobe.featurize.options`) as Markdown."""
    from ..classify.options import CLASSIFY
    from ..featurize.options import FEATURIZE, PREDICT
    from .options import flag_of, short_of

    out = ["# Options, declared once", "",
           "Every option below is declared once, in its stage's table; the flags above, the API's keywords and docstrings, "
           "the options dataclasses and the one validation pass are made from it. A flag of `-` means the API only; "
           "an API of `-` means a positional parameter or the CLI only.", ""]
    for table in (CLASSIFY, FEATURIZE, PREDICT):
        out += [f"## {table.stage}", "", "| option | flag | commands | API | default | allowed | cannot combine with | needs |",
                "|---|---|---|---|---|---|---|---|"]
        for o in table:
            flag = f"`{flag_of(o)}`" + (f" `{short_of(o)}`" if o.cli.short else "") if o.commands else "-"
            conflicts = ", ".join(f"`{n}`" for n, _ in o.conflicts)
            needs = ", ".join(f"`{n}`" for n, _ in o.requires)
            out.append(f"| `{o.name}` | {flag} | {', '.join(o.commands) or '-'} | {', '.join(o.api) or '-'} | "
                       f"`{o.default!r}` | {_allowed(o)} | {conflicts} | {needs} |")
        out.append("")
    return out


if __name__ == "__main__":
    print(render(), end="")
