"""featurize's options, declared once (:class:`~faceprobe.options.OptionTable`).

The table gives :class:`FeaturizeOptions` (as given: flat, keyword-only, immutable), the keywords
and docstrings of :func:`faceprobe.compute_features` and :func:`faceprobe.predict`, the flags of
``featurize`` and ``faceprobe predict``, the one validation pass and the option table of
docs/cli.md. :func:`resolve` turns the options into the run's
:class:`FeaturizeConfig` (crop settings, views and shard parsed), once.
"""

from __future__ import annotations

import dataclasses

from ..errors import OptionError

from ..ledger.options import recording_options
from ..options import MAX_SEED, Cli, Option, OptionTable, option_values, parsed_by, strings_or_dict

__all__ = ["FeaturizeConfig", "RECIPE_OPTIONS", "parse_shard", "FEATURIZE", "PREDICT", "FeaturizeOptions", "resolve", "START_METHODS"]

START_METHODS = ("auto", "fork", "forkserver", "spawn")
"""How decode/crop workers start; ``auto``: fork where the cropper and every image allow it, else
fork server. Registered plug-ins work with each (the face recipe travels by value)."""

_API = ("compute_features",)
_BOTH = ("featurize",)


def _names(module: str, registry: str):
    def names() -> tuple:
        import importlib

        return tuple(getattr(importlib.import_module(module, __package__), registry).names())
    return names


def _described(module: str, registry: str, lead: str):
    def text() -> str:
        import importlib

        reg = getattr(importlib.import_module(module, __package__), registry)
        return f"{lead} " + "; ".join(f"{n}: {e.description}" for n, e in reg.items() if n != "orig") + "."
    return text


def _crop_param_help() -> str:
    from .faces.base import CROPPERS

    return ("The cropper's own parameters, NAME=VALUE strings (repeat) or a dict in the API. "
            + "; ".join(f"{n}: {', '.join(f'{k}={v}' for k, v in c.params.items())}" for n, c in CROPPERS.items() if c.params) + ".")


def _crop_help() -> str:
    from .faces.base import CROPPERS

    return f"Face crop. {CROPPERS.describe()}."


def _align_help() -> str:
    from .faces.base import CROPPERS

    return ("Warp each face onto a five-point template (eyes level, at fixed places) with the detector's landmarks, then resize "
            "it to the backbone's input; needs a cropper with landmarks (" + ", ".join(n for n, c in CROPPERS.items() if c.landmarks) + ").")


def _registry_help(module: str, registry: str, lead: str):
    def text() -> str:
        import importlib

        return f"{lead} {getattr(importlib.import_module(module, __package__), registry).describe()}."
    return text


def _shard(value):
    return parse_shard("/".join(map(str, value)) if isinstance(value, tuple) else value)


_CACHE = Option("cache", "str", "features.h5", "HDF5 feature cache (predict: used, and filled, for the new images).",
                ("featurize", "predict"), (), cli=Cli(short="c"))
_ROOT = Option("root", "str", None, "Folder that relative manifest paths start from (default: the manifest's folder).",
               ("featurize", "predict"), (*_API, "predict"))
_PATH_COL = Option("path_col", "str", "path", "Manifest column of image paths.", ("featurize", "predict"), (*_API, "predict"))
_PROGRESS = Option("progress", "bool", True, "Show a progress bar (stderr).", ("featurize", "predict"), (*_API, "predict"),
                   cli=Cli(negate_help="No progress bar.", negate="quiet", short="q"))

