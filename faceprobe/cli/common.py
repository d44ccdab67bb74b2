"""What every command shares: clean error reporting and JSON output."""

from __future__ import annotations

import errno
import functools
import json
import sys

import click

from ..errors import FaceprobeError, OptionError, flags_in
from .options import flag_map

__all__ = ["clean_errors", "echo_json", "flag_notes", "echo_recorded"]


RESUMABLE = {"featurize_command", "demo_command", "predict_command"}
"""Commands whose work is journaled as it goes (featurizing): a Ctrl-C keeps it."""


def clean_errors(func=None, *, names: dict | None = None):
    """Turn library errors into one-line click errors (exit 1) naming the flag, Ctrl-C into exit 130.

    ``names``: how this command spells parameters otherwise (``{"corpus": "NAME"}`` where the
    corpus is an argument, not the ``--corpus`` flag)."""
    if func is None:
        return functools.partial(clean_errors, names=names)

    def flags() -> dict:  # built only for an error: the tables import both stages' option modules
        return {**flag_map(), **(names or {})}

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except OptionError as exc:
            raise click.ClickException(exc.as_flag(flags())) from None
        except FaceprobeError as exc:
            raise click.ClickException(flags_in(str(exc), flags())) from None
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}no space left on the device; free some space and run the same command again "
                                       "(results computed so far are kept)") from None
        except KeyboardInterrupt:
            if func.__name__ in RESUMABLE:
                click.echo("interrupted; results computed so far are kept, run the same command to resume", err=True)
            else:
                click.echo("interrupted; nothing was written", err=True)
            sys.exit(130)

    return wrapper


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def flag_notes(obj, flags: dict | None = None):
    """``obj`` (a results or summary dict) with every ``notes`` text naming CLI flags, not
    library parameters (see :func:`faceprobe.errors.flags_in`)."""
    flags = flag_map() if flags is None else flags  # made once for the whole tree
    if isinstance(obj, dict):
        return {k: ([flags_in(n, flags) if isinstance(n, str) else n for n in v] if k in ("notes", "note") and isinstance(v, list)
                    else flags_in(v, flags) if k == "note" and isinstance(v, str) else flag_notes(v, flags)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [flag_notes(v, flags) for v in obj]
    return obj


def echo_recorded(recorded: dict | None) -> None:
    """Say (on stderr) where the run was recorded, or why it was not."""
    if not recorded:
        return
    if "error" in recorded:
        click.echo(f"note: {recorded['error']}", err=True)
    elif "run" in recorded:
        click.echo(f"recorded as run {recorded['run']} in {recorded['store']} (faceprobe runs show {recorded['run']})", err=True)
    if "mlflow_error" in recorded:
        click.echo(f"note: {recorded['mlflow_error']}", err=True)
    if "mlflow" in recorded:
        m = recorded["mlflow"]
        click.echo(f"logged to MLflow at {m['tracking_uri']}: run {m['run_id']}" + (f" with {len(m['nested'])} nested runs" if m["nested"] else ""),
                   err=True)
