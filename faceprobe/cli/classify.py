"""The ``classify`` command: parse options, call :func:`faceprobe.classify.run.run_classify`."""

from __future__ import annotations

import json

import click

from .common import clean_errors, echo_recorded, flag_notes
from .options import table_options
from ..classify.options import CLASSIFY

__all__ = ["classify_command", "fit_command", "engines_command"]


@click.command("classify")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, allow_dash=True), default=None, help="Write all results and provenance to this JSON file (- : to standard output, instead of the table).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None, help="Also write a report, as faceprobe report does: .html or .md.")
@click.option("--table", "table_path", type=click.Path(dir_okay=False), default=None, help="Also write the grid: .csv (tidy, with p-values), .tex (booktabs) or .md.")
@click.option("--map", "map_kind", type=click.Choice(["pca", "tsne", "none"]), default="pca", show_default=True,
              help="With --report: a 2-D map of the vectors (tsne adds t-SNE; slower) and 1-NN probes of identity and label.")
@table_options(CLASSIFY, "classify")
@clean_errors
def classify_command(json_out, report_path, table_path, map_kind, **options):
    """Cross-validate classifier heads on cached features (CPU only).

    \b
    Example:
      classify --head svm --cv 10
      classify --head all --holdout 0.2 --repeats 10 --balance undersample
      classify --head logreg --classes pain=pain,grimace --classes nopain=neutral
      classify -b densenet121 -b resnet50 -b densenet121+resnet50 --head svm,knn,logreg --table grid.tex
      classify --head logreg --cv loso
      classify --head svm --where view=front --group sequence
      classify --head logreg --split-col Usage --train Training --test PrivateTest --val PublicTest
      classify --target pspi --head svr,ridge --cv loso --bins 0,1,3,16
      classify --target valence --target arousal --metric ccc
      classify --head logreg --train-where corpus=ck --test-where corpus=jaffe --permutations 99
      classify --head logreg,svm --curve subjects=5,10,20,all
    """
    from ..outputs import check_writable
    from ..report.render import report_format
    from ..results import Results
    from ..report.text import format_results
    from ..classify.run import ClassifyOptions, run_classify
    from ..report.tables import table_format, write_table

    if json_out is not None:
        check_writable(json_out, "json")
    if report_path is not None:
        report_format(report_path, None, "report")
    if table_path is not None:
        table_format(table_path)
    options["predictions"] = options["predictions"] or bool(report_path)
    options["insight"] = map_kind if report_path and map_kind != "none" else None
    res = Results(flag_notes(run_classify(ClassifyOptions(**options))))
    if json_out == "-":
        click.echo(json.dumps(res.raw, indent=1, sort_keys=True, default=str))
    else:
        click.echo(format_results(res.raw))
    if json_out and json_out != "-":
        res.to_json(json_out)
        click.echo(f"\nwrote {json_out}")
    if report_path:
        from .report import report_size

        kind = res.report(report_path)
        click.echo(f"wrote {kind} report {report_path} ({report_size(report_path)})", err=json_out == "-")
    if table_path:
        click.echo(f"wrote {write_table(res.raw, table_path)} table {table_path}", err=json_out == "-")
    if json_out != "-":  # on standard output it is in the JSON
        echo_recorded(res.raw.get("recorded"))


@click.command("fit")
@table_options(CLASSIFY, "fit")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Model file to write and its .sha256: .skops (safe to load; fitted on scikit-learn) or .joblib (a pickle).")
@clean_errors
def fit_command(output, **options):
    """Train one head on all cached rows and save it, with its cross-validated metrics.

    A .skops model file loads without running code from it (skops.io; it holds scikit-learn's
    estimators, so --engine auto fits on scikit-learn). A .joblib file is a pickle: predict
    loads it only with --allow-pickle.

    \b
    Example:
      faceprobe fit --head logreg -o model.skops
    """
    from ..classify.run import ClassifyOptions, run_fit

    model = run_fit(ClassifyOptions(**options), output)
    head = options["head"]
    if options["target"]:
        m = model["metric"]
        v = model["cv"]["summary"][m]
        figure = "-" if v is None else f"{v['mean']:.3f} ± {v['std']:.3f}"
        click.echo(f"trained {head} on {model['trained_rows']} images of {model['key']} to predict {model['target']}; "
                   f"cross-validated {m} {figure}; wrote {output} (sha256 {model['sha256'][:12]})")
        echo_recorded(model.get("recorded"))
        return
    acc = model["cv"]["summary"]["balanced_accuracy"]
    click.echo(f"trained {head} on {model['trained_rows']} images of {model['key']}; cross-validated balanced accuracy "
               f"{100 * acc['mean']:.1f} ± {100 * acc['std']:.1f} %; wrote {output} (sha256 {model['sha256'][:12]})")
    echo_recorded(model.get("recorded"))


@click.command("engines")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@clean_errors
def engines_command(as_json):
    """List the engines heads run on: installed or not, version, device, and the heads each runs.

    \b
    Example:
      faceprobe engines
    """
    from ..classify.engines import ENGINES, engine_status
    from ..classify.heads.registry import HEADS

    rows = []
    for name, engine in ENGINES.items():
        version, why = engine_status(name)
        heads = HEADS.names() if name == "sklearn" else [h for h, s in HEADS.items() if name in s.engines]
        rows.append({"engine": name, "usable": why is None, "version": version, "why_not": why, "device": engine.device,
                     "heads": heads, "description": engine.description})
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        state = f"{r['version']}" if r["usable"] else f"unusable: {r['why_not']}"
        click.echo(f"{r['engine']:8} {r['device']:5} {state}")
        click.echo(f"         heads: {', '.join(r['heads'])}")