FEATURIZE = OptionTable("featurize", [
    Option("backbones", "values", (), "Backbone requests (efficientnet_lite0, resnet50@layer3, timm/NAME); several in one pass "
           "(see faceprobe backbones).", _BOTH, (), cli=Cli(flag="backbone", short="b")),
    Option("weights", "values", ("DEFAULT",), "DEFAULT, a weights name (IMAGENET1K_V2), a state-dict FILE, or none (random, "
           "`seed`); once, or once per backbone.", _BOTH, _API, cli=Cli(short="w")),
    _CACHE, _ROOT, _PATH_COL,
    Option("label_col", "str", "label", "Manifest column of labels.", _BOTH, _API),
    Option("subject_col", "str", "subject", "Manifest column of subjects (optional column).", _BOTH, _API),
    Option("subject_regex", "str", None, "Subjects from file names: the first group of REGEX searched in each file's name, "
           "e.g. '^(S\\d+)_' (CK+) or '^([A-Z]+)\\.' (JAFFE); for folders and manifests without a subject column.",
           _BOTH, _API, cli=Cli(metavar="REGEX")),
    Option("corpus", "str", None, "Read SOURCE as the folder of this public corpus, laid out as published (faceprobe corpus "
           "list): labels, subjects, sequences, the official split or folds and targets become columns, and the cache "
           "records the corpus, its layout and its label files' hashes.", _BOTH, _API, choices=_names("..corpora", "CORPORA"),
           conflicts=(("root", "a corpus's paths start at its folder"),
                      ("subject_regex", "a corpus's subjects come from its own naming")), cli=Cli(metavar="NAME")),
    Option("corpus_options", "object", (), "A corpus option, NAME=VALUE (faceprobe corpus show NAME lists them; e.g. "
           "neutral=true for CK+).", _BOTH, _API,
           check=strings_or_dict("expected NAME=VALUE strings or a dict"), type_text="dict or sequence of str",
           requires=(("corpus", "options of a corpus need the corpus"),), cli=Cli(flag="corpus-option", repeat=True)),
    Option("frames", "str", None, "Frames of each video (.mp4, .avi, .mov, .mkv) that become rows (default all); subject and "
           "sequence default to the video.", _BOTH, _API, cli=Cli(metavar="all|every:N|fps:F|count:K")),
    Option("crop", "str", "none", _crop_help, _BOTH, _API, choices=_names(".faces.base", "CROPPERS")),
    Option("crop_params", "object", (), _crop_param_help, _BOTH, _API,
           check=strings_or_dict("expected NAME=VALUE strings or a dict"),
           type_text="dict or sequence of str", cli=Cli(flag="crop-param", repeat=True)),
    Option("margin", "float", 0.2, "Fraction of the face box added on each side.", _BOTH, _API, low=0),
    Option("no_face", "str", "keep", "When no face is found: keep the whole image, or skip it.", _BOTH, _API,
           choices=("keep", "skip")),
    Option("align", "bool", False, _align_help, _BOTH, _API),
    Option("equalize", "bool", False, "Histogram-equalise the face's luminance (the same as `preprocess=equalize`).", _BOTH, _API),
    Option("preprocess", "values", (), _described(".faces.steps", "PREPROCESS", "Preprocessing steps applied to each face in "
           "this order (a comma list):"), ("featurize",), _API, cli=Cli(metavar="STEP[,STEP...]")),
    Option("augment", "values", (), _described(".faces.views", "VIEWS", "Augmented views stored under their own keys (a comma "
           "list):"), ("featurize",), _API, cli=Cli(metavar="VIEW[,VIEW...]")),
    Option("device", "str", "auto", "auto, cpu, cuda or cuda:N.", _BOTH, _API),
    Option("precision", "str", "auto", _registry_help(".engine.device", "PRECISIONS", "Precision of the forward pass (stored "
           "as float32)."), _BOTH, _API, choices=_names(".engine.device", "PRECISIONS")),
    Option("compile", "str", "auto", _registry_help(".engine.compile", "COMPILE_MODES", "Compiled graph."), _BOTH, _API,
           choices=_names(".engine.compile", "COMPILE_MODES")),
    Option("runtime", "str", "auto", _registry_help(".engine.runtimes", "RUNTIMES", "Runtime of the forward pass; every "
           "candidate is held to eager PyTorch's float32 vectors on the first batch (cosine 0.9999, 0.999 in bf16) and the "
           "export is kept on disk."), _BOTH, _API, choices=_names(".engine.runtimes", "RUNTIMES")),
    Option("decode", "str", "auto", _registry_help(".engine.devdecode", "DECODE_MODES", "Where JPEGs are decoded."), _BOTH, _API,
           choices=_names(".engine.devdecode", "DECODE_MODES")),
    Option("batch_size", "int", None, "Images per forward pass (default: 16 on CPU, 128 on CUDA).", _BOTH, _API, low=1),
    Option("journal_seconds", "float", 5.0, "Seconds of computed batches per crash-safe journal part (or 1,024 images, whichever "
           "comes first): a killed run loses at most this much work; 0 writes a part per batch.", _BOTH, _API, low=0,
           cli=Cli(metavar="SECONDS")),
    Option("workers", "int", None, "Decode/crop worker processes (default: from device and cores).", _BOTH, _API, low=0),
    Option("cores", "int", None, "CPU cores this run may use (forward threads plus decode workers); default: all cores of the "
           "process's affinity (torchrun ranks on one machine get an equal part each).", (), _API, low=1),
    Option("shard", "object", None, "i/n: compute only shard i (0-based) of n, split by content hash; merge shards with "
           "faceprobe cache merge.", _BOTH, _API, check=parsed_by(_shard), type_text="str, (int, int) or None",
           cli=Cli(metavar="I/N")),
    Option("done_in", "values", (), "Other caches (read only) whose rows count as done, e.g. the main cache of a sharded job.",
           (), _API),
    Option("seed", "int", 0, "Seed of random weights (`weights=none`).", _BOTH, _API, low=0, high=MAX_SEED),
    Option("accept_licences", "values", (), "Accept the restrictive licence of a zoo network (face/NAME), shown when it is first "
           "asked for.", _BOTH, _API, cli=Cli(flag="accept-licence", metavar="NAME")),
    Option("strict", "bool", False, "Stop at the first bad image instead of recording and skipping it.", _BOTH, _API),
    Option("start_method", "str", "auto", "How decode/crop workers start: auto (fork where the cropper and every image allow "
           "it, else fork server), fork, forkserver or spawn.", (), _API, choices=START_METHODS),
    Option("distributed", "str", "auto", "auto: under torchrun with several ranks, each rank computes one content-hash shard and "
           "rank 0 merges them; none: this process computes everything it is given.", (), _API, choices=("auto", "none")),
    Option("labelled", "bool", True, "Rows need a label (False: new images to predict).", (), ()),
    _PROGRESS,
    *recording_options(_BOTH, _API),
])

