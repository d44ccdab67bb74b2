"""FER-2013 (three distributions) and FER+ (crowd votes over FER-2013's images).

FER-2013 ships as one CSV of pixel strings (``fer2013.csv``: ``emotion,pixels,Usage``), as the
ICML workshop's copy of it (``icml_face_data.csv``, its column names with a leading space), and
as an image-folder copy (``train/<class>/Training_N.jpg``, ``test/<class>/PublicTest_N.jpg`` and
``PrivateTest_N.jpg``). Usage is the split: Training, PublicTest (validation), PrivateTest (test).
Rows of a pixel CSV are ``FILE#LINE`` (the line of the CSV, header = 1), as the ``fer2013``
source reader names them, so featurize reads the same faces from the CSV itself.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

from ..errors import FaceprobeError
from .base import Corpus, LabelFile, Layout, Protocol, Reference, Rows, register_corpus, whole_number

__all__ = ["FER2013", "FERPLUS", "FER_CLASSES"]

FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""FER-2013's emotion codes 0-6, in order."""

_USAGE = ("Training", "PublicTest", "PrivateTest")
_FOLDER_NAME = re.compile(r"^(Training|PublicTest|PrivateTest)_\d+\.(?:jpe?g|png)$", re.I)
_FOLDER_CLASSES = {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "sad": "sad",
                   "surprise": "surprise", "neutral": "neutral"}


def _csv_rows(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:  # a byte-order mark is not part of the first name
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise FaceprobeError(f"{path}: empty file; expected FER-2013's header emotion,pixels,Usage") from None
        return header, [dict(zip(header, rec)) for rec in reader]


def _pixel_csv(name: str):
    def read(folder: Path, options: dict) -> Rows:
        path = folder / name
        header, records = _csv_rows(path)
        missing = [c for c in ("emotion", "pixels", "Usage") if c not in header]
        if missing:
            raise FaceprobeError(f"{path}: no column {missing[0]!r}; FER-2013's CSV has emotion, pixels and Usage")
        rows = Rows()
        for line, rec in enumerate(records, start=2):
            code, usage = rec.get("emotion", "").strip(), rec.get("Usage", "").strip()
            if code not in {str(i) for i in range(7)} or usage not in _USAGE:
                raise FaceprobeError(f"{path}: line {line} has emotion {code!r} and Usage {usage!r}; expected 0-6 and one of "
                                     f"{', '.join(_USAGE)}")
            rows.add(path=f"{name}#{line}", label=FER_CLASSES[int(code)], split=usage)
        rows.notes.append(f"rows are lines of {name}, named FILE#LINE as featurize names them (the CSV is featurized in place)")
        return rows
    return read


def _read_folder(folder: Path, options: dict) -> Rows:
    rows, odd = Rows(), []
    for part in ("train", "test"):
        for cls_dir in sorted(p for p in (folder / part).iterdir() if p.is_dir()):
            label = _FOLDER_CLASSES.get(cls_dir.name.lower())
            if label is None:
                raise FaceprobeError(f"{cls_dir}: not a FER-2013 class folder; expected one of {', '.join(sorted(_FOLDER_CLASSES))}")
            for f in rows.visible(cls_dir.iterdir()):
                m = _FOLDER_NAME.match(f.name)
                if not m:
                    odd.append(f"{part}/{cls_dir.name}/{f.name}")
                    continue
                rows.add(path=f"{part}/{cls_dir.name}/{f.name}", label=label, split=m.group(1))
    if odd:
        rows.notes.append(f"left out {len(odd)} files not named Training_N, PublicTest_N or PrivateTest_N (first: {odd[0]})")
    return rows


def _is_folder_copy(folder: Path) -> bool:
    return (folder / "train").is_dir() and (folder / "test").is_dir()


FER2013 = register_corpus(Corpus(
    name="fer2013",
    title="FER-2013 (Challenges in Representation Learning, ICML 2013 workshop)",
    classes=FER_CLASSES,
    layouts=(
        Layout("csv", "fer2013.csv (emotion,pixels,Usage)", lambda d: (d / "fer2013.csv").is_file(), _pixel_csv("fer2013.csv"),
               (LabelFile("fer2013.csv", md5="f8428a1edbd21e88f42c73edd2a14f95"),)),
        Layout("icml", "icml_face_data.csv (emotion, Usage, pixels)", lambda d: (d / "icml_face_data.csv").is_file(),
               _pixel_csv("icml_face_data.csv"), (LabelFile("icml_face_data.csv", md5="b114b9e04e6949e5fe8b6a98b3892b1d"),)),
        Layout("folders", "train/<class>/Training_N.jpg and test/<class>/PublicTest_N.jpg, PrivateTest_N.jpg",
               _is_folder_copy, _read_folder),
    ),
    protocol=Protocol("fixed", "the published split: Training 28,709 faces, PublicTest 3,589 (validation), PrivateTest "
                               "3,589 (test); no subject IDs, so people may recur across parts", train="Training",
                      val="PublicTest", test="PrivateTest"),
    licence="Kaggle competition data (research use under the competition's rules)",
    access="download from Kaggle with an account that accepts the competition's rules",
    references=(
        Reference(71.2, "accuracy", "PrivateTest", "Tang 2013, 'Deep learning using linear support vector machines' "
                  "(the challenge's winning entry; Goodfellow et al. 2013)", "CNN with an SVM loss", "trained"),
        Reference(73.28, "accuracy", "PrivateTest", "Khaireddin and Chen 2021, arXiv:2105.03588", "VGGNet", "trained"),
    ),
    notes=("published MD5s are torchvision's (torchvision.datasets.FER2013)",
           "no subject IDs: the fixed split is by image, as published"),
))


def _read_ferplus(folder: Path, options: dict) -> Rows:
    base = _pixel_csv("fer2013.csv")(folder, options)
    path = folder / "fer2013new.csv"
    header, votes = _csv_rows(path)
    names = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
    missing = [n for n in ("Usage", "Image name", *names) if n not in header]
    if missing:
        raise FaceprobeError(f"{path}: no column {missing[0]!r}; FER+'s fer2013new.csv has Usage, Image name and ten vote columns")
    if len(votes) != base.count():
        raise FaceprobeError(f"{path}: {len(votes)} rows for fer2013.csv's {base.count()}; FER+ has one row per FER-2013 face")
    rows, dropped = Rows(), Counter()
    for i, rec in enumerate(votes):
        counts = {n: whole_number(rec[n] or "0", f"{path}: line {i + 2}", f"a {n} vote count", 0, 1000) for n in names}
        top = max(counts.values())
        winners = [n for n in names if counts[n] == top]
        if not rec["Image name"].strip() or top == 0:
            dropped["no image name or no votes"] += 1
        elif len(winners) > 1:
            dropped["tied votes"] += 1
        elif winners[0] in ("unknown", "NF"):
            dropped["unknown" if winners[0] == "unknown" else "not a face"] += 1
        else:
            rows.add(path=base.columns["path"][i], label=_FERPLUS_LABEL[winners[0]], split=base.columns["split"][i],
                     **{f"votes_{n.lower()}": str(counts[n]) for n in names})
    if dropped:
        rows.notes.append("left out faces whose majority is not one emotion: " + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())))
    return rows


