"""The ``classify`` command: parse options, call :func:`faceprobe.classify.run.run_classify`."""

from __future__ import annotations

import json

import click

from .common import clean_errors, flag_notes
from ..classify.config import BACKENDS, BALANCE
from ..classify.engines import ENGINE_CHOICES, ENGINES
from ..classify.heads.registry import HEADS
from ..classify.metrics import SUMMARY_METRICS
from ..classify.regression.heads import REGRESSORS
from ..classify.regression_metrics import REGRESSION_METRICS

__all__ = ["classify_command", "fit_command", "engines_command"]


def _cv(ctx, param, value):
    """A number of folds, or loso."""
    if value is None or value == "loso":
        return value
    try:
        return int(value)
    except ValueError:
        raise click.ClickException(f"--cv {value}: expected a number of folds or loso (leave one subject out)") from None


def _keys(ctx, param, value):
    """One key, or several (a study on the same folds); ``A+B`` fuses two."""
    return None if not value else (value[0] if len(value) == 1 else list(value))


def evaluation_options(func):
    """Options shared by classify and fit: data selection, protocol, balancing, grids."""
    for option in reversed([
        click.option("--cache", "-c", default="features.h5", show_default=True, type=click.Path(dir_okay=False), help="HDF5 feature cache."),
        click.option("--backbone", "-b", "key", default=None, multiple=True, callback=_keys, help="Feature key or its backbone prefix (needed when the cache holds several); repeat to compare keys on the same folds; A+B fuses two keys."),
        click.option("--cv", default=None, callback=_cv, help="Stratified K-fold cross-validation (default 10), or loso: leave one subject out (one fold per subject)."),
        click.option("--holdout", type=float, default=None, help="Single stratified split holding out this fraction (0.5 or 0.2 in published work)."),
        click.option("--repeats", type=int, default=1, show_default=True, help="Repeat the protocol with seeds seed, seed+1, ...; mean ± std over repeats."),
        click.option("--group", default="auto", show_default=True, metavar="auto|subject|none|COLUMN", help="auto: group splits by subject when "
                     "subjects are known; none: random splits; a column of the image table (e.g. sequence) groups by its values."),
        click.option("--where", "where", multiple=True, metavar="COL=V[,V...]", help="Keep only rows whose column has one of the values "
                     "(COL!=V... leaves them out); repeat to combine; columns: subject and the source's extra columns."),
        click.option("--balance", type=click.Choice(list(BALANCE)), default="none", show_default=True, help="Class balancing, inside training folds only."),
        click.option("--classes", multiple=True, help="Select or merge labels: NEW=old1,old2 (repeat); rest=* for one-vs-rest."),
        click.option("--min-count", type=int, default=0, show_default=True, help="Leave out classes with fewer images."),
        click.option("--augmented", is_flag=True, help="Add training images' augmented views (featurize --augment) to training folds."),
        click.option("--param", "params", multiple=True, help="Hyperparameter values, e.g. C=0.1,1,10 (every head taking C) or svm.C=0.1,1,10 (svm only); several values are chosen by inner CV. "
                     + "; ".join(f"{n}: {', '.join(f'{k}={v}' for k, v in h.params.items())}" for n, h in HEADS.items()) + "."),
        click.option("--pca", type=int, default=None, help="PCA components, fitted inside each training fold."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--jobs", "-j", type=int, default=-1, show_default=True, help="Parallel folds (joblib processes); -1: all cores. Numbers do not depend on it."),
        click.option("--backend", type=click.Choice(list(BACKENDS)), default="local", show_default=True, help="dask: run folds on a dask.distributed cluster (same results)."),
        click.option("--scheduler", default=None, help="Dask scheduler address (default with --backend dask: a local cluster of --jobs workers)."),
        click.option("--engine", type=click.Choice(list(ENGINE_CHOICES)), default="auto", show_default=True,
                     help="Implementation of the heads: auto (the fastest installed engine that each head and its parameters "
                          "were shown faithful on, else scikit-learn); " + "; ".join(f"{n}: {e.description}" for n, e in ENGINES.items())
                          + ". The engine used is in the notes and --json."),
        click.option("--target", "target", multiple=True, metavar="COLUMN", help="Regression: predict this numeric column "
                     "(a manifest column, or label for numeric labels); repeat for several (valence, arousal). Heads are then "
                     f"regressors: {REGRESSORS.describe()}."),
        click.option("--max-memory", default="auto", show_default=True, help="Memory budget, e.g. 8G; past it knn and logreg read features from the cache in blocks, other heads are refused. auto: half the free memory."),
    ]):
        func = option(func)
    return func


@click.command("classify")
@click.option("--head", default="all", show_default=True, help=f"A head, a comma list, or all. {HEADS.describe()}.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, allow_dash=True), default=None, help="Write all results and provenance to this JSON file (- : to standard output, instead of the table).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None, help="Also write a report, as faceprobe report does: .html or .md.")
@click.option("--metric", default=None, type=click.Choice(list(SUMMARY_METRICS) + list(REGRESSION_METRICS)),
              help="The metric the grid of keys x heads shows and tests (and, with --target, that inner CV picks by); default "
                   "balanced_accuracy, or ccc with --target. Lower is better for mae and rmse.")
@click.option("--bins", default=None, metavar="E0,E1,...", help="With --target: also score the predictions as ordinal classes "
              "between these edges, e.g. 0,1,3,16 for PSPI pain (no pain, trace, pain).")
@click.option("--table", "table_path", type=click.Path(dir_okay=False), default=None, help="Also write the grid: .csv (tidy, with p-values), .tex (booktabs) or .md.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--normalize", default="none", show_default=True, metavar="none|subject|COLUMN", help="z-score each subject's (or "
              "column value's) vectors with its own images, labels unused (pain recognition's per-person baseline); transductive.")
@click.option("--split-col", default=None, metavar="COLUMN", help="A fixed split by this column's values (e.g. Usage): one fit on "
              "--train, figures on --test with bootstrap 95%% intervals, with and without test images that also occur in training.")
@click.option("--train", "train_values", multiple=True, metavar="V[,V...]", help="--split-col values of the training part.")
@click.option("--test", "test_values", multiple=True, metavar="V[,V...]", help="--split-col values of the test part.")
@click.option("--val", "val_values", multiple=True, metavar="V[,V...]", help="--split-col values of a validation part: --param grids are "
              "chosen on it (models fitted on --train) instead of by inner CV.")
@click.option("--aggregate", default=None, metavar="COLUMN", help="Also give clip-level figures: the frames of each value of "
              "COLUMN (e.g. sequence, set for video frames) vote by their averaged scores.")
@click.option("--train-where", "train_where", multiple=True, metavar="COL=V[,V...]", help="Cross-corpus: train on the rows "
              "these filters select (repeat to combine) and test on those --test-where selects; each corpus's own --cv is "
              "given beside it.")
@click.option("--test-where", "test_where", multiple=True, metavar="COL=V[,V...]", help="Cross-corpus: the rows to test on.")
@click.option("--curve", default=None, metavar="subjects=N1,N2,...,all", help="Learning curve: the same test folds, training on "
              "random subsets of N subjects (or images=N1,...) of each training fold, 3 draws each; mean ± std per size.")
@click.option("--map", "map_kind", type=click.Choice(["pca", "tsne", "none"]), default="pca", show_default=True,
              help="With --report: a 2-D map of the vectors (tsne adds t-SNE; slower) and 1-NN probes of identity and label.")
@click.option("--no-faces", is_flag=True, help="With --report: leave face thumbnails out (a report to share).")
@click.option("--permutations", type=int, default=0, show_default=True, metavar="N", help="Rerun the evaluation on N label "
              "permutations (labels moved between subjects when splits are grouped) for each cell's p-value against chance; "
              "costs N evaluations.")
@click.option("--predictions", is_flag=True, help="Keep every test prediction (path, true and predicted label, scores) in --json "
              "(a report keeps them for its ROC curves).")
@evaluation_options
@clean_errors
def classify_command(json_out, report_path, table_path, quiet, train_values, test_values, val_values, classes, params, where, target,
                     train_where, test_where, map_kind, no_faces, **options):
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

    if json_out:
        check_writable(json_out, "json")
    if report_path:
        report_format(report_path, None, "report")
    if table_path:
        table_format(table_path)
    options["predictions"] = options["predictions"] or bool(report_path)
    options["insight"] = map_kind if report_path and map_kind != "none" else None
    options["faces"] = not no_faces
    res = Results(flag_notes(run_classify(ClassifyOptions(
        **options, classes=tuple(classes), params=tuple(params), where=tuple(where), progress=not quiet, target=tuple(target),
        train_where=tuple(train_where), test_where=tuple(test_where),
        train=tuple(train_values), test=tuple(test_values), val=tuple(val_values)))))
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


@click.command("fit")
@click.option("--head", required=True, help=f"One head: {', '.join(HEADS.names())}; with --target one regressor: "
              f"{', '.join(REGRESSORS.names())}.")
@evaluation_options
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Model file to write and its .sha256: .skops (safe to load; fitted on scikit-learn) or .joblib (a pickle).")
@clean_errors
def fit_command(output, classes, params, where, target, **options):
    """Train one head on all cached rows and save it, with its cross-validated metrics.

    A .skops model file loads without running code from it (skops.io; it holds scikit-learn's
    estimators, so --engine auto fits on scikit-learn). A .joblib file is a pickle: predict
    loads it only with --allow-pickle.

    \b
    Example:
      faceprobe fit --head logreg -o model.skops
    """
    from ..classify.run import ClassifyOptions, run_fit

    names = REGRESSORS.names() if target else HEADS.names()
    if "," in options["head"] or options["head"] == "all":
        raise click.UsageError(f"fit trains one head; give one of {', '.join(names)}")
    model = run_fit(ClassifyOptions(**options, classes=tuple(classes), params=tuple(params), where=tuple(where), target=tuple(target)),
                    output)
    head = options["head"]
    if target:
        m = model["metric"]
        v = model["cv"]["summary"][m]
        figure = "-" if v is None else f"{v['mean']:.3f} ± {v['std']:.3f}"
        click.echo(f"trained {head} on {model['trained_rows']} images of {model['key']} to predict {model['target']}; "
                   f"cross-validated {m} {figure}; wrote {output} (sha256 {model['sha256'][:12]})")
        return
    acc = model["cv"]["summary"]["balanced_accuracy"]
    click.echo(f"trained {head} on {model['trained_rows']} images of {model['key']}; cross-validated balanced accuracy "
               f"{100 * acc['mean']:.1f} ± {100 * acc['std']:.1f} %; wrote {output} (sha256 {model['sha256'][:12]})")


@click.command("engines")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@clean_errors
def engines_command(as_json):
    """List the engines heads run on: installed or not, version, device, and the heads each runs.

    \b
    Example:
      faceprobe engines
    """
    from ..classify.engines import engine_status

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
