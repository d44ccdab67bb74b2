"""timm backbones and intermediate layers (issue 15): requests, one forward pass for several
outputs, the model's own preprocessing, offline errors, and the seed papers' networks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from faceprobe.errors import OptionError
from faceprobe.featurize.backbones.load import list_backbones, list_layers, load_backbone, load_outputs
from faceprobe.featurize.backbones.layers import parse_request, pool_map

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _cache_vectors(cache, key_prefix: str) -> dict[str, np.ndarray]:
    from faceprobe.cache.store import read_features
    from faceprobe.cache.tools import resolve_key

    fm = read_features(str(cache), resolve_key(str(cache), key_prefix))
    return {str(s): np.asarray(v) for s, v in zip(fm.sha256, fm.vectors)}


def test_layer_requests_are_normalised_and_bad_ones_refused_in_one_line():
    assert parse_request("resnet50@layer3:avg").name == "resnet50@layer3"
    r = parse_request("timm/convnext_tiny.fb_in1k@stages.2:avgmax")
    assert (r.base, r.layer, r.pool, r.name) == ("timm/convnext_tiny.fb_in1k", "stages.2", "avgmax", "timm/convnext_tiny.fb_in1k@stages.2:avgmax")
    with pytest.raises(OptionError, match=r"unknown pooling 'median'; choose one of avg, max, avgmax"):
        parse_request("resnet50@layer3:median")
    with pytest.raises(OptionError, match=r"write BACKBONE@LAYER"):
        parse_request("resnet50@")


def test_pooling_handles_channel_first_maps_channel_last_maps_and_tokens():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    assert torch.equal(pool_map(x, "avg"), x.mean((2, 3)))
    assert torch.equal(pool_map(x.permute(0, 2, 3, 1)[:, :, :, :3], "avg"), x.mean((2, 3)))  # (N, H, W, C), swin
    tokens = torch.randn(2, 5, 7)
    assert torch.equal(pool_map(tokens, "max"), tokens.amax(1))
    assert pool_map(x, "avgmax").shape == (2, 6)


def test_layers_and_pooled_output_come_from_one_forward_pass_and_equal_separate_extraction():
    from torchvision.models.feature_extraction import create_feature_extractor

    loaded = load_outputs(["resnet18", "resnet18@layer3", "resnet18@layer2:avgmax"], "none", seed=3)
    assert [(o.name, o.dim) for o in loaded.output_list()] == [("resnet18", 512), ("resnet18@layer3", 256), ("resnet18@layer2:avgmax", 256)]
    calls = []
    loaded.model.model.register_forward_hook(lambda *a: calls.append(1))
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        out = loaded.model(x)
    assert len(calls) == 1 and out.shape == (2, 1024)
    alone = load_backbone("resnet18", "none", seed=3)
    extractor = create_feature_extractor(alone.model, {"layer3": "l3", "layer2": "l2"})
    with torch.inference_mode():
        ref_pooled, maps = alone.model(x), extractor(x)
    torch.testing.assert_close(out[:, :512], ref_pooled)
    torch.testing.assert_close(out[:, 512:768], maps["l3"].mean((2, 3)))
    torch.testing.assert_close(out[:, 768:], torch.cat([maps["l2"].mean((2, 3)), maps["l2"].amax((2, 3))], 1))


def test_an_unknown_layer_is_one_line_naming_the_listing_command():
    with pytest.raises(OptionError, match=r"resnet18 has no layer 'layer9' \(e\.g\. .*\); faceprobe backbones resnet18 `layers` lists them"):
        load_outputs(["resnet18@layer9"], "none")


def test_layer_listing_gives_feature_sizes_without_weights(invoke):
    rows = {r["layer"]: r for r in list_layers("efficientnet_lite0")} if _has_lite() else {}
    if rows:
        assert rows["blocks.15"]["dim"] == 320 and rows["blocks.15"]["module"] == "net._blocks.15" and len(rows) == 16
    r = invoke("backbones", "resnet50", "--layers")
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if x.split()[:1] == ["layer3"])
    assert line.split()[1] == "1024"
    timm_rows = {r["layer"]: r["dim"] for r in list_layers("timm/test_convnext")}
    assert timm_rows == {"stages.0": 24, "stages.1": 32, "stages.2": 48, "stages.3": 64}


def _has_lite() -> bool:
    import importlib.util

    return importlib.util.find_spec("efficientnet_lite_pytorch") is not None


@pytest.mark.slow
def test_backbones_lists_both_families_and_names_timm_sizes_without_downloading(invoke, tmp_path):
    r = invoke("backbones", "timm/inception_resnet_v2", "timm/legacy_xception", "--json")
    assert r.exit_code == 0, r.output
    dims = {row["name"]: row["feature_dim"] for row in json.loads(r.output)}
    assert dims == {"timm/inception_resnet_v2": 1536, "timm/legacy_xception": 2048}
    listing = invoke("backbones", "--json")
    families = {row["family"] for row in json.loads(listing.output)}
    assert {"torchvision", "timm"} <= families
    timm_row = next(row for row in json.loads(listing.output) if row["family"] == "timm")
    assert timm_row["models"] > 1000
    assert not list(Path(os.environ["TORCH_HOME"]).rglob("*.pth"))  # nothing was downloaded


def test_timm_preprocessing_follows_the_models_data_config_and_matches_timms_transform(image_folder, tmp_path, invoke):
    import timm
    from PIL import Image

    cache = tmp_path / "t.h5"
    r = invoke("featurize", image_folder, "-b", "timm/test_resnet", "-w", "none", "-c", cache, "--precision", "fp32",
               "--compile", "none", "--workers", 0, "-q")
    assert r.exit_code == 0, r.output
    from faceprobe.cache.tools import list_keys

    (key,) = list_keys(str(cache))
    assert key["key"].startswith("timm-test_resnet.none.orig.") and key["dim"] == 96
    from faceprobe.cache.layout import open_cache

    with open_cache(cache) as f:
        spec = json.loads(f["features"][key["key"]].attrs["spec"])
    # test_resnet: 160 px input, crop_pct 0.95 -> resize floor(160 / 0.95) = 168, bilinear, mean/std 0.5
    assert spec["transform"] == {"resize": 168, "crop": 160, "mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bilinear"}
    model = load_backbone("timm/test_resnet", "none", seed=0).model
    transform = timm.data.create_transform(**timm.data.resolve_model_data_config(model), is_training=False)
    got = _cache_vectors(cache, "timm/test_resnet")
    from faceprobe.hashes import file_sha256

    for path in sorted(image_folder.rglob("*.jpg"))[:3]:
        with torch.inference_mode():
            ref = model(transform(Image.open(path).convert("RGB"))[None]).numpy()[0]
        vec = got[file_sha256(str(path))]
        assert np.dot(vec, ref) / (np.linalg.norm(vec) * np.linalg.norm(ref)) > 0.999


def test_timm_weights_from_a_file_are_loaded_and_hashed(image_folder, tmp_path, invoke):
    import timm

    from faceprobe.featurize.backbones.base import state_dict_sha256

    torch.manual_seed(5)
    full = timm.create_model("test_resnet", pretrained=False)  # with its classifier, as hub files are
    weights = tmp_path / "test_resnet.pth"
    torch.save(full.state_dict(), weights)
    loaded = load_backbone("timm/test_resnet", str(weights))
    assert loaded.weights["file"] == str(weights) and loaded.weights["sha256"] == state_dict_sha256(loaded.model)
    full.reset_classifier(0)
    torch.testing.assert_close(loaded.model.state_dict(), full.state_dict())
    bad = tmp_path / "other.pth"
    torch.save(timm.create_model("test_vit", pretrained=False).state_dict(), bad)
    r = invoke("featurize", image_folder, "-b", "timm/test_resnet", "-w", bad, "-c", tmp_path / "c.h5", "-q", "--workers", 0)
    assert r.exit_code == 1 and f"--weights {bad}: does not fit timm/test_resnet (" in r.output and "Traceback" not in r.output


def test_timm_offline_names_the_hub_repository_and_the_fix(image_folder, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run([sys.executable, "-m", "faceprobe.cli", "featurize", str(image_folder), "-b", "timm/test_resnet.r160_in1k",
                          "-c", str(tmp_path / "c.h5"), "-q", "--workers", "0"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 1, out.stderr
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert "cannot get the weights of timm/test_resnet.r160_in1k" in lines[0]
    assert "Hugging Face hub repository timm/test_resnet.r160_in1k" in lines[0] and "HF_HUB_OFFLINE=1" in lines[0] and "--weights FILE" in lines[0]


def test_timm_weights_names_and_unknown_tags_are_refused(invoke, image_folder, tmp_path):
    r = invoke("featurize", image_folder, "-b", "timm/test_resnet", "-w", "IMAGENET1K_V2", "-c", tmp_path / "c.h5", "-q", "--workers", 0)
    assert r.exit_code == 1 and "--weights IMAGENET1K_V2: timm models take DEFAULT (the weights of the tag in the name" in r.output
    r = invoke("backbones", "timm/test_resnet.nosuchtag")
    assert r.exit_code == 1 and "unknown backbone 'timm/test_resnet.nosuchtag'" in r.output


def test_featurize_layers_share_one_pass_and_their_pooled_key_equals_a_pooled_only_run(image_folder, tmp_path, invoke):
    both, alone = tmp_path / "both.h5", tmp_path / "alone.h5"
    common = ["-w", "none", "--precision", "fp32", "--compile", "none", "--workers", 0, "-q", "--json"]
    r = invoke("featurize", image_folder, "-b", "timm/test_convnext", "-b", "timm/test_convnext@stages.1",
               "-b", "timm/test_convnext@stages.2:avgmax", "-c", both, *common)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["computed"] == 12 and summary["forward_passes"] == 12  # one pass per image for three keys
    assert len(summary["keys"]) == 3
    r2 = invoke("featurize", image_folder, "-b", "timm/test_convnext", "-c", alone, *common)
    assert r2.exit_code == 0, r2.output
    a, b = _cache_vectors(both, "timm/test_convnext"), _cache_vectors(alone, "timm/test_convnext")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    layer = _cache_vectors(both, "timm/test_convnext@stages.2:avgmax")
    assert next(iter(layer.values())).shape == (96,)
    again = invoke("featurize", image_folder, "-b", "timm/test_convnext@stages.1", "-c", both, *common)
    assert json.loads(again.output)["forward_passes"] == 0


def test_compiled_graphs_apply_to_every_layer_and_stay_faithful(image_folder, tmp_path, invoke):
    eager, frozen = tmp_path / "eager.h5", tmp_path / "frozen.h5"
    args = ["-b", "resnet18", "-b", "resnet18@layer2", "-w", "none", "--precision", "fp32", "--workers", 0, "-q", "--json"]
    assert invoke("featurize", image_folder, "-c", eager, "--compile", "none", *args).exit_code == 0
    r = invoke("featurize", image_folder, "-c", frozen, "--compile", "freeze", *args)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["compile"]["resnet18"] == "freeze"
    for key in ("resnet18", "resnet18@layer2"):
        a, b = _cache_vectors(eager, key), _cache_vectors(frozen, key)
        for k in a:
            assert np.dot(a[k], b[k]) / (np.linalg.norm(a[k]) * np.linalg.norm(b[k])) > 0.9999


def test_fidelity_is_held_per_output_not_over_the_concatenation():
    from faceprobe.featurize.engine.compile import min_cosine

    rng = np.random.default_rng(0)
    a = np.concatenate([rng.normal(size=(4, 1000)), rng.normal(size=(4, 4))], 1)
    b = a.copy()
    b[:, 1000:] = -b[:, 1000:]  # the small layer is wrong, the large pooled output right
    assert min_cosine(a, b) > 0.98  # would pass a 0.98 threshold over the concatenation
    assert min_cosine(a, b, [(0, 1000), (1000, 1004)]) < 0


def _documented_sizes() -> dict[str, int]:
    text = (DOCS / "backbones.md").read_text()
    section = text.split("## The seed papers' networks", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\| `([^`]+)` \| (\d+) \|", section, re.M)}


def test_the_seed_papers_nine_networks_build_with_random_weights_and_give_the_documented_sizes():
    sizes = _documented_sizes()
    assert set(sizes) == {"densenet121", "resnet18", "resnet50", "resnet101", "mobilenet_v2", "inception_v3", "googlenet",
                          "timm/inception_resnet_v2", "timm/legacy_xception"}
    for name, dim in sizes.items():
        loaded = load_backbone(name, "none", seed=0)
        x = torch.zeros(1, 3, loaded.transform.crop, loaded.transform.crop)
        with torch.inference_mode():
            out = loaded.model(x)
        assert loaded.feature_dim == dim and tuple(out.shape) == (1, dim), name
        assert [r["feature_dim"] for r in list_backbones([name])] == [dim]


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_random_weights_of_nets_whose_torchvision_default_init_will_change_are_drawn_as_now_without_a_warning(name):
    import warnings

    from torchvision.models import get_model

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # torchvision warns that its default will change
        loaded = load_backbone(name, "none", seed=3)
    torch.manual_seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        default = get_model(name, weights=None)  # torchvision's default as it is today
    ours = loaded.model.state_dict()
    assert all(torch.equal(v, ours[k]) for k, v in default.state_dict().items() if k in ours and not k.startswith("fc."))


def test_real_faces_lite0_blocks_and_pooled_output_in_one_run(real_dir, real_subset, tmp_path, invoke):
    pytest.importorskip("efficientnet_lite_pytorch", reason="the lite extra is not installed")
    both, alone = tmp_path / "both.h5", tmp_path / "alone.h5"
    common = ["--root", real_dir / "images", "--precision", "fp32", "--compile", "none", "--workers", 0, "-q", "--json"]
    r = invoke("featurize", real_subset, "-b", "efficientnet_lite0", "-b", "efficientnet_lite0@blocks.15",
               "-b", "efficientnet_lite0@blocks.10", "-c", both, *common)
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert s["computed"] == 48 and s["forward_passes"] == 48
    assert invoke("featurize", real_subset, "-b", "efficientnet_lite0", "-c", alone, *common).exit_code == 0
    a, b = _cache_vectors(both, "efficientnet_lite0"), _cache_vectors(alone, "efficientnet_lite0")
    assert all(np.array_equal(a[k], b[k]) for k in b)
    b15 = np.stack(list(_cache_vectors(both, "efficientnet_lite0@blocks.15").values()))
    b10 = np.stack(list(_cache_vectors(both, "efficientnet_lite0@blocks.10").values()))
    assert b15.shape == (48, 320) and b10.shape == (48, 112) and np.isfinite(b15).all()
    assert b15.std(0).mean() > 0  # real faces differ from each other in the layer's features
    r = invoke("classify", "-c", both, "-b", "efficientnet_lite0@blocks.15", "-b", "efficientnet_lite0", "--head", "logreg",
               "--cv", 3, "--min-count", 3, "-q", "--json", "-")
    assert r.exit_code == 0, r.output
    keys = json.loads(r.output)["keys"]
    assert [k.rsplit(".", 3)[0] for k in keys] == ["efficientnet_lite0@blocks.15", "efficientnet_lite0"]


@pytest.mark.parametrize("request_name", ["resnet18@layer3", "timm/test_resnet"])
def test_a_model_fitted_on_a_layer_or_timm_key_predicts_new_images(image_folder, tmp_path, invoke, request_name):
    cache, model = tmp_path / "c.h5", tmp_path / "m.skops"
    r = invoke("featurize", image_folder, "-b", request_name.split("@")[0], "-b", request_name, "-w", "none", "-c", cache,
               "--precision", "fp32", "--compile", "none", "--workers", 0, "-q")
    assert r.exit_code == 0, r.output
    fit = invoke("fit", "-c", cache, "-b", request_name, "--head", "logreg", "--cv", 2, "--group", "none", "-o", model)
    assert fit.exit_code == 0, fit.output
    out = tmp_path / "p.csv"
    pred = invoke("predict", "-m", model, image_folder, "-c", cache, "-o", out)
    assert pred.exit_code == 0, pred.output
    rows = out.read_text().splitlines()[1:]
    assert len(rows) == 12 and all(row.split(",")[1] for row in rows)  # every image got a label, none blank


def test_backbone_patterns_list_matches_and_name_an_empty_match(invoke):
    r = invoke("backbones", "timm/*xception*", "--json")
    assert r.exit_code == 0, r.output
    dims = {row["name"]: row["feature_dim"] for row in json.loads(r.output)}
    assert dims["timm/legacy_xception"] == 2048 and "timm/xception41" in dims and all(n.startswith("timm/") for n in dims)
    many = json.loads(invoke("backbones", "timm/vit_*", "--json").output)
    assert len(many) > 40 and all(row["feature_dim"] is None and "matches: name fewer" in row["weights"] for row in many)
    none = invoke("backbones", "zzz*")
    assert none.exit_code == 1 and "no backbone matches zzz*" in none.output
