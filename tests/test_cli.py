"""The commands through click's CliRunner: exit codes, messages, no tracebacks."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from .conftest import TINY


def test_featurize_then_rerun_says_zero_forward_passes(image_folder: Path, tmp_path: Path, featurize_cli):
    cache = tmp_path / "f.h5"
    r1 = featurize_cli(image_folder, cache)
    assert r1.exit_code == 0, r1.output
    assert "featurized 12 images (12 forward passes, 0 already cached)" in r1.output
    r2 = featurize_cli(image_folder, cache)
    assert r2.exit_code == 0, r2.output
    assert "all 12 images already cached" in r2.output and "0 forward passes" in r2.output


def test_json_summary(image_folder: Path, tmp_path: Path, featurize_cli):
    r = featurize_cli(image_folder, tmp_path / "f.h5", "--json")
    data = json.loads(r.output)
    assert data["computed"] == 12 and data["device"] == "cpu" and data["precision"] == "fp32"


def test_user_errors_are_one_line(image_folder: Path, tmp_path: Path, invoke):
    cases = [
        (("featurize", image_folder, "-b", "densnet121", "--cache", tmp_path / "a.h5"), "unknown backbone 'densnet121'; did you mean: densenet121"),
        (("featurize", image_folder, "-b", TINY, "--precision", "fp16", "--device", "cpu", "-w", "none", "--cache", tmp_path / "b.h5"), "--precision fp16: needs a CUDA device; on CPU use bf16 or fp32"),
        (("featurize", image_folder, "-b", TINY, "--device", "cuda:7", "-w", "none", "--cache", tmp_path / "c.h5"), "--device cuda:7"),
        (("featurize", image_folder, "-b", TINY, "--augment", "hflip,blur", "--cache", tmp_path / "d.h5"), "--augment blur: unknown view; choose from: brightness, hflip, saturation"),
        (("featurize", image_folder, "-b", TINY, "-w", "IMAGENET9K", "--cache", tmp_path / "e.h5"), "--weights IMAGENET9K: not a weights name"),
        (("cache", "info", "--cache", tmp_path / "missing.h5"), "no such cache; run featurize first"),
        (("featurize", image_folder, "-b", TINY, "--crop", "haar", "--crop-param", "min_neigbours=3", "--cache", tmp_path / "f.h5"),
         "--crop-param min_neigbours: not a parameter of the haar cropper; did you mean min_neighbors? it takes: detect_side, scale_factor, "
         "min_neighbors, min_size"),
        (("featurize", image_folder, "-b", TINY, "--crop", "haar", "--crop-param", "min_neighbors=many", "--cache", tmp_path / "g.h5"),
         "--crop-param min_neighbors=many: the haar cropper takes an integer"),
    ]
    for args, message in cases:
        r = invoke(*args)
        assert r.exit_code == 1, (args, r.output)
        assert message in r.output, (args, r.output)
        assert "Traceback" not in r.output


def test_cache_commands(image_folder: Path, tmp_path: Path, invoke, featurize_cli):
    cache = tmp_path / "f.h5"
    featurize_cli(image_folder, cache, "--augment", "hflip")
    ls = invoke("cache", "ls", "--cache", cache)
    assert ls.exit_code == 0 and ls.output.count("rows=12") == 2
    info = invoke("cache", "info", "--cache", cache, "--json")
    data = json.loads(info.output)
    assert data["images"] == 12 and data["labels"] == {"happy": 4, "neutral": 4, "pain": 4}
    assert invoke("cache", "verify", "--cache", cache).output.strip().endswith(": ok")
    amb = invoke("cache", "export", "--cache", cache, "-o", tmp_path / "x.npz")
    assert amb.exit_code == 0, amb.output  # the one original view is chosen
    with np.load(tmp_path / "x.npz") as z:
        assert z["X"].shape == (12, 1024) and sorted(set(z["label"])) == ["happy", "neutral", "pain"]
    out_csv = tmp_path / "x.csv"
    r = invoke("cache", "export", "--cache", cache, "-k", TINY, "--format", "csv", "-o", out_csv)
    assert r.exit_code == 0, r.output
    rows = list(csv.reader(out_csv.open()))
    assert rows[0][:4] == ["path", "label", "subject", "sha256"] and len(rows) == 13 and len(rows[1]) == 4 + 1024
    bad = invoke("cache", "export", "--cache", cache, "-k", "resnet", "-o", tmp_path / "y.npz")
    assert bad.exit_code == 1 and "unknown feature key 'resnet'" in bad.output


def test_verify_exits_nonzero_on_a_broken_file(tmp_path: Path, invoke):
    broken = tmp_path / "b.h5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    r = invoke("cache", "verify", "--cache", broken)
    assert r.exit_code == 1 and "not a readable HDF5 cache" in r.output


def test_backbones_listing(invoke):
    r = invoke("backbones", "densenet121", "resnet50", "resnet18", "mobilenet_v2", "efficientnet_lite0")
    assert r.exit_code == 0, r.output
    lines = {line.split()[0]: line.split()[1] for line in r.output.splitlines()[1:]}
    assert lines == {"densenet121": "1024", "efficientnet_lite0": "1280", "mobilenet_v2": "1280", "resnet18": "512", "resnet50": "2048"}
    assert "download needed (densenet121-a639ec97.pth)" in r.output


def test_help_has_examples(invoke):
    for cmd in (["featurize"], ["cache", "export"], ["backbones"]):
        r = invoke(*cmd, "--help")
        assert r.exit_code == 0 and "Example" in r.output


@pytest.mark.slow
def test_backbones_lists_every_model_without_a_traceback(invoke):
    r = invoke("backbones")
    assert r.exit_code == 0 and "Traceback" not in r.output
    rows = {line.split()[0]: line.split()[1] for line in r.output.splitlines()[1:]}
    assert rows["regnet_x_400mf"] == "400" and rows["regnet_y_128gf"] == "7392" and rows["densenet121"] == "1024"
    j = invoke("backbones", "--json", "regnet_y_400mf", "efficientnet_lite0")
    assert j.exit_code == 0 and [r["feature_dim"] for r in json.loads(j.output)] == [1280, 440]
