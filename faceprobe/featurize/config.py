"""The resolved config of a featurize run (from :class:`~faceprobe.featurize.options.FeaturizeOptions`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import OptionError
from .faces.base import CropSpec

__all__ = ["FeaturizeConfig", "parse_shard"]


@dataclass(frozen=True, kw_only=True)
class FeaturizeConfig:
    """Everything a featurize run needs, resolved from its options once (keyword-only, immutable):
    :func:`~faceprobe.featurize.options.resolve` makes it.

    Attributes
    ----------
    source : str
        Folder of class folders, CSV manifest, or CSV of pixel strings (FER-2013).
    root, path_col, label_col, subject_col
        As for :func:`~faceprobe.featurize.sources.read.read_source`.
    subject_regex : str or None
        Subjects from file names: the first group of this regular expression.
    corpus : str or None
        ``source`` is the folder of this registered corpus (:mod:`faceprobe.corpora`).
    corpus_options : tuple or dict
        The corpus's own options, ``NAME=VALUE`` strings or a dict.
    frames : str or None
        Which frames of videos become rows: ``all`` (None), ``every:N``, ``fps:F``, ``count:K``.
    backbones : list of str
    weights : list of str
        One entry for all backbones, or one per backbone (``DEFAULT``, a name, a file, ``none``).
    cache : str
    crop_spec : CropSpec
        The crop settings (cropper, margin, steps, alignment) resolved from the options.
    views : list of str
        ``orig`` first, then augmented views.
    device, precision : str
    batch_size : int or None
        Images per forward pass; None: 16 on CPU (faster than larger batches there), 128 on CUDA.
    journal_seconds : float
        Seconds of computed batches per journal part (at most 1,024 images): a killed run
        loses at most this much work; 0 writes one part per batch.
    workers : int or None
        DataLoader worker processes; None picks from the device and core count.
    seed : int
        Seed of random weights (``--weights none``).
    strict : bool
        Fail on the first bad image instead of recording it.
    compile : str
        ``none``, ``freeze``, ``inductor`` or ``auto`` (see :mod:`faceprobe.featurize.engine.compile`).
    runtime : str
        ``torch``, ``onnxruntime``, ``openvino`` or ``auto`` (see :mod:`faceprobe.featurize.engine.runtimes`).
    cores : int or None
        CPU cores this run may use (forward threads plus decode workers); None: all cores of
        the process's affinity. torchrun ranks on one machine get an equal part each.
    decode : str
        Where JPEGs are decoded: ``cpu``, ``device`` (nvJPEG on CUDA) or ``auto`` (the device
        only on CUDA when CPU decoding is the bottleneck; see :mod:`faceprobe.featurize.engine.devdecode`).
    shard : (int, int), str or None
        ``(i, n)`` or ``"i/n"``: compute only images whose content hash falls in shard i of n, so that
        n jobs (e.g. a Slurm array) split the work deterministically; merge their caches
        with ``faceprobe cache merge``.
    done_in : list of str
        Other caches (read only) whose rows count as done, e.g. the main cache of a sharded job.
    start_method : str
        How decode/crop workers start: ``auto`` (fork where the cropper and every image allow
        it, else fork server), ``fork``, ``forkserver`` or ``spawn``. Plug-in croppers, steps
        and views work with each.
    distributed : str
        ``auto``: under torchrun with several ranks, each rank computes one content-hash shard
        and rank 0 merges them (:mod:`faceprobe.featurize.distributed`); ``none``: this process
        computes everything it is given.
    accept_licences : tuple of str
        Zoo networks whose restrictive licence the user accepts; such a network is refused
        before its first download until it is named here (its licence is shown in the refusal).
    progress : bool
    """

    source: str
    backbones: tuple
    weights: tuple = ("DEFAULT",)
    cache: str = "features.h5"
    root: str | None = None
    path_col: str = "path"
    label_col: str = "label"
    subject_col: str = "subject"
    subject_regex: str | None = None
    corpus: str | None = None
    corpus_options: tuple | dict = ()
    frames: str | None = None
    crop_spec: CropSpec = field(default_factory=CropSpec)
    views: tuple = ("orig",)
    device: str = "auto"
    precision: str = "auto"
    batch_size: int | None = None
    journal_seconds: float = 5.0
    workers: int | None = None
    seed: int = 0
    strict: bool = False
    progress: bool = True
    labelled: bool = True
    compile: str = "auto"
    runtime: str = "auto"
    decode: str = "auto"
    cores: int | None = None
    shard: tuple[int, int] | None = None
    done_in: tuple = ()
    start_method: str = "auto"
    distributed: str = "auto"
    accept_licences: tuple = ()

    def __post_init__(self):
        for name in ("backbones", "weights", "views", "done_in", "accept_licences"):  # immutable sequences
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if isinstance(self.shard, str):
            object.__setattr__(self, "shard", parse_shard(self.shard))


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
