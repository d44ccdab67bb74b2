"""``faceprobe report``: results JSON to an HTML or Markdown report."""

from __future__ import annotations

import json

import click

from .common import clean_errors
from ..errors import FaceprobeError

__all__ = ["report_command"]


@click.command("report")
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Report file to write.")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default=None, help="Default: from the output's suffix (.md is Markdown).")
@click.option("--no-faces", is_flag=True, help="Leave face thumbnails out (a report to share); the rest stays.")
@clean_errors
def report_command(results, output, fmt, no_faces):
    """Turn classify's --json RESULTS into a self-contained report.

    The HTML page holds the metrics table, per-class tables, confusion-matrix heatmaps, ROC
    curves, per-person accuracy, the most confidently wrong faces (thumbnails of local files),
    feature maps and probes when the run made them (PNG embedded), and the provenance block.

    \b
    Example:
      classify --head all --json results.json
      faceprobe report results.json -o report.html
    """
    from ..report.render import write_report
    from ..report.schema import check_results

    try:
        with open(results, encoding="utf-8") as handle:
            res = json.load(handle)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FaceprobeError(f"{results}: not a JSON file ({exc})") from None
    check_results(res, results)
    if no_faces:
        res["provenance"] = {**res.get("provenance", {}), "faces": False}
    kind = write_report(res, output, fmt)
    click.echo(f"wrote {kind} report {output} ({report_size(output)})")


def report_size(path: str) -> str:
    """A written file's size in words (``1.2 MB``)."""
    import os

    size = os.path.getsize(path)
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"
