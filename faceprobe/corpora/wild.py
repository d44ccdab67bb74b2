"""Corpora with continuous targets: AffectNet (categories, valence, arousal), UNBC-McMaster
shoulder pain (frame PSPI) and DISFA (12 action-unit intensities)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ..errors import FaceprobeError
from ..params import Param
from .base import Corpus, LabelFile, Layout, Protocol, Reference, Rows, number_in, register_corpus, whole_number
from .posed import subject_folds

__all__ = ["AFFECTNET", "UNBC", "DISFA", "DISFA_AUS"]

# ------------------------------------------------------------------ AffectNet

_AFFECT = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "angry", "contempt")
"""AffectNet's expression codes 0-7; 8-10 (none, uncertain, no face) are left out."""
_AFFECT_CSV = ("training.csv", "validation.csv")


def _kept(code: str, classes: int, where: str) -> str | None:
    """The label of an AffectNet expression code (0-10, by the corpora's one rule), None for the codes left out."""
    c = whole_number(code, where, "an AffectNet expression code (0-7 emotions, 8 none, 9 uncertain, 10 no face)", 0, 10)
    return _AFFECT[c] if c < classes else None


def _add_face(rows: Rows, classes: int, path: str, split: str, values, where: tuple, extra: dict | None = None) -> bool:
    """Add one AffectNet face from its (expression, valence, arousal) texts, read by the corpora's
    label rule (``where``: the file of each), with ``extra`` columns; False when its code is one left out."""
    label = _kept(values[0], classes, where[0])
    if label is None:
        return False
    rows.add(path=path, label=label, split=split, valence=f"{number_in(values[1], where[1], 'valence', -1, 1):g}",
             arousal=f"{number_in(values[2], where[2], 'arousal', -1, 1):g}", **(extra or {}))
    return True


_AFFECT_LISTS = "Manually_Annotated_file_lists"
"""The folder AffectNet's release keeps its two CSVs in (some copies have them at the top)."""
_AFFECT_BOX = ("face_x", "face_y", "face_width", "face_height")


