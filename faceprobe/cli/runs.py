"""``faceprobe runs list|show|compare|leaderboard|figures|tag|note|verify``: the results store."""

from __future__ import annotations

import click

from .common import clean_errors, echo_json

__all__ = ["runs_group"]

_LIST_COLUMNS = ["id", "uid", "created", "kind", "corpus", "protocol", "keys", "heads", "metric", "best", "tags"]


def _store(func):
    return click.option("--results-db", "results_db", default=None, type=click.Path(dir_okay=False),
                        help="The results store (default $FACEPROBE_RESULTS_DB, else runs.sqlite in $FACEPROBE_HOME).")(func)


def _output(func):
    from ..ledger.formats import FORMATS

    func = click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
                        help="text, md, tex (booktabs), csv, json, or parquet (with --output).")(func)
    return click.option("--output", "-o", default=None, type=click.Path(dir_okay=False), help="Write to this file instead.")(func)


def _filters(func):
    for name, helptext in reversed((("corpus", "Runs on this corpus."), ("key", "Runs of this feature key (or backbone prefix)."),
                                    ("head", "Runs of this head."), ("protocol", "Runs under this protocol (official, loso, cv 10, ...)."),
                                    ("kind", "classify, fit or featurize."), ("tag", "Runs with this tag."),
                                    ("since", "Runs from this date on (2026-12-01)."), ("until", "Runs before this date."))):
        func = click.option(f"--{name}", name, default=None, help=helptext)(func)
    return func


def _emit(rows: list[dict], fmt: str, output: str | None, columns: list[str] | None = None) -> None:
    from ..ledger.formats import render, write_rows
    from ..outputs import check_writable

    if output:
        check_writable(output, "output")
        write_rows(rows, fmt, output, columns)
        click.echo(f"wrote {len(rows)} rows to {output}")
        return
    if fmt == "parquet":
        raise click.ClickException("--format parquet: parquet is binary; give --output FILE.parquet")
    click.echo(render(rows, fmt, columns) if rows or fmt == "json" else "no runs match")


@click.group("runs")
def runs_group():
    """Every recorded run: list, show, compare two, rank per corpus and protocol, tag.

    Runs are recorded by classify, fit and featurize unless --no-record.
    """


@runs_group.command("list")
@_filters
@_output
@_store
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many, newest first.")
@clean_errors
def list_command(results_db, fmt, output, limit, **filters):
    """List recorded runs, newest first.

    \b
    Example:
      faceprobe runs list --tag paper --head logreg
    """
    from ..ledger.query import RunFilter, list_runs

    _emit(list_runs(results_db, RunFilter(**filters), limit), fmt, output, None if fmt == "json" else _LIST_COLUMNS)


@runs_group.command("show")
@click.argument("run")
@_store
@click.option("--json", "as_json", is_flag=True, help="Print everything recorded, as JSON.")
@clean_errors(names={"run": "RUN"})
def show_command(run, results_db, as_json):
    """Show one run: what ran and every cell's figures. RUN: its number, id prefix, or last.

    \b
    Example:
      faceprobe runs show last
    """
    from ..ledger.formats import render
    from ..ledger.query import get_run

    r = get_run(results_db, run)
    if as_json:
        echo_json(r)
        return
    click.echo(f"run {r['id']} ({r['uid']}) {r['kind']} on {r['created']} by faceprobe {r['faceprobe']} on {r['cpu']}")
    click.echo(f"cache {r['cache'] or '-'} (data {r['dataset'] or '-'}); corpus {r['corpus'] or '-'}; protocol {r['protocol'] or '-'}"
               + ("; official" if r["official"] else ""))
    click.echo("keys: " + ", ".join(f"{k} ({i})" for k, i in r["key_ids"].items()) if r["key_ids"] else f"keys: {', '.join(r['keys'])}")
    click.echo("options: " + " ".join(f"{k}={v}" for k, v in r["options"].items()))
    if r["tags"] or r["note"]:
        click.echo(f"tags: {', '.join(r['tags']) or '-'}; note: {r['note'] or '-'}")
    click.echo("")
    click.echo(render(r["cells"], "text", ["key", "head", "target", "metric", "value", "std", "low", "high", "over"]))


