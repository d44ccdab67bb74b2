"""Posed and lab corpora named by file: RAF-DB basic, CK+, JAFFE and KDEF.

Subjects come from the publishers' own naming (CK+ ``S005``, JAFFE ``KA``, KDEF ``F01``); RAF-DB
has no subject IDs (web images), so its published train/test split is the protocol.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import FaceprobeError
from ..params import Param
from .base import Corpus, LabelFile, Layout, Protocol, Reference, Rows, register_corpus, whole_number

__all__ = ["RAFDB", "CKPLUS", "JAFFE", "KDEF", "subject_folds"]

_IMAGES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def subject_folds(subjects: list[str], k: int) -> dict[str, str]:
    """Subject -> fold number (``1``..``k``): subjects in sorted order dealt round-robin, so the
    assignment depends on the subject IDs alone (the same on every copy of the corpus)."""
    return {s: str(i % k + 1) for i, s in enumerate(sorted(set(subjects)))}


# ------------------------------------------------------------------ RAF-DB basic

_RAF = {"1": "surprise", "2": "fear", "3": "disgust", "4": "happy", "5": "sad", "6": "angry", "7": "neutral"}
_RAF_LIST = "EmoLabel/list_patition_label.txt"


def _read_rafdb(folder: Path, options: dict) -> Rows:
    aligned = (folder / "Image" / "aligned").is_dir()
    rows, codes = Rows(), {}
    for n, line in enumerate((folder / _RAF_LIST).read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in _RAF or not parts[0].startswith(("train_", "test_")):
            raise FaceprobeError(f"{folder / _RAF_LIST}: line {n} reads {line.strip()!r}; expected 'train_00001.jpg 5' "
                                 "(a file name and a code 1-7)")
        codes.setdefault(parts[0], []).append(parts[1])
    twice = {name: c for name, c in codes.items() if len(c) > 1}
    for name, listed in codes.items():
        if len(set(listed)) > 1:  # one face, two labels: neither is trusted
            continue
        path = f"Image/aligned/{Path(name).stem}_aligned.jpg" if aligned else f"Image/original/{name}"
        rows.add(path=path, label=_RAF[listed[0]], split=name.split("_")[0])
    if twice:
        clash = [n for n, c in twice.items() if len(set(c)) > 1]
        rows.notes.append(f"{len(twice)} images are listed more than once: those with one code each are read once; the "
                          f"{len(clash)} with different codes are left out" + (f" (e.g. {clash[0]}: {', '.join(twice[clash[0]])})"
                                                                                if clash else ""))
    rows.notes.append("aligned 100 x 100 faces (Image/aligned)" if aligned else "original images (Image/original): crop faces "
                      "with `crop`")
    _note_unlisted(folder / "Image" / ("aligned" if aligned else "original"), set(rows.columns.get("path", ())), folder, rows)
    return rows


def _note_unlisted(images: Path, listed: set, folder: Path, rows: Rows) -> None:
    """Count the images in the folder that no line of the label file names (left out: no label)."""
    if not images.is_dir():
        return
    present = [p for p in rows.visible(images.iterdir()) if p.is_file()]
    unlisted = [p for p in present if p.relative_to(folder).as_posix() not in listed]
    if unlisted:
        rows.notes.append(f"{len(unlisted)} images in {images.relative_to(folder).as_posix()} are named by no line of "
                          f"{_RAF_LIST} (e.g. {unlisted[0].name}): left out, having no label")


RAFDB = register_corpus(Corpus(
    name="rafdb",
    title="RAF-DB basic emotions (Li, Deng and Du 2017)",
    classes=tuple(_RAF[str(i)] for i in range(1, 8)),
    layouts=(Layout("basic", f"{_RAF_LIST} with Image/aligned/ or Image/original/",
                    lambda d: (d / _RAF_LIST).is_file(), _read_rafdb, (LabelFile(_RAF_LIST),)),),
    protocol=Protocol("fixed", "the published split: 12,271 training and 3,068 test images; no subject IDs",
                      train="train", test="test"),
    licence="research use only, no redistribution (the RAF-DB agreement)",
    access="an academic signs the agreement and requests it from the authors",
    references=(Reference(84.13, "accuracy", "test", "Li, Deng and Du 2017, CVPR", "DLP-CNN", "trained"),
                Reference(74.20, "mean per-class accuracy", "test", "Li, Deng and Du 2017, CVPR", "DLP-CNN", "trained")),
))


# ------------------------------------------------------------------ CK+

_CK = ("neutral", "angry", "contempt", "disgust", "fear", "happy", "sad", "surprise")
_CK_FRAME = re.compile(r"^(S\d+)_(\d+)_(\d+)\.png$", re.I)


def _ck_sequences(folder: Path, rows: Rows) -> list[tuple[str, str, str]]:
    """(subject, sequence, emotion code) of every labelled sequence."""
    out = []
    for f in rows.visible((folder / "Emotion").glob("*/*/*_emotion.txt")):
        code = whole_number(f.read_text(encoding="ascii", errors="replace").strip(), str(f), "a CK+ emotion code", 0, 7)
        out.append((f.parent.parent.name, f.parent.name, _CK[code]))
    return out


def _read_ck_tree(folder: Path, options: dict) -> Rows:
    peak, neutral = int(options.get("peak_frames", 3)), bool(options.get("neutral", False))
    rows = Rows()
    seqs = _ck_sequences(folder, rows)
    folds = subject_folds([s for s, _, _ in seqs], 10)
    for subject, seq, label in seqs:
        frames = [p.name for p in rows.visible((folder / "cohn-kanade-images" / subject / seq).glob("*.png"))]
        if not frames:
            raise FaceprobeError(f"{folder / 'cohn-kanade-images' / subject / seq}: no frames for a labelled sequence")
        chosen = [(f, label) for f in frames[-peak:]] + ([(frames[0], "neutral")] if neutral else [])
        for name, lab in chosen:
            rows.add(path=f"cohn-kanade-images/{subject}/{seq}/{name}", label=lab, subject=subject,
                     sequence=f"{subject}_{seq}", frame=str(int(_CK_FRAME.match(name).group(3)) if _CK_FRAME.match(name) else ""),
                     fold=folds[subject])
    rows.notes.append(f"{len(seqs)} labelled sequences: the last {peak} frames of each" + (", and its first frame as neutral"
                                                                                          if neutral else ""))
    return rows


def _read_ck48(folder: Path, options: dict) -> Rows:
    rows = Rows()
    names = {"anger": "angry", "contempt": "contempt", "disgust": "disgust", "fear": "fear", "happy": "happy",
             "sadness": "sad", "surprise": "surprise"}
    files = []
    for cls, label in names.items():
        for f in rows.visible((folder / cls).glob("*.png")) if (folder / cls).is_dir() else []:
            m = _CK_FRAME.match(f.name)
            if m is None:
                raise FaceprobeError(f"{f}: not named like S005_001_00000011.png (subject, sequence, frame)")
            files.append((f"{cls}/{f.name}", label, m.group(1), f"{m.group(1)}_{m.group(2)}", str(int(m.group(3)))))
    folds = subject_folds([f[2] for f in files], 10)
    for path, label, subject, seq, frame in files:
        rows.add(path=path, label=label, subject=subject, sequence=seq, frame=frame, fold=folds[subject])
    return rows


CKPLUS = register_corpus(Corpus(
    name="ckplus",
    title="Extended Cohn-Kanade (CK+; Lucey et al. 2010)",
    classes=_CK,
    layouts=(
        Layout("official", "cohn-kanade-images/S005/001/*.png with Emotion/S005/001/*_emotion.txt",
               lambda d: (d / "cohn-kanade-images").is_dir() and (d / "Emotion").is_dir(), _read_ck_tree),
        Layout("ck48", "class folders anger/, contempt/, disgust/, fear/, happy/, sadness/, surprise/ of S005_001_00000011.png",
               lambda d: sum((d / c).is_dir() for c in ("anger", "contempt", "disgust", "fear", "happy", "sadness",
                                                        "surprise")) >= 5, _read_ck48),
    ),
    protocol=Protocol("folds", "10 subject-grouped folds (subjects in ID order dealt round-robin; each person in one fold)",
                      folds=10),
    licence="research use (the CK+ agreement); images of some subjects may not be published",
    access="request from the University of Pittsburgh (Affect Analysis Group) with a signed agreement",
    references=(Reference(83.3, "mean accuracy over 7 emotions", "leave one subject out", "Lucey et al. 2010, CVPR workshops",
                          "AAM shape and appearance + SVM", "hand-crafted"),),
    options={"peak_frames": Param(3, int, low=1, doc="last frames of each labelled sequence taken as its expression"),
             "neutral": Param(False, bool, doc="also take each labelled sequence's first frame, labelled neutral")},
    notes=("the 10-fold assignment is faceprobe's (by subject ID), as papers rarely publish theirs; random splits leak "
           "the same person's frames into test",),
))


# ------------------------------------------------------------------ JAFFE

_JAFFE = {"AN": "angry", "DI": "disgust", "FE": "fear", "HA": "happy", "NE": "neutral", "SA": "sad", "SU": "surprise"}
_JAFFE_NAME = re.compile(r"^([A-Z]{2})\.([A-Z]{2})(\d+)\.(\d+)\.tiff?$", re.I)


def _read_jaffe(folder: Path, options: dict) -> Rows:
    rows, odd = Rows(), []
    for f in rows.visible(p for p in folder.iterdir() if p.suffix.lower() in (".tiff", ".tif")):
        m = _JAFFE_NAME.match(f.name)
        if m is None or m.group(2).upper() not in _JAFFE:
            odd.append(f.name)
            continue
        rows.add(path=f.name, label=_JAFFE[m.group(2).upper()], subject=m.group(1).upper(), frame=m.group(4))
    if odd:
        rows.notes.append(f"left out {len(odd)} TIFFs not named like KA.AN1.39.tiff (first: {odd[0]})")
    return rows


JAFFE = register_corpus(Corpus(
    name="jaffe",
    title="Japanese Female Facial Expression (JAFFE; Lyons et al. 1998)",
    classes=tuple(sorted(_JAFFE.values())),
    layouts=(Layout("tiff", "flat TIFFs named like KA.AN1.39.tiff (poser, expression and take, image number)",
                    lambda d: any(_JAFFE_NAME.match(p.name) for p in d.glob("*.tif*")), _read_jaffe),),
    protocol=Protocol("loso", "leave one poser out (10 posers, 213 images)"),
    licence="non-commercial scientific research; images in publications only as the terms allow",
    access="request from the authors (Zenodo record with an agreement)",
    references=(Reference(75.0, "accuracy", "images of posers left out of training", "Lyons, Budynek and Akamatsu 1999, "
                          "IEEE TPAMI 21(12)", "Gabor wavelets + LDA", "hand-crafted"),),
))


# ------------------------------------------------------------------ KDEF

_KDEF_EXPR = {"AF": "fear", "AN": "angry", "DI": "disgust", "HA": "happy", "NE": "neutral", "SA": "sad", "SU": "surprise"}
_KDEF_ANGLE = {"FL": "full left", "HL": "half left", "S": "straight", "HR": "half right", "FR": "full right"}
_KDEF_NAME = re.compile(r"^([AB])([FM])(\d\d)([A-Z]{2})(FL|HL|S|HR|FR)\.jpe?g$", re.I)


def _read_kdef(folder: Path, options: dict) -> Rows:
    angles = str(options.get("angles", "S")).upper().split(",")
    bad = [a for a in angles if a not in _KDEF_ANGLE and a != "ALL"]
    if bad:
        raise FaceprobeError(f"angles={bad[0]!r}: KDEF's angles are {', '.join(_KDEF_ANGLE)} (or all)")
    rows, skipped = Rows(), 0
    for f in rows.visible(p for p in folder.rglob("*") if p.is_file()):
        m = _KDEF_NAME.match(f.name)
        if m is None or m.group(4).upper() not in _KDEF_EXPR:
            continue
        angle = m.group(5).upper()
        if "ALL" not in angles and angle not in angles:
            skipped += 1
            continue
        rows.add(path=f.relative_to(folder).as_posix(), label=_KDEF_EXPR[m.group(4).upper()],
                 subject=f"{m.group(2).upper()}{m.group(3)}", sequence=m.group(1).upper(), angle=_KDEF_ANGLE[angle])
    if skipped:
        rows.notes.append(f"left out {skipped} images at other angles (angles={','.join(angles)}; all takes every angle)")
    return rows


KDEF = register_corpus(Corpus(
    name="kdef",
    title="Karolinska Directed Emotional Faces (KDEF; Lundqvist, Flykt and Öhman 1998)",
    classes=tuple(sorted(_KDEF_EXPR.values())),
    layouts=(Layout("kdef", "folders such as AF01/ of images named like AF01ANS.JPG (session, sex, person, expression, angle)",
                    lambda d: any(_KDEF_NAME.match(p.name) for p in d.glob("*/*.[jJ][pP]*")), _read_kdef),),
    protocol=Protocol("loso", "leave one person out (70 people, two sessions each; frontal images by default)"),
    licence="non-commercial research; the KDEF terms restrict publishing images",
    access="download from kdef.se after accepting its terms",
    references=(Reference(72.0, "mean hit rate (about)", "490 straight-angle pictures rated by people", "Goeleven et al. "
                          "2008, Cognition and Emotion 22(6)", "human raters", "human"),),
    options={"angles": Param("S", str, pattern=r"(?i)all|(S|HL|HR|FL|FR)(,(S|HL|HR|FL|FR))*", help="S, HL, HR, FL or FR, "
                             "comma-separated, or all", doc="camera angles to take: S (straight), HL, HR, FL, FR, comma-separated, or all")},
    notes=("sequence is the session (A or B); angle is a column",),
))
