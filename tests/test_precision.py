"""Device and precision choice, and the fidelity check behind --precision auto."""

import pytest
import torch

from faceprobe.errors import FaceprobeError
from faceprobe.featurize.backbones.load import load_backbone
from faceprobe.featurize.engine.device import DeviceSetup, cpu_info, device_setup
from faceprobe.featurize.engine.runner import FeatureRunner

from .conftest import TINY


def test_auto_on_cpu_follows_the_flags():
    plan = device_setup("auto", "auto")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: auto picks CUDA")
    assert plan.device == "cpu" and not plan.pin_memory
    assert plan.precision == ("bf16" if cpu_info()["native_bf16"] else "fp32")


def test_bad_requests():
    with pytest.raises(FaceprobeError, match="precision=.int8.: unknown precision; choose from: auto, bf16, fp16, fp32"):
        device_setup("cpu", "int8")
    with pytest.raises(FaceprobeError, match="not a device"):
        device_setup("gpu0", "fp32")
    if not torch.cuda.is_available():
        with pytest.raises(FaceprobeError, match="no CUDA GPU is available"):
            device_setup("cuda", "auto")


def test_fidelity_check_keeps_or_drops_reduced_precision():
    torch.manual_seed(0)
    runner = FeatureRunner(load_backbone("resnet18", "none"), DeviceSetup("cpu", "bf16", False))
    x = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    cos = runner.check_fidelity(x, threshold=-1.0)
    assert -1.0 <= cos <= 1.0 + 1e-6 and runner.precision == "bf16"
    runner.check_fidelity(x, threshold=1.5)
    assert runner.precision == "fp32"
    assert runner.check_fidelity(x) is None


def test_auto_precision_is_recorded(image_folder, tmp_path):
    from faceprobe.cache.store import read_features
    from faceprobe.featurize.pipeline import featurize

    s = featurize(str(image_folder), backbones=[TINY], weights=["none"], cache=str(tmp_path / "f.h5"), workers=0, progress=False)
    run = read_features(str(tmp_path / "f.h5"), s.keys[0]).runs[0]
    assert run["precision_by_backbone"][TINY] in ("fp32", "bf16")
    if run["precision"] != "fp32":
        assert TINY in run["precision_check"] and s.precision_check == run["precision_check"]


def test_an_explicit_reduced_precision_is_measured_by_the_same_gate_and_kept_with_a_warning(image_folder, tmp_path, monkeypatch):
    from faceprobe.cache.store import read_features
    from faceprobe.featurize.engine import runner
    from faceprobe.featurize.pipeline import featurize

    monkeypatch.setattr(runner, "FIDELITY_COSINE", 1.01)  # no reduced precision passes: the warning must come
    s = featurize(str(image_folder), backbones=[TINY], weights=["none"], cache=str(tmp_path / "f.h5"), workers=0, progress=False,
                  precision="bf16", runtime="torch", compile="none")
    check = s.precision_check[TINY]
    assert check["explicit"] and check["kept"] and not check["passes_gate"] and 0.9 < check["min_cosine_to_fp32"] <= 1.0
    assert any("`precision=bf16` as asked, but its vectors are at cosine" in n for n in s.notes)
    run = read_features(str(tmp_path / "f.h5"), s.keys[0]).runs[0]
    assert run["precision_by_backbone"][TINY] == "bf16" and run["precision_check"][TINY] == check
