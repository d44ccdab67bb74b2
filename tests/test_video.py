"""Videos as sources: frames as rows (--frames), clip-level figures (--aggregate) (issue 17)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

import faceprobe
from faceprobe.errors import OptionError
from faceprobe.featurize.sources.video import parse_frames
from faceprobe.featurize.sources.read import read_source

from .conftest import video_frames, write_video
from faceprobe.classify.records import cell

cv2 = pytest.importorskip("cv2")


@pytest.mark.parametrize("text, expected", [
    ("all", list(range(12))), ("every:3", [0, 3, 6, 9]), ("count:4", [0, 4, 7, 11]), ("fps:5", [0, 2, 4, 6, 8, 10]),
])
def test_frame_selection(text, expected):
    assert parse_frames(text).indices(12, 10.0) == expected


@pytest.mark.parametrize("text", ["some", "every:0", "count:2.5", "fps:-1"])
def test_bad_frames_option_is_refused(text):
    with pytest.raises(OptionError, match=r"frames="):
        parse_frames(text)


def test_video_frames_become_rows_with_label_subject_sequence_and_frame(video_folder):
    table = read_source(video_folder, frames="every:4")
    assert table.videos == 5
    frames = [e for e in table.entries if "#frame=" in e.id and "broken" not in e.id]
    assert len(frames) == 4 * 3
    first = frames[0]
    video = first.id.split("#")[0]
    assert first.label == "calm" and first.subject == video and first.extra == {"sequence": video, "frame": "0"}
    broken = next(e for e in table.entries if "broken" in e.id)
    assert "cannot open the video" in broken.fingerprint().error


def test_decoded_frames_are_exact_in_any_order(video_folder):
    path = sorted(video_folder.rglob("*.mkv"))[0]
    want = video_frames(12, 0)
    refs = {int(e.id.rsplit("=", 1)[1]): e for e in read_source(video_folder).entries if e.id.startswith(str(path))}
    for i in (7, 2, 11, 0, 3):  # backwards and forwards
        assert np.array_equal(np.asarray(refs[i].open()), want[i])
    assert refs[3].fingerprint().sha256 != refs[4].fingerprint().sha256


def test_frames_option_without_videos_is_refused(image_folder):
    with pytest.raises(OptionError, match=r"frames=.every:2.: the source lists no video"):
        read_source(image_folder, frames="every:2")


def test_video_featurize_is_identical_across_worker_counts_and_aggregates_by_clip(video_folder, tmp_path, invoke):
    from faceprobe.cache.store import read_features
    from faceprobe.cache.tools import list_keys

    got = []
    for workers in (0, 2):
        cache = tmp_path / f"w{workers}.h5"
        r = invoke("featurize", video_folder, "-b", "resnet18", "-w", "none", "-c", cache, "--frames", "every:2", "--workers", workers,
                   "--compile", "none", "--precision", "fp32", "-q")
        assert r.exit_code == 0, r.output
        (key,) = list_keys(str(cache))
        fm = read_features(str(cache), key["key"])
        got.append(fm.vectors[np.argsort(fm.sha256)])
    assert got[0].shape[0] == 24 and np.array_equal(got[0], got[1])
    res = faceprobe.evaluate(str(tmp_path / "w0.h5"), head="logreg", cv=2, aggregate="sequence")
    clips = cell(res.raw, "logreg")["clips"]
    assert clips["clips"] == 4 and clips["column"] == "sequence" and clips["mixed_label_clips"] == 0
    assert "per sequence (4 test clips" in res.format()
    assert any("splits grouped by subject (4 subjects)" in n for n in res.raw["notes"])


def test_aggregate_on_a_missing_column_is_refused(tiny_cache):
    with pytest.raises(OptionError, match=r"aggregate=.sequence.: no such column"):
        faceprobe.evaluate(str(tiny_cache), head="logreg", cv=3, aggregate="sequence")


def test_real_faces_video_frames_give_the_vectors_of_the_same_frames_as_png(real_dir, tmp_path, featurize_cli):
    from faceprobe.cache.store import read_features, read_images
    from faceprobe.cache.tools import list_keys

    rows = list(csv.DictReader(open(real_dir / "demo.csv")))[:16]
    frames = [np.asarray(Image.open(real_dir / "images" / r["path"]).convert("RGB").resize((160, 160), Image.BILINEAR)) for r in rows]
    (tmp_path / "v" / "x").mkdir(parents=True)
    write_video(tmp_path / "v" / "x" / "clip.mkv", frames)
    (tmp_path / "p" / "x").mkdir(parents=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / "p" / "x" / f"{i:02d}.png")
    vectors = []
    for src, index in ((tmp_path / "v", lambda p: int(p.rsplit("=", 1)[1])), (tmp_path / "p", lambda p: int(p[-6:-4]))):
        cache = tmp_path / f"{src.name}.h5"
        assert featurize_cli(src, cache, "--runtime", "torch", "--compile", "none").exit_code == 0  # one runtime for both
        (key,) = list_keys(str(cache))
        fm, images = read_features(str(cache), key["key"]), read_images(str(cache))
        row = {s: i for i, s in enumerate(fm.sha256)}
        by_index = {index(str(p)): fm.vectors[row[s]] for p, s in zip(images["path"], images["sha256"])}
        vectors.append(np.stack([by_index[i] for i in range(16)]))
    np.testing.assert_array_equal(vectors[0], vectors[1])


def test_python_api_featurizes_videos_and_fer_csv_like_the_command(video_folder, tmp_path):
    summary = faceprobe.compute_features(video_folder, "resnet18", tmp_path / "api.h5", weights="none", frames="count:3",
                                         precision="fp32", compile="none", workers=0, progress=False)
    assert summary["computed"] == 12 and len(summary["bad"]) == 1 and any("5 videos: 12 frames (count:3), one row each; 1 videos cannot be read" in n for n in summary["notes"])
    obs = faceprobe.load_features(str(tmp_path / "api.h5")).obs
    assert set(obs.frame) == {"0", "6", "11"} and obs.sequence.nunique() == 4


def test_clip_figures_reach_the_markdown_report(video_folder, tmp_path):
    faceprobe.compute_features(video_folder, "resnet18", tmp_path / "c.h5", weights="none", frames="count:3", precision="fp32",
                               compile="none", workers=0, progress=False)
    res = faceprobe.evaluate(str(tmp_path / "c.h5"), head="logreg", cv=2, aggregate="sequence")
    res.report(str(tmp_path / "r.md"))
    assert "per sequence (4 test clips; each frame's scores averaged over its clip):" in (tmp_path / "r.md").read_text()


def test_a_rewritten_video_is_decoded_afresh_in_the_same_process(tmp_path):
    import os

    (tmp_path / "x").mkdir()
    path = tmp_path / "x" / "v.mkv"
    first, second = video_frames(4, 1), video_frames(4, 2)
    write_video(path, first)
    ref = next(e for e in read_source(tmp_path).entries if e.id.endswith("#frame=2"))
    assert np.array_equal(np.asarray(ref.open()), first[2])
    write_video(path, second)
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    ref = next(e for e in read_source(tmp_path).entries if e.id.endswith("#frame=3"))
    assert np.array_equal(np.asarray(ref.open()), second[3])


def test_frames_with_two_decimal_points_is_one_line():
    from faceprobe.featurize.sources.video import parse_frames

    with pytest.raises(OptionError, match=r"frames='fps:1.2.3': expected all, every:N, fps:F or count:K"):
        parse_frames("fps:1.2.3")
    assert parse_frames("fps:1.5").value == 1.5


def test_a_video_frame_the_decoder_read_only_in_part_is_recorded_as_bad(tmp_path):
    pytest.importorskip("cv2")
    from faceprobe.featurize.pipeline import featurize

    from .conftest import TINY, video_frames, write_video

    (tmp_path / "clips" / "calm").mkdir(parents=True)
    whole = write_video(tmp_path / "whole.avi", video_frames(12, 3), fourcc="MJPG")
    data = whole.read_bytes()
    (tmp_path / "clips" / "calm" / "cut.avi").write_bytes(data[: int(len(data) * 0.95)])  # the last frame is cut short
    s = featurize(str(tmp_path / "clips"), backbones=[TINY], weights=["none"], cache=str(tmp_path / "c.h5"),
                                  workers=0, progress=False, precision="fp32", compile="none", labelled=False)
    reasons = {p.rsplit("#", 1)[1]: why for p, why in s.bad}
    assert reasons.get("frame=11", "").startswith("frame 11: the decoder reported damage"), s.bad
    assert s.computed == 11