_FERPLUS_LABEL = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad", "anger": "angry",
                  "disgust": "disgust", "fear": "fear", "contempt": "contempt"}

FERPLUS = register_corpus(Corpus(
    name="ferplus",
    title="FER+ (ten crowd votes per FER-2013 face; Barsoum et al. 2016)",
    classes=("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt"),
    layouts=(Layout("csv", "fer2013.csv with FER+'s fer2013new.csv beside it",
                    lambda d: (d / "fer2013.csv").is_file() and (d / "fer2013new.csv").is_file(), _read_ferplus,
                    (LabelFile("fer2013.csv", md5="f8428a1edbd21e88f42c73edd2a14f95"), LabelFile("fer2013new.csv"))),),
    protocol=Protocol("fixed", "FER-2013's split: Training, PublicTest (validation), PrivateTest (test)", train="Training",
                      val="PublicTest", test="PrivateTest"),
    licence="labels: MIT (Microsoft FERPlus repository); images: FER-2013's terms",
    access="fer2013new.csv from github.com/microsoft/FERPlus; fer2013.csv from Kaggle",
    references=(Reference(83.85, "accuracy", "PrivateTest, majority-vote labels", "Barsoum et al. 2016, ICMI",
                          "VGG13", "trained"),),
    notes=("label = the majority of the ten votes; faces whose majority is unknown or not-a-face, or tied, are left out "
           "(said in the manifest's notes)", "the vote counts are kept as columns votes_<emotion>"),
))