PREDICT = OptionTable("predict", [
    _CACHE, _ROOT, _PATH_COL, _PROGRESS,
    Option("allow_pickle", "bool", False, "Load a .joblib model (a pickle: it can run any code it holds); only for files you "
           "made. .skops files need no such permission.", ("predict",), ("predict",)),
])
"""faceprobe predict's options: featurize's own where they are featurize's (one declaration each)."""

FeaturizeOptions = FEATURIZE.dataclass(
    "FeaturizeOptions", "Options of ``featurize`` and :func:`faceprobe.compute_features`, as given (keyword-only, "
    "immutable); generated from :data:`FEATURIZE`; :func:`resolve` checks them and makes the run's config.", __name__)


def resolve(source: str, options) -> "FeaturizeConfig":
    """Check ``options`` (one validation pass) and resolve them into the run's config, once.

    Parameters
    ----------
    source : str or list of str
        Folder of class folders, CSV manifest, CSV of pixel strings (FER-2013), videos, a corpus
        folder, or a list of image files.
    options : FeaturizeOptions

    Returns
    -------
    FeaturizeConfig

    Raises
    ------
    OptionError
        Naming the option, the value and the fix.
    """
    from .faces.base import CropSpec, parse_crop_params
    from .faces.steps import parse_steps
    from .faces.views import parse_views
    from .request import check_request

    given = option_values(options)
    FEATURIZE.validate(given)
    if given["compile"] != "auto" and given["runtime"] not in ("auto", "torch"):
        raise OptionError("compile", given["compile"], f"is PyTorch's graph mode: it cannot be combined with "
                                                       f"`runtime={given['runtime']}`, which runs the exported graph; give "
                                                       "`runtime=torch` for a PyTorch graph, or leave `compile` out")
    for o in FEATURIZE:  # one string is one value ("none" is not four letters); preprocess and augment take comma lists
        if o.kind == "values" and o.name not in ("preprocess", "augment") and isinstance(given[o.name], str):
            given[o.name] = (given[o.name],)
    steps = given.pop("preprocess")
    steps = parse_steps(steps if isinstance(steps, str) else ",".join(steps))
    params = given.pop("crop_params") or ()
    params = tuple(sorted(params.items())) if isinstance(params, dict) else parse_crop_params(given["crop"], params)
    crop = CropSpec(given.pop("crop"), given.pop("margin"), given.pop("no_face"), given.pop("equalize"), params, steps,
                    given.pop("align"))
    augment = given.pop("augment")
    views = tuple(parse_views(augment if isinstance(augment, str) else ",".join(augment)))
    source = list(map(str, source)) if isinstance(source, (list, tuple)) else str(source)  # a list of image files (predict)
    cfg = FeaturizeConfig(source=source, crop_spec=crop, views=views, **given)
    return dataclasses.replace(cfg, request=check_request(cfg))


