"""docs/corpora.md, written from the corpus registry: ``python -m faceprobe.cli.corpora_doc > docs/corpora.md``."""

from __future__ import annotations

from ..corpora import CORPORA
from .corpus import protocol_flags

__all__ = ["render"]

_HEAD = """# Corpora

faceprobe knows the field's public corpora by name. It never downloads one: each has its own
terms, listed below. Point it at your copy, laid out as the publishers ship it, and it reads
labels, subjects, sequences and the official split or folds from the files themselves:

```bash
faceprobe corpus list                     # the corpora, their protocols and access terms
faceprobe corpus show fer2013             # layouts, label codes, protocol, hashes, references
```

For each corpus, the three commands below are the whole study: `corpus manifest` shows what
will be read (rows by role, the label files' hashes against the published ones, what is left out
and why); `featurize --corpus` reads the folder the same way and records the corpus, its layout
and its label files' hashes in the cache; `classify` then runs the official protocol by default
(`--protocol auto`; `--protocol official` insists on it, `--protocol none` never applies it, and
`--cv`, `--holdout`, `--split-col`, `--group` or cross-corpus filters choose another) and prints
the published figures beside its table, in JSON (`protocol`), in Markdown and LaTeX tables and in
reports. A published figure is marked by how its network learnt: *fine-tuned* or *trained*
networks are not what frozen features should be held against; *frozen*, *hand-crafted* and
*human* figures say what they are. The figures are transcribed from the papers named; check the
source before citing one.

A label file whose hash differs from the published one is said, not refused (an edited or
re-released file gives figures that may not compare). Where no hash is published, faceprobe
records yours, so two caches can be checked against each other.

Rules every corpus is read by. Labels: a code, a vote count or an intensity is a whole number
in its published range (`3.0000000e+00` is 3; `3.5`, `17` for PSPI or `11` for an AffectNet
expression are refused, one line naming the file and line); a continuous label (valence,
arousal) is a number in its published range (-1 to 1); an image a label list names twice is
read once, and left out, with a note, when the two entries give different labels; images left out
(codes the corpus excludes, frames without labels, unlabelled sequences) are counted in the
manifest's notes. Files: hidden files (names starting with `.`, such as the `._` copies
macOS writes beside every file on other disks, and `.DS_Store`) are left out and counted in the
manifest's notes; a UTF-8 byte-order mark at the start of a label file is not part of its first
column's name; the column order of a manifest is fixed (the reader's order, whatever Python's hash
seed); a corpus option is read by its declaration (`--option peak_frames=2.5` is refused: it takes
an integer >= 1) and named by the flag that gave it.

This page is generated from the registry (`python -m faceprobe.cli.corpora_doc > docs/corpora.md`).
"""


def _corpus(c) -> list[str]:
    out = [f"## {c.name}: {c.title}", ""]
    if c.classes:
        out.append(f"- classes: {', '.join(c.classes)}")
    if c.targets:
        out.append(f"- targets: {', '.join(c.targets)}")
    for lay in c.layouts:
        files = "; ".join(f"`{f.path}` (md5 {f.md5 or 'not published'})" for f in lay.label_files)
        out.append(f"- layout `{lay.name}`: {lay.expects}" + (f"; label files: {files}" if files else ""))
    flags = protocol_flags(c.protocol)
    out += [f"- protocol ({c.protocol.kind}): {c.protocol.description}; the same as `{flags}`",
            f"- licence: {c.licence}", f"- access: {c.access}"]
    out += [f"- option `{k}` (default `{p.default}`): {p.doc}" for k, p in c.options.items()]
    out += [f"- note: {n}" for n in c.notes]
    if c.references:
        out += ["", "| figure | metric | protocol | network | training | source |", "|---|---|---|---|---|---|"]
        out += [f"| {r.figure:g} | {r.metric} | {r.protocol} | {r.network} | {r.training} | {r.source} |" for r in c.references]
    else:
        out += ["", "No published figure is recorded yet for this corpus."]
    out += ["", "```bash", f"faceprobe corpus manifest {c.name} ~/data/{c.name} -o {c.name}-manifest.csv",
            f"faceprobe featurize ~/data/{c.name} --corpus {c.name} -b efficientnet_lite0 -c {c.name}.h5",
            *([f"faceprobe classify -c {c.name}.h5 --head logreg,svm"] if c.classes else []),
            *[f"faceprobe classify -c {c.name}.h5 --target {t} --head ridge,svr" for t in c.targets[:1]],
            "```", ""]
    return out


def render() -> str:
    """The page, from :data:`~faceprobe.corpora.CORPORA`."""
    lines = [_HEAD]
    for _, c in CORPORA.items():
        lines += _corpus(c)
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
