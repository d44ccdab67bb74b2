"""Click options built from a stage's option table (:mod:`faceprobe.options`): one entry, one flag.

Flags keep the library's names as their destinations, so a command passes what it parsed
straight to the stage's options dataclass; what the CLI turns from text (``--cv loso``) is the
entry's ``cli.from_text``. Kinds, ranges, choices and combinations are checked by the table's one
validation pass in the library, so the CLI and the API refuse the same values with the same words.
"""

from __future__ import annotations

import click

from ..options import Option, OptionTable

__all__ = ["table_options", "option_flags", "flag_map", "flag_of", "short_of"]

_CLICK_TYPES = {"int": int, "float": float, "str": str}


def flag_of(o: Option) -> str:
    """The flag that sets ``o`` on the command line (its ``cli.flag`` or ``cli.negate``, else its
    name with dashes: ``--max-memory``)."""
    return "--" + (o.cli.negate or o.cli.flag or o.name.replace("_", "-"))


def short_of(o: Option) -> str | None:
    """The short flag (``-j``), or None."""
    return "-" + o.cli.short if o.cli.short else None


def _decls(o: Option) -> list[str]:
    return [flag_of(o), *([short_of(o)] if o.cli.short else []), o.name]


class _LazyHelpOption(click.Option):
    """An option whose help text is read from its registry when help is shown, not when the CLI
    starts (the heads' parameters would import scikit-learn into every command's start-up)."""

    def __init__(self, *decls, lazy_help=None, **kwargs):
        super().__init__(*decls, **kwargs)
        self._lazy_help = lazy_help

    def get_help_record(self, ctx):
        if self._lazy_help is not None:
            self.help, self._lazy_help = self._lazy_help(), None
        return super().get_help_record(ctx)


def _click_option(o: Option):
    """The click option of one entry."""
    from ..errors import flags_in

    if callable(o.help):
        kw = {"cls": _LazyHelpOption, "lazy_help": lambda: flags_in(o.help_text(), flag_map()), "metavar": o.cli.metavar}
    else:
        kw = {"help": flags_in(o.help_text(), flag_map()), "metavar": o.cli.metavar}
    if o.kind == "bool":
        if o.cli.negate:
            return click.option(*_decls(o), is_flag=True, flag_value=False, default=True, help=flags_in(o.cli.negate_help, flag_map()))
        return click.option(*_decls(o), is_flag=True, default=o.default, **kw)
    if o.kind == "values" or o.cli.repeat:
        return click.option(*_decls(o), multiple=True, default=o.default or (), callback=_repeated(o), **kw)
    choices = o.allowed()
    kind = click.Choice(list(choices)) if choices is not None else _CLICK_TYPES.get(o.kind, str)
    shown = o.default is not None and o.default != ""
    if o.cli.bare is not None:
        kw.update(is_flag=False, flag_value=o.cli.bare)
    return click.option(*_decls(o), type=kind, default=o.default, show_default=shown, callback=_converted(o), **kw)


def _repeated(o: Option):
    def callback(ctx, param, value):
        values = tuple(value)
        return None if o.default is None and not values else values
    return callback


def _converted(o: Option):
    def callback(ctx, param, value):
        return o.cli.from_text(value) if o.cli.from_text is not None and isinstance(value, str) else value
    return callback


def table_options(table: OptionTable, command: str):
    """A decorator adding the click options of every entry of ``table`` that ``command`` takes, in table order."""
    def add(func):
        for o in reversed(table.of_command(command)):
            func = _click_option(o)(func)
        return func
    return add


def option_flags(*tables: OptionTable) -> dict[str, str]:
    """Library name -> CLI flag, for error messages and notes."""
    return {o.name: flag_of(o) for t in tables for o in t if o.commands}


def flag_map() -> dict[str, str]:
    """The flags of every stage's table (classify and featurize)."""
    from ..classify.options import CLASSIFY
    from ..featurize.options import FEATURIZE

    return option_flags(CLASSIFY, FEATURIZE)
