"""featurize decided once: the source's rows, the cache's state, the requests, their weights and
feature keys, and what is still to compute, read and decided into one immutable plan.

The options were checked and the requests parsed once, by :func:`~faceprobe.featurize.options.resolve`
(the config's ``request``); :func:`make_plan` reads the cache once (under the writer lock) and
decides everything else. Compute
(:mod:`faceprobe.featurize.compute`) takes the plan and returns what it computed; the pipeline
(:mod:`faceprobe.featurize.pipeline`) commits and assembles the summary in one place.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from ..cache.layout import feature_key
from ..cache.store import read_feature_hashes, read_images, read_root_attrs
from ..errors import OptionError
from .backbones.layers import Request
from .backbones.resolve import cached_resolution, key_spec
from .config import FeaturizeConfig
from .options import START_METHODS
from .request import RunRequest
from .sources.hashing import hash_files

__all__ = ["Request", "RunRequest", "FeaturizePlan", "make_plan", "START_METHODS"]


_COLUMNS = ("path", "sha256", "label", "subject", "width", "height", "bytes", "mtime_ns", "status", "reason", "extra", "dhash")


@dataclass(frozen=True)
class FeaturizePlan:
    """One featurize run, decided.

    Attributes
    ----------
    config : FeaturizeConfig
        The options as given.
    request : RunRequest
    rows : dict of str -> tuple
        The source's image-table rows as this run will commit them (statuses known so far).
    old_paths : frozenset of str
        Paths of the cache's image table before the run.
    changed : bool
        The rows differ from the cache's (labels, subjects, files, statuses).
    forget : frozenset of str
        Paths of unusable rows whose file is gone and which the source does not list.
    resolutions : dict
        Backbone request id -> what it resolved to, as the cache (and ``done_in``) know it.
    have : dict of str -> frozenset
        Per feature key, the content hashes already held (cache and ``done_in``).
    refs : dict of str -> ImageRef
        Each content hash to consider (this shard's) -> its first listing, what is opened.
    keys : tuple of str or None
        The run's feature keys, when every request's resolution is known (else they are known
        once the backbones are loaded).
    todo : tuple of str
        Content hashes missing under at least one key (all of ``refs`` when ``keys`` is None).
    images, repeats, duplicates_by_content : int
    conflicts : tuple
        (path, labels) listed with different labels.
    notes : tuple of str
        What reading the source and the cache found.
    corpus : dict
        With ``corpus``: what the cache records of it (name, layout, folder, options, label
        files with their hashes); empty otherwise.
    """

    config: FeaturizeConfig
    request: RunRequest
    rows: dict
    old_paths: frozenset
    changed: bool
    forget: frozenset
    resolutions: dict
    have: dict
    refs: dict
    keys: tuple | None
    todo: tuple
    images: int
    repeats: int
    duplicates_by_content: int
    conflicts: tuple
    notes: tuple
    corpus: dict


def _empty_table() -> dict:
    return {c: np.array([], dtype=object) for c in ("path", "sha256", "status", "label", "subject", "extra", "reason", "width",
                                                     "height", "dhash", "bytes", "mtime_ns")}


def _source_rows(entries, hashes, old: dict) -> dict:
    """Image-table rows for the source, with statuses carried over from unchanged files."""
    prev = {str(p): i for i, p in enumerate(old["path"])}
    cols: dict[str, list] = {c: [] for c in _COLUMNS}
    status_by_sha: dict[str, tuple] = {}  # what is known of each content, whatever path it was seen under
    for j, (sha, st) in enumerate(zip(old["sha256"], old["status"])):
        if sha and st in ("ok", "bad"):
            status_by_sha.setdefault(str(sha), (str(st), str(old["reason"][j]), int(old["width"][j]), int(old["height"][j]),
                                                str(old["dhash"][j])))
    for e, h in zip(entries, hashes):
        i = prev.get(e.path)
        status = ("bad", h.error, -1, -1, "") if h.error else status_by_sha.get(h.sha256, ("pending", "", -1, -1, ""))
        label, subject, extra = e.label, e.subject, json.dumps(e.extra, sort_keys=True) if e.extra else ""
        if not label and i is not None:  # an unlabelled source (predict) keeps known labels
            label, subject, extra = str(old["label"][i]), subject or str(old["subject"][i]), extra or str(old["extra"][i])
        for c, v in zip(("path", "sha256", "label", "subject", "bytes", "mtime_ns", "extra"),
                        (e.path, h.sha256, label, subject, h.size, h.mtime_ns, extra)):
            cols[c].append(v)
        for c, v in zip(("status", "reason", "width", "height", "dhash"), status):
            cols[c].append(v)
    return {c: tuple(v) for c, v in cols.items()}


def _rows_changed(new: dict, old: dict) -> bool:
    prev = {str(p): i for i, p in enumerate(old["path"])}
    for j, p in enumerate(new["path"]):
        i = prev.get(p)
        if i is None:
            return True
        if any(str(old[c][i]) != str(new[c][j]) for c in ("sha256", "label", "subject", "status", "bytes", "mtime_ns", "extra")):
            return True
    return False


def _known_results(cfg: FeaturizeConfig, exists: bool) -> tuple[dict, dict]:
    """Backbone resolutions and, per feature key, the content hashes already computed, in the
    cache and in the read-only caches of ``done_in``."""
    resolutions = dict(read_root_attrs(cfg.cache).get("backbones", {})) if exists else {}
    have = read_feature_hashes(cfg.cache) if exists else {}
    for other in cfg.done_in:
        if os.path.exists(other):
            for req, rec in read_root_attrs(other).get("backbones", {}).items():
                resolutions.setdefault(req, rec)
            for key, hashes in read_feature_hashes(other).items():
                have.setdefault(key, set()).update(hashes)
    return resolutions, {k: frozenset(v) for k, v in have.items()}


def _first_paths(cfg: FeaturizeConfig, rows: dict) -> tuple[dict, int, list]:
    """Unique contents still to consider -> the first path listing them (bad files are not retried
    unless their bytes changed; only this run's shard with ``shard``), the count of duplicates by
    content, and a note on contents listed under different labels."""
    first_path: dict[str, str] = {}
    for p, s, st in zip(rows["path"], rows["sha256"], rows["status"]):
        if s and st != "bad":
            first_path.setdefault(s, p)
    duplicates = sum(1 for s, st in zip(rows["sha256"], rows["status"]) if s and st != "bad") - len(first_path)
    labels: dict[str, set] = {}
    for s, lab in zip(rows["sha256"], rows["label"]):
        if s and lab:
            labels.setdefault(s, set()).add(lab)
    conflicting = sum(1 for labs in labels.values() if len(labs) > 1)
    notes = [f"{conflicting} images have identical bytes listed under different labels; classify leaves them out until the "
             "labels agree"] if conflicting else []
    if cfg.shard is not None:
        i, n = cfg.shard
        first_path = {s: p for s, p in first_path.items() if int(s[:15], 16) % n == i}
    return first_path, duplicates, notes


def _source_notes(cfg: FeaturizeConfig, table) -> list[str]:
    notes = []
    if table.videos:
        frames = [e for e in table.entries if "#frame=" in e.id]
        broken = sum(1 for e in frames if getattr(e, "error", ""))
        notes.append(f"{table.videos} videos: {len(frames) - broken} frames ({cfg.frames or 'all'}), one row each"
                     + (f"; {broken} videos cannot be read (recorded as bad)" if broken else ""))
    notes.extend(f"{cfg.corpus}: {n}" for n in table.provenance.get("notes", ()))
    if table.subject_matches is not None:
        got, total = table.subject_matches
        notes.append(f"`subject_regex` gave {got} of {total} images a subject" + (f"; {total - got} have none" if got < total else ""))
    return notes


def _refuse_a_root_that_finds_nothing(cfg: FeaturizeConfig, entries: list, hashes: list) -> None:
    """A manifest none of whose files exist is read from the wrong folder: say so before any
    model loads (not after every image was tried and recorded as unreadable)."""
    if cfg.corpus or not entries or not isinstance(cfg.source, (str, os.PathLike)) or not os.path.isfile(cfg.source) \
            or os.path.exists(entries[0].path.split("#", 1)[0]):
        return
    if any(os.path.exists(e.path.split("#", 1)[0]) for e in entries) or not all(h.error for h in hashes):
        return
    base = cfg.root if cfg.root is not None else os.path.dirname(os.path.abspath(cfg.source))
    raise OptionError("root", base, f"none of the {len(entries)} images {os.path.basename(cfg.source)} lists is there (first: "
                                    f"{entries[0].path}); give the folder its relative paths start from")


def _corpus_reread(cache: str, exists: bool, corpus: dict, old: dict, listed: set) -> tuple[frozenset, list[str]]:
    """Rows an earlier read of the same corpus listed that this read (other options, another
    release) does not: forgotten from the image table (their vectors stay), with a note; and a
    note when the cache records other corpora too."""
    if not corpus or not exists:
        return frozenset(), []
    from ..cache.store import read_root_attrs

    held = read_root_attrs(cache).get("corpora", {})
    held = held if isinstance(held, dict) else {}
    notes = []
    others = sorted(n for n in held if n != corpus["corpus"])
    if others:
        notes.append(f"this cache also holds {', '.join(others)}: classify applies no official protocol to a cache of several "
                     "corpora; choose one corpus's rows with `where`, or compare them with `train_where` and `test_where`")
    before = held.get(corpus["corpus"])
    if not isinstance(before, dict) or before == corpus:
        return frozenset(), notes
    folder = os.path.join(os.path.abspath(str(corpus.get("folder", ""))), "")
    stale = frozenset(str(p) for p in old["path"] if str(p).startswith(folder) and str(p) not in listed)
    if stale:
        notes.append(f"{corpus['corpus']} was read before with options {before.get('options')}, now {corpus.get('options')}: "
                     f"dropped the {len(stale)} rows only that read listed (their vectors stay in the cache)")
    return stale, notes


def make_plan(cfg: FeaturizeConfig, table, notes: list[str] = ()) -> FeaturizePlan:
    """Read the cache once and decide the run (call it holding the cache's writer lock).

    Parameters
    ----------
    cfg : FeaturizeConfig
        As :func:`~faceprobe.featurize.options.resolve` made it (its ``request`` checked there).
    table : SourceTable
        The source's rows (:func:`~faceprobe.featurize.sources.read_source`).
    notes : sequence of str
        Notes of the housekeeping done before (recovered journals, stale copies).

    Raises
    ------
    FaceprobeError
        With ``strict``, at the first file that cannot be read.
    """
    from ..errors import FaceprobeError

    request = cfg.request

    exists = os.path.exists(cfg.cache)
    old = read_images(cfg.cache) if exists else _empty_table()
    known = {str(p): (str(s), int(b), int(m)) for p, s, b, m in zip(old["path"], old["sha256"], old.get("bytes", []), old.get("mtime_ns", []))}
    hashes = hash_files(table.entries, known)
    _refuse_a_root_that_finds_nothing(cfg, table.entries, hashes)
    if cfg.strict:
        unreadable = next(((e.path, h.error) for e, h in zip(table.entries, hashes) if h.error), None)
        if unreadable:
            raise FaceprobeError(f"{unreadable[0]}: {unreadable[1]} (`strict` stops at the first bad image)")
    rows = _source_rows(table.entries, hashes, old)
    resolutions, have = _known_results(cfg, exists)
    first_path, duplicates, conflict_notes = _first_paths(cfg, rows)
    recs = {r.name: cached_resolution(resolutions, r.name, w, cfg.seed) for r, w in zip(request.requests, request.weights)}
    keys = None
    todo = tuple(first_path)
    if all(recs.values()):
        keys = tuple(sorted({feature_key(key_spec(n, rec, cfg.crop_spec, v)) for n, rec in recs.items() for v in cfg.views}))
        todo = tuple(s for s in first_path if any(s not in have.get(k, ()) for k in keys))
    refs = {e.path: e for e in table.entries}
    listed = set(rows["path"])
    forget = frozenset(str(p) for p, st in zip(old["path"], old["status"])
                       if st == "bad" and str(p) not in listed and not os.path.exists(str(p)))
    if forget:
        conflict_notes.append(f"forgot {len(forget)} unusable rows of files that no longer exist and this source does not list "
                              "(e.g. paths read earlier without the right `root`)")
    corpus = {k: v for k, v in table.provenance.items() if k != "notes"}
    stale, corpus_notes = _corpus_reread(cfg.cache, exists, corpus, old, listed)
    forget |= stale
    conflict_notes += corpus_notes
    return FeaturizePlan(
        config=cfg, request=request, rows=rows, old_paths=frozenset(str(p) for p in old["path"]),
        changed=_rows_changed(rows, old), forget=forget, resolutions=resolutions, have=have,
        refs={s: refs[p] for s, p in first_path.items()}, keys=keys, todo=todo, images=len(table.entries),
        repeats=table.repeats, duplicates_by_content=duplicates, conflicts=tuple(table.conflicts),
        notes=tuple([*notes, *_source_notes(cfg, table), *conflict_notes]),
        corpus=corpus,
    )
