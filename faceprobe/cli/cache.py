"""``faceprobe cache ls|info|verify|export``."""

from __future__ import annotations

import click

from .common import clean_errors, echo_json

__all__ = ["cache_group"]

cache_option = click.option("--cache", "-c", default="features.h5", show_default=True, type=click.Path(dir_okay=False), help="HDF5 feature cache.")


def _reading(func):
    """--cache and --json, and clean errors: what every command that reads a cache takes."""
    return cache_option(click.option("--json", "as_json", is_flag=True, help="Print JSON.")(clean_errors(func)))


@click.group("cache")
def cache_group():
    """Inspect, check and export a feature cache."""


@cache_group.command("ls")
@_reading
def ls_command(cache, as_json):
    """List feature keys with their rows and sizes.

    \b
    Example:
      faceprobe cache ls --cache features.h5
    """
    from ..cache.tools import list_keys

    rows = list_keys(cache)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no feature keys yet")
    for r in rows:
        click.echo(f"{r['key']}  rows={r['rows']}  dim={r['dim']}  precision={','.join(r['precision'])}")


@cache_group.command("info")
@_reading
def info_command(cache, as_json):
    """Summarise a cache: images by status and label, keys, provenance.

    \b
    Example:
      faceprobe cache info --json
    """
    from ..cache.tools import cache_info

    info = cache_info(cache)
    if as_json:
        echo_json(info)
        return
    click.echo(f"{info['path']} ({info['bytes'] / 1e6:.1f} MB, format {info['attrs'].get('format')} v{info['attrs'].get('format_version')})")
    click.echo(f"images: {info['images']}  " + "  ".join(f"{k}={v}" for k, v in sorted(info["status"].items())) + f"  subjects={info['subjects']}")
    click.echo("labels: " + ", ".join(f"{k} {v}" for k, v in info["labels"].items())
               + (f"; unlabelled (predicted, never used for training) {info['unlabelled']}" if info["unlabelled"] else ""))
    for name, values in info["columns"].items():
        click.echo(f"column {name}: " + ", ".join(f"{k or '(empty)'} {v}" for k, v in values.items()))
    for r in info["keys"]:
        click.echo(f"key {r['key']}: {r['rows']} rows x {r['dim']} ({','.join(r['precision'])} on {','.join(r['devices'])})"
                   + (f"; no face in {r['skipped_no_face']} more ({r['no_face_reason']}; rows kept without a vector)"
                      if r['skipped_no_face'] else ""))
    if info["journal_parts"]:
        click.echo(f"{info['journal_parts']} uncommitted parts from an interrupted run: run featurize again")


@cache_group.command("verify")
@cache_option
@clean_errors
def verify_command(cache):
    """Check a cache's structure and values; exit 1 listing what is wrong.

    \b
    Example:
      faceprobe cache verify --cache features.h5
    """
    from ..cache.tools import verify

    found = verify(cache)
    if found.writer is not None:
        parts = found.waiting_parts
        click.echo(f"{cache}: featurize (PID {found.writer}) is writing it now" + (f"; {parts} result parts of that run wait to be "
                                                                                   "committed when it ends" if parts else ""), err=True)
    if found.problems:
        for p in found.problems:
            click.echo(f"{cache}: {p}", err=True)
        raise SystemExit(1)
    click.echo(f"{cache}: ok" + (" (as committed so far)" if found.writer is not None else ""))


@cache_group.command("export")
@cache_option
@click.option("--backbone", "-b", "--key", "-k", "key", default=None, help="Feature key or its backbone prefix (needed when the cache holds several).")
@click.option("--format", "fmt", type=click.Choice(["npz", "csv"]), default=None, help="Default: from the output's suffix (.npz or .csv).")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="File to write.")
@clean_errors
def export_command(cache, key, fmt, output):
    """Export one feature key with paths, labels and subjects.

    \b
    Example:
      faceprobe cache export -k efficientnet_lite0 --format csv -o features.csv
    """
    from ..cache.tools import export_key

    res = export_key(cache, key, output, fmt)
    click.echo(f"wrote {res['rows']} rows x {res['dim']} of {res['key']} to {res['out']}"
               + (f"; left out {res['no_vector']} images without a vector ({res['no_vector_reason']})" if res["no_vector"] else ""))


@cache_group.command("merge")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Merged cache (extended if it exists).")
@clean_errors
def merge_command(inputs, output):
    """Merge caches whose feature keys agree, e.g. the shards of featurize --shard i/n.

    \b
    Example:
      featurize -b resnet50 DATA/ --shard 0/2 --cache s0.h5
      featurize -b resnet50 DATA/ --shard 1/2 --cache s1.h5
      faceprobe cache merge s0.h5 s1.h5 -o features.h5
    """
    from ..cache.lock import writer_lock
    from ..cache.merge import merge_caches
    from ..outputs import check_writable

    check_writable(output, "output")  # before the lock file is made beside it
    with writer_lock(output):
        res = merge_caches(list(inputs), output)
    click.echo(f"merged {len(inputs)} caches into {output}: {res['images']} images; "
               + ", ".join(f"{k} {n} rows" for k, n in sorted(res["keys"].items())))