def _affect_records(path: Path, header: list | None) -> tuple[list, list]:
    """(columns, rows as dicts) of one AffectNet CSV; a file without a header row (the released
    validation.csv) is read with ``header`` (training.csv's)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:  # a byte-order mark is not part of the first name
        records = list(csv.reader(handle))
    first = [c.strip() for c in records[0]] if records else []
    if "subDirectory_filePath" in first or header is None:
        return first, [dict(zip(first, r)) for r in records[1:]]
    return header, [dict(zip(header, r)) for r in records]


def _read_affect_lists(folder: Path, lists: Path, options: dict) -> Rows:
    classes = _classes(options)
    rows, left, header, headerless = Rows(), 0, None, []
    for name, split in zip(_AFFECT_CSV, ("train", "validation")):
        columns, records = _affect_records(lists / name, header)
        need = ("subDirectory_filePath", "expression", "valence", "arousal")
        missing = [c for c in need if c not in columns]
        if missing:
            raise FaceprobeError(f"{lists / name}: no column {missing[0]!r}; AffectNet's CSV has {', '.join(need)}")
        headed = header is None or columns is not header
        if not headed:
            headerless.append(name)
        header = header or columns
        for line, rec in enumerate(records, start=2 if headed else 1):
            where = f"{lists / name}: line {line}"
            left += not _add_face(rows, classes, f"Manually_Annotated_Images/{rec['subDirectory_filePath']}", split,
                                  (rec["expression"], rec["valence"], rec["arousal"]), (where,) * 3,
                                  {c: rec.get(c, "") for c in _AFFECT_BOX})
    rows.notes.append("the face boxes of the label files are kept as columns face_x, face_y, face_width, face_height; they do "
                      "not crop (the images are AffectNet's own face crops; give `crop` to find and align faces)")
    if headerless:
        rows.notes.append(f"{', '.join(headerless)} has no header row: read with training.csv's columns")
    if left:
        rows.notes.append(f"left out {left} faces coded none, uncertain, no face" + (" or contempt" if classes == 7 else ""))
    return rows


def _read_affect_csv(folder: Path, options: dict) -> Rows:
    return _read_affect_lists(folder, folder, options)


def _read_affect_file_lists(folder: Path, options: dict) -> Rows:
    return _read_affect_lists(folder, folder / _AFFECT_LISTS, options)


def _read_affect_npy(folder: Path, options: dict) -> Rows:
    import numpy as np

    classes = _classes(options)
    rows, left = Rows(), 0
    for part, split in (("train_set", "train"), ("val_set", "validation")):
        images = folder / part / "images"
        for f in sorted(rows.visible(images.glob("*.jpg")), key=lambda p: (len(p.stem), p.stem)):
            ann = folder / part / "annotations"
            values = []
            for kind in ("exp", "val", "aro"):
                path = ann / f"{f.stem}_{kind}.npy"
                if not path.is_file():
                    raise FaceprobeError(f"{path}: missing; AffectNet's npy release has N_exp.npy, N_val.npy, N_aro.npy per image")
                values.append(str(np.load(path, allow_pickle=False).item()))
            where = tuple(str(ann / f"{f.stem}_{kind}.npy") for kind in ("exp", "val", "aro"))
            left += not _add_face(rows, classes, f"{part}/images/{f.name}", split, values, where)
    if left:
        rows.notes.append(f"left out {left} faces outside the {classes} classes")
    return rows


def _classes(options: dict) -> int:
    classes = int(options.get("classes", 8))
    if classes not in (7, 8):
        raise FaceprobeError(f"classes={classes}: AffectNet is read with 7 classes (no contempt) or 8")
    return classes


AFFECTNET = register_corpus(Corpus(
    name="affectnet",
    title="AffectNet (Mollahosseini, Hasani and Mahoor 2017)",
    classes=_AFFECT,
    targets=("valence", "arousal"),
    layouts=(
        Layout("file_lists", f"{_AFFECT_LISTS}/training.csv and validation.csv with Manually_Annotated_Images/ (as released)",
               lambda d: all((d / _AFFECT_LISTS / n).is_file() for n in _AFFECT_CSV), _read_affect_file_lists,
               tuple(LabelFile(f"{_AFFECT_LISTS}/{n}") for n in _AFFECT_CSV)),
        Layout("csv", "training.csv and validation.csv with Manually_Annotated_Images/",
               lambda d: all((d / n).is_file() for n in _AFFECT_CSV), _read_affect_csv,
               tuple(LabelFile(n) for n in _AFFECT_CSV)),
        Layout("npy", "train_set/ and val_set/, each with images/N.jpg and annotations/N_exp.npy, N_val.npy, N_aro.npy",
               lambda d: (d / "train_set" / "annotations").is_dir() and (d / "val_set" / "annotations").is_dir(),
               _read_affect_npy),
    ),
    protocol=Protocol("fixed", "the validation set (500 per class) as test, as its test set was never released",
                      train="train", test="validation"),
    licence="non-commercial research (the AffectNet licence agreement)",
    access="an academic requests it from the authors with a signed agreement",
    references=(Reference(58.0, "accuracy", "validation, 8 classes", "Mollahosseini, Hasani and Mahoor 2017, IEEE TAC",
                          "AlexNet with a weighted loss", "trained"),
                Reference(0.394, "RMSE (valence)", "validation", "Mollahosseini, Hasani and Mahoor 2017, IEEE TAC",
                          "AlexNet", "trained")),
    options={"classes": Param(8, int, low=7, high=8, doc="8 (with contempt) or 7 classes")},
    notes=("valence and arousal (-1 to 1) are target columns",),
))


# ------------------------------------------------------------------ UNBC-McMaster

_UNBC_FRAME = re.compile(r"^(.+?)(\d+)\.png$")


def _read_unbc(folder: Path, options: dict) -> Rows:
    rows, unlabelled = Rows(), 0
    for f in rows.visible((folder / "Images").glob("*/*/*.png")):
        subject, seq = f.parent.parent.name, f.parent.name
        label_file = folder / "Frame_Labels" / "PSPI" / subject / seq / f"{f.stem}_facs.txt"
        if not label_file.is_file():
            unlabelled += 1
            continue
        pspi = whole_number(label_file.read_text(encoding="ascii", errors="replace").strip(), str(label_file), "PSPI", 0, 16)
        m = _UNBC_FRAME.match(f.name)
        rows.add(path=f.relative_to(folder).as_posix(), label="pain" if pspi > 0 else "no pain", subject=subject,
                 sequence=seq, frame=str(int(m.group(2))) if m else "", pspi=f"{pspi:g}")
    if unlabelled:
        rows.notes.append(f"left out {unlabelled} frames without a PSPI file")
    return rows


UNBC = register_corpus(Corpus(
    name="unbc",
    title="UNBC-McMaster Shoulder Pain Expression Archive (Lucey et al. 2011)",
    classes=("no pain", "pain"),
    targets=("pspi",),
    layouts=(Layout("archive", "Images/<subject>/<sequence>/*.png with Frame_Labels/PSPI/<subject>/<sequence>/*_facs.txt",
                    lambda d: (d / "Images").is_dir() and (d / "Frame_Labels" / "PSPI").is_dir(), _read_unbc),),
    protocol=Protocol("loso", "leave one subject out (25 subjects, 200 sequences); PSPI 0-16 as a regression target, "
                              "sequences as clips"),
    licence="non-commercial research (the UNBC-McMaster agreement)",
    access="request from the University of Pittsburgh / McMaster with a signed agreement",
    references=(Reference(0.59, "PCC", "leave one subject out, frame PSPI", "Kaltwang, Rudovic and Pantic 2012, ISVC",
                          "relevance vector regression on landmarks, DCT and LBP", "hand-crafted"),),
    notes=("label is pain when PSPI > 0 (a common binary task); pspi is the target column",),
))


# ------------------------------------------------------------------ DISFA

DISFA_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
"""The 12 action units DISFA codes (intensity 0-5)."""
_DISFA_FRAME = re.compile(r"(\d+)\.(?:png|jpe?g)$", re.I)


def _read_disfa(folder: Path, options: dict) -> Rows:
    subjects = sorted(p.name for p in (folder / "ActionUnit_Labels").iterdir() if p.is_dir())
    folds, rows, unlabelled = subject_folds(subjects, 3), Rows(), 0
    for subject in subjects:
        labels: dict[int, dict[int, str]] = {}
        for au in DISFA_AUS:
            path = folder / "ActionUnit_Labels" / subject / f"{subject}_au{au}.txt"
            if not path.is_file():
                raise FaceprobeError(f"{path}: missing; DISFA has one SNxxx_auN.txt per subject and action unit")
            for n, line in enumerate(path.read_text(encoding="ascii").split(), start=1):
                frame, _, value = line.partition(",")
                if not frame.isdigit() or value.strip() not in {str(i) for i in range(6)}:
                    raise FaceprobeError(f"{path}: line {n} reads {line!r}; expected 'frame,intensity' with intensity 0-5")
                labels.setdefault(int(frame), {})[au] = value.strip()
        frames = rows.visible((folder / "Images" / subject).glob("*.*")) if (folder / "Images" / subject).is_dir() else []
        if not labels:
            rows.notes.append(f"{subject}: its action-unit files hold no frames, so its {len(frames)} frames are left out")
        for f in frames:
            m = _DISFA_FRAME.search(f.name)
            got = labels.get(int(m.group(1))) if m else None
            if got is None or len(got) != len(DISFA_AUS):
                unlabelled += 1
                continue
            rows.add(path=f.relative_to(folder).as_posix(), label="", subject=subject, sequence=subject, frame=str(int(m.group(1))),
                     fold=folds[subject], **{f"au{au}": got[au] for au in DISFA_AUS})
    if unlabelled:
        rows.notes.append(f"left out {unlabelled} frames without an intensity for each of the {len(DISFA_AUS)} action units")
    if not rows.count():
        raise FaceprobeError(f"{folder / 'Images'}: no frames; extract each subject's left-camera video to Images/SNxxx/N.png "
                             "(frame numbers as in the label files)")
    return rows


DISFA = register_corpus(Corpus(
    name="disfa",
    title="Denver Intensity of Spontaneous Facial Action (DISFA; Mavadati et al. 2013)",
    classes=(),
    targets=tuple(f"au{a}" for a in DISFA_AUS),
    layouts=(Layout("frames", "ActionUnit_Labels/SNxxx/SNxxx_auN.txt with frames extracted to Images/SNxxx/N.png",
                    lambda d: (d / "ActionUnit_Labels").is_dir(), _read_disfa),),
    protocol=Protocol("folds", "3 subject folds (27 subjects; faceprobe deals subjects in ID order round-robin)", folds=3),
    licence="non-commercial research (the DISFA agreement)",
    access="request from the University of Denver with a signed agreement",
    references=(),
    notes=("the literature's 3-fold assignment differs between papers; this one is by subject ID",
           "frames come as videos: extract them first (frame numbers as in the label files)"),
))
