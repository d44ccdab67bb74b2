"""Videos in a folder or manifest (``.mp4``, ``.avi``, ``.mov``, ``.mkv``), read with OpenCV: each
chosen frame is one image row (``--frames all|every:N|fps:F|count:K``).

A frame's id is ``VIDEO#frame=I``; its content hash is the sha256 of the video's hash and the
frame index, so an unchanged video is never decoded again. Its label is the video's (class
folder or manifest row); its subject and its ``sequence`` column are the video's path unless
the manifest gives them; its ``frame`` column is the index. A video OpenCV cannot open is one
bad row; a frame it cannot decode is a bad row of its own.

Frames are decoded in order from the start of the video (never by seeking, whose accuracy
depends on the container), so the pixels of a frame do not depend on which frames, or which
worker, came before: every run, with any worker count, gets the same pixels.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import hashlib
import os
import re
from dataclasses import dataclass

import numpy as np

from ...errors import BadImage, OptionError
from .base import ImageRef

__all__ = ["VIDEO_SUFFIXES", "FrameSpec", "parse_frames", "VideoFrameRef", "expand_videos", "is_video"]

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv"})

_FRAMES = re.compile(r"^(all)$|^(every|fps|count):([0-9]+(?:\.[0-9]+)?)$")


@dataclass(frozen=True)
class FrameSpec:
    """Which frames of each video: ``all``, ``every`` N-th, ``fps`` F per second, or ``count`` K
    evenly spaced (first and last included)."""

    mode: str = "all"
    value: float = 0.0

    def __str__(self) -> str:
        return "all" if self.mode == "all" else f"{self.mode}:{self.value:g}"

    def indices(self, n_frames: int, fps: float) -> list[int]:
        """The chosen frame indices of a video of ``n_frames`` frames at ``fps``."""
        if n_frames <= 0:
            return []
        if self.mode == "all":
            return list(range(n_frames))
        if self.mode == "every":
            return list(range(0, n_frames, int(self.value)))
        if self.mode == "count":
            return sorted({int(round(v)) for v in np.linspace(0, n_frames - 1, int(min(self.value, n_frames)))})
        step = (fps / self.value) if fps > 0 else 1.0  # fps: a frame every 1/F seconds
        return sorted({int(round(k * step)) for k in range(int((n_frames - 1) / step) + 1)})


def parse_frames(text: str | None) -> FrameSpec:
    """``all``, ``every:N``, ``fps:F`` or ``count:K`` -> FrameSpec (None: all)."""
    if text is None:
        return FrameSpec()
    m = _FRAMES.match(text.strip())
    if not m:
        raise OptionError("frames", text, "expected all, every:N, fps:F or count:K (e.g. every:5, fps:2, count:16)")
    if m.group(1):
        return FrameSpec()
    mode, value = m.group(2), float(m.group(3))
    if value <= 0 or (mode in ("every", "count") and value != int(value)):
        raise OptionError("frames", text, f"{mode} takes a {'number' if mode == 'fps' else 'whole number'} > 0")
    return FrameSpec(mode, value)


def is_video(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in VIDEO_SUFFIXES


@functools.lru_cache(maxsize=64)
def _video_sha256(path: str, size: int, mtime_ns: int) -> str:
    from ...hashes import file_sha256

    return file_sha256(path)


_DAMAGE = re.compile(r"overread|ended prematurely|corrupt|error|invalid|missing|truncat|concealing", re.IGNORECASE)
"""FFmpeg's words for a frame it could read only in part."""


@contextlib.contextmanager
def _decoder_messages():
    """What FFmpeg (inside OpenCV) writes to this process's standard error during the block:
    the only place it says that a frame was read in part. Yields a list that holds the text
    afterwards."""
    said: list[str] = [""]
    try:
        saved = os.dup(2)
    except OSError:  # no standard error to borrow: nothing to read
        yield said
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            said[0] = sink.read().decode(errors="replace")


