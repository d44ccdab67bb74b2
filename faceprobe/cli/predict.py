"""``faceprobe predict``: parse options, call :func:`faceprobe.prediction.predict`, write the CSV."""

from __future__ import annotations

import click

from .common import clean_errors
from .options import table_options
from ..featurize.options import PREDICT

__all__ = ["predict_command"]


@click.command("predict")
@click.argument("source", type=click.Path(exists=True))
@click.option("--model", "-m", "model_path", required=True, type=click.Path(dir_okay=False), help="Model from faceprobe fit.")
@click.option("--output", "-o", default="predictions.csv", show_default=True, type=click.Path(dir_okay=False))
@table_options(PREDICT, "predict")
@clean_errors
def predict_command(source, model_path, output, cache, **options):
    """Predict the class of new images: path,label,p_<class>...,reason CSV.

    SOURCE is a folder of images (searched recursively) or a CSV with a path column. Images
    without a prediction have an empty label and say why in the reason column. A regression
    model (fit --target COLUMN) writes path,COLUMN,reason: the predicted value.

    \b
    Example:
      faceprobe predict --model model.skops new_faces/ -o predictions.csv
    """
    from ..outputs import check_writable, csv_safe
    from ..prediction import predict

    check_writable(output, "output")  # before any image is featurized
    frame = predict(model_path, source, cache, **options)

    text = frame.select_dtypes(include=["object", "string"]).columns
    frame[text] = frame[text].map(csv_safe)
    frame.to_csv(output, index=False, float_format="%.6f")
    done = int((frame["reason"] == "").sum())
    click.echo(f"wrote {done} predictions to {output}" + (f" ({len(frame) - done} images without one: see the reason column)" if done < len(frame) else ""))
    cached = frame.attrs.get("cache", {})
    if cached.get("computed"):
        click.echo(f"note: the {cached['computed']} new images' vectors were added to {cached['path']}, unlabelled (classify leaves "
                   "them out; cache info counts them); give another --cache to keep them apart")
