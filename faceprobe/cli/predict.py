"""``faceprobe predict``: parse options, call :func:`faceprobe.prediction.predict`, write the CSV."""

from __future__ import annotations

import click

from .common import clean_errors

__all__ = ["predict_command"]


@click.command("predict")
@click.argument("source", type=click.Path(exists=True))
@click.option("--model", "-m", "model_path", required=True, type=click.Path(dir_okay=False), help="Model from faceprobe fit.")
@click.option("--cache", "-c", default="features.h5", show_default=True, type=click.Path(dir_okay=False), help="Feature cache used (and filled) for the new images.")
@click.option("--root", type=click.Path(exists=True, file_okay=False), help="Folder that relative manifest paths start from.")
@click.option("--path-col", default="path", show_default=True, help="Manifest column of image paths.")
@click.option("--output", "-o", default="predictions.csv", show_default=True, type=click.Path(dir_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--allow-pickle", is_flag=True, help="Load a .joblib model (a pickle: it can run any code it holds); only for files you made.")
@clean_errors
def predict_command(source, model_path, cache, root, path_col, output, quiet, allow_pickle):
    """Predict the class of new images: path,label,p_<class>...,reason CSV.

    SOURCE is a folder of images (searched recursively) or a CSV with a path column. Images
    without a prediction have an empty label and say why in the reason column. A regression
    model (fit --target COLUMN) writes path,COLUMN,reason: the predicted value.

    \b
    Example:
      faceprobe predict --model model.skops new_faces/ -o predictions.csv
    """
    from ..prediction import predict

    frame = predict(model_path, source, cache, root=root, path_col=path_col, progress=not quiet, allow_pickle=allow_pickle)
    from ..outputs import csv_safe

    text = frame.select_dtypes(include="object").columns
    frame[text] = frame[text].map(csv_safe)
    frame.to_csv(output, index=False, float_format="%.6f")
    done = int((frame["reason"] == "").sum())
    click.echo(f"wrote {done} predictions to {output}" + (f" ({len(frame) - done} images without one: see the reason column)" if done < len(frame) else ""))