class _Decoder:
    """An open video, decoded forward one frame at a time (reopened to go back)."""

    def __init__(self, path: str):
        self.path, self.cap, self.next = path, None, 0

    def frame(self, index: int) -> np.ndarray:
        import cv2

        if self.cap is None or index < self.next:
            self.cap = cv2.VideoCapture(self.path)
            self.next = 0
            if not self.cap.isOpened():
                raise BadImage("cannot open the video")
        while self.next < index:
            if not self.cap.grab():
                raise BadImage(f"frame {index}: the video ends at frame {self.next}")
            self.next += 1
        with _decoder_messages() as said:
            ok, bgr = self.cap.read()
        self.next += 1
        if not ok or bgr is None:
            raise BadImage(f"frame {index}: cannot be decoded (the video ends earlier than its header says)")
        damage = _DAMAGE.search(said[0])
        if damage:  # FFmpeg conceals what it could not read: the frame is only partly the video's
            line = next(ln for ln in said[0].splitlines() if _DAMAGE.search(ln)).split("] ", 1)[-1].strip()
            raise BadImage(f"frame {index}: the decoder reported damage ({line}); the video may be truncated or corrupt")
        return bgr


@functools.lru_cache(maxsize=4)
def _decoder(path: str, mtime_ns: int) -> _Decoder:
    """One decoder per video version and process (a worker reads its frames in order); a video
    rewritten since it was listed gets a new decoder, not the old file's open handle."""
    return _Decoder(path)


@dataclass(frozen=True)
class VideoFrameRef(ImageRef):
    """One frame of a video (``video``: its file; ``index``: the frame; ``error``: why the video
    cannot be listed)."""

    video: str = ""
    index: int = 0
    error: str = ""
    mtime_ns: int = -1
    fork_safe = False  # OpenCV's decoder threads: workers start from a fork server

    @property
    def file(self) -> str | None:
        return None  # no JPEG to decode on the device

    def fingerprint(self, known: dict | None = None):
        from .hashing import FileHash

        if self.error:
            return FileHash("", -1, -1, self.error)
        try:
            st = os.stat(self.video)
        except OSError as exc:
            return FileHash("", -1, -1, f"cannot read: {exc.strerror or exc}")
        prev = (known or {}).get(self.id)
        if prev and prev[0] and prev[1] == st.st_size and prev[2] == st.st_mtime_ns:
            return FileHash(prev[0], st.st_size, st.st_mtime_ns)
        video = _video_sha256(self.video, st.st_size, st.st_mtime_ns)
        return FileHash(hashlib.sha256(f"{video}#frame={self.index}".encode()).hexdigest(), st.st_size, st.st_mtime_ns)

    def open(self, draft_size=None):
        from PIL import Image

        if self.error:
            raise BadImage(self.error)
        import cv2

        bgr = _decoder(self.video, self.mtime_ns).frame(self.index)
        return Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def _probe(path: str) -> tuple[int, float, str]:
    """(frames, fps, error) from the video's header."""
    import cv2

    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            return 0, 0.0, "cannot open the video (not a video, or a codec OpenCV lacks)"
        n, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        return (n, fps, "") if n > 0 else (0, fps, "the video has no frames")
    finally:
        cap.release()


def expand_videos(rows: list[ImageRef], frames: FrameSpec) -> tuple[list[ImageRef], int]:
    """Every video reference replaced by its chosen frames; returns the rows and the number of videos."""
    out, videos = [], 0
    for ref in rows:
        if ref.file is None or not is_video(ref.id):
            out.append(ref)
            continue
        videos += 1
        extra = {**ref.extra}
        extra["sequence"] = extra.get("sequence") or ref.id
        subject = ref.subject or ref.id
        n, fps, error = _probe(ref.id) if os.path.isfile(ref.id) else (0, 0.0, "cannot read: no such file")
        if error:
            out.append(VideoFrameRef(f"{ref.id}#frame=0", ref.label, subject, {**extra, "frame": "0"}, video=ref.id, error=error))
            continue
        mtime = os.stat(ref.id).st_mtime_ns
        for i in frames.indices(n, fps):
            out.append(VideoFrameRef(f"{ref.id}#frame={i}", ref.label, subject, {**extra, "frame": str(i)}, video=ref.id, index=i,
                                     mtime_ns=mtime))
    return out, videos