@runs_group.command("compare")
@click.argument("a")
@click.argument("b")
@_store
@_output
@clean_errors(names={"run": "RUN"})
def compare_command(a, b, results_db, fmt, output):
    """Compare two runs figure by figure, with what differs in what ran.

    \b
    Example:
      faceprobe runs compare last~1 last
    """
    from ..ledger.compare import compare_runs

    res = compare_runs(results_db, a, b)
    if fmt == "json" and not output:
        echo_json(res)
        return
    moved = [f for f in res["figures"] if f["moved"]]
    if output or fmt != "text":
        _emit(res["figures"], fmt, output)
        return
    click.echo(f"run {res['a']} -> run {res['b']}: {len(res['figures'])} figures in both, {len(moved)} differ"
               + ("" if res["paired"]["folds"] else f" (no paired test: {res['paired']['why_not'] or 'no folds'})"))
    if moved:
        _emit(moved, "text", None, ["key", "head", "target", "metric", "a", "b", "difference", "p"])
    for side, cells in (("a", res["only_a"]), ("b", res["only_b"])):
        if cells:
            click.echo(f"only in run {res[side]}: " + "; ".join(" ".join(map(str, c)) for c in cells))
    if res["provenance"]:
        click.echo(f"what ran differs in {len(res['provenance'])} fields:")
        for d in res["provenance"]:
            click.echo(f"  {d['field']}: {d['a']} -> {d['b']}")
    elif moved:
        click.echo("what ran is the same: the difference is not explained by the recorded provenance")


@runs_group.command("leaderboard")
@_filters
@_output
@_store
@click.option("--metric", default="balanced_accuracy", show_default=True, help="The figure to rank by (lowest first for mae, rmse).")
@clean_errors
def leaderboard_command(results_db, fmt, output, metric, **filters):
    """The best key x head per corpus and protocol over the recorded runs, marking official protocols
    and runs that did not group by subject.

    \b
    Example:
      faceprobe runs leaderboard --format md
    """
    from ..ledger.query import RunFilter, leaderboard

    _emit(leaderboard(results_db, RunFilter(**filters), metric), fmt, output)


@runs_group.command("figures")
@_filters
@_output
@_store
@click.option("--folds", is_flag=True, help="Every fold's figures too, not only each cell's aggregate.")
@clean_errors
def figures_command(results_db, fmt, output, folds, **filters):
    """Every figure of the matching runs, one row each (a tidy table for pandas or R).

    \b
    Example:
      faceprobe runs figures --tag paper --format csv -o figures.csv
    """
    from ..ledger.query import RunFilter, figure_rows

    _emit(figure_rows(results_db, RunFilter(**filters), folds), fmt, output)


@runs_group.command("tag")
@click.argument("run")
@click.argument("tags", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Remove these tags instead.")
@_store
@clean_errors(names={"run": "RUN", "tag": "TAG"})
def tag_command(run, tags, remove, results_db):
    """Tag a run (or --remove tags).

    \b
    Example:
      faceprobe runs tag last paper-2027 table-3
    """
    from ..ledger.query import tag_run

    number, now, absent = tag_run(results_db, run, () if remove else tags, tags if remove else ())
    if absent:
        click.echo(f"note: run {number} had no tag {', '.join(absent)}: nothing to remove there", err=True)
    click.echo(f"run {number}: tags {', '.join(now) or '-'}")


@runs_group.command("note")
@click.argument("run")
@click.argument("text")
@_store
@clean_errors(names={"run": "RUN"})
def note_command(run, text, results_db):
    """Set a run's note ("" clears it).

    \b
    Example:
      faceprobe runs note last "baseline for table 3"
    """
    from ..ledger.query import note_run

    number = note_run(results_db, run, text)
    click.echo(f"run {number}: note {'set' if text else 'cleared'}")


@runs_group.command("verify")
@_store
@clean_errors
def verify_command(results_db):
    """Check the store's integrity; exit 1 listing what is wrong.

    \b
    Example:
      faceprobe runs verify
    """
    from ..ledger.db import verify

    res = verify(results_db)
    if not res["ok"]:
        for p in res["problems"]:
            click.echo(f"{res['path']}: {p}", err=True)
        raise SystemExit(1)
    click.echo(f"{res['path']}: ok (schema {res['schema']}; {res['runs']} runs, {res['figures']} figures)")