RECIPE_OPTIONS = ("crop", "margin", "no_face", "equalize", "crop_params", "preprocess", "align", "augment")
"""Options that :func:`~faceprobe.featurize.options.resolve` turns into the face recipe
(``crop_spec``, ``views``) instead of fields of their own."""

_SEQUENCES = ("backbones", "weights", "done_in", "accept_licences", "views")


def _post_init(self) -> None:
    for name in _SEQUENCES:  # immutable sequences
        object.__setattr__(self, name, tuple(getattr(self, name)))
    if isinstance(self.shard, str):
        object.__setattr__(self, "shard", parse_shard(self.shard))


def _config_class() -> type:
    """FeaturizeConfig: one field per featurize option (from the option table, never declared
    again), the face-recipe options resolved into ``crop_spec`` and ``views``, and ``source``."""
    declared = [("source", str)] + [(o.name, object) for o in FEATURIZE if o.name not in RECIPE_OPTIONS]
    declared += [("crop_spec", "CropSpec"), ("views", tuple),
                 ("request", "RunRequest", dataclasses.field(default=None, repr=False, compare=False, metadata={"resolved": True}))]
    cls = dataclasses.make_dataclass("FeaturizeConfig", declared, frozen=True, kw_only=True, namespace={"__post_init__": _post_init})
    cls.__module__ = __name__
    cls.__doc__ = (
        "Everything a featurize run needs, resolved once from its options (keyword-only, immutable): only "
        ":func:`~faceprobe.featurize.options.resolve` makes it, after the option table's one validation pass.\n\n"
        "Attributes\n----------\nsource : str\n    Folder of class folders, CSV manifest, CSV of pixel strings, videos, or "
        "a corpus folder.\ncrop_spec : CropSpec\n    The face recipe's crop settings (cropper, margin, steps, alignment), "
        "resolved from ``crop``, ``margin``, ``no_face``, ``equalize``, ``crop_params``, ``preprocess`` and ``align``.\n"
        "views : tuple of str\n    ``orig`` first, then the augmented views of ``augment``.\nrequest : RunRequest\n    The backbone requests "
        "parsed, their weights and the face recipe, checked once (:func:`~faceprobe.featurize.request.check_request`).\n\n"
        "Every other field is the option of the same name (:data:`~faceprobe.featurize.options.FEATURIZE`), checked; "
        "``shard`` as ``(i, n)``.")
    return cls


FeaturizeConfig = _config_class()


def parse_shard(text: str) -> tuple[int, int]:
    """``"1/4"`` -> ``(1, 4)``: shard 1 (0-based) of 4.

    Raises
    ------
    OptionError
        When ``text`` is not ``i/n`` with ``0 <= i < n``.
    """
    try:
        i, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise OptionError("shard", text, "expected i/n such as 0/4") from None
    if not (n >= 1 and 0 <= i < n):
        raise OptionError("shard", text, "must be i/n with 0 <= i < n")
    return i, n
