"""Runtimes of the forward pass (onnxruntime, OpenVINO): the same features as PyTorch, checked on
the first batch, exports kept on disk, unfaithful candidates refused with the reason."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from faceprobe.featurize.engine.runtimes import RUNTIMES, Runtime, ort_providers, runtime_candidates

from .conftest import TINY, real_head


def _vectors(cache) -> tuple[str, np.ndarray]:
    with h5py.File(cache, "r") as f:
        (key,) = [k for k in f["features"]]
        g = f["features"][key]
        order = np.argsort(g["sha256"].asstr()[()])
        return key, g["vectors"][()][order]


def _min_cos(a, b) -> float:
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def test_candidates_follow_the_runs_precision_and_say_why_others_are_not_tried():
    pairs, skipped = runtime_candidates("auto", "cpu", "fp32")
    assert ("onnxruntime", "fp32") in pairs and all(p == "fp32" for _, p in pairs)
    pairs, skipped = runtime_candidates("onnxruntime", "cpu", "bf16")
    assert pairs == [] and "computes in fp32 here; the run's precision is bf16" in skipped["onnxruntime"]
    assert runtime_candidates("torch", "cpu", "auto") == ([], {})
    if "openvino" not in skipped:
        _, on_gpu = runtime_candidates("openvino", "cuda", "auto")
        assert on_gpu["openvino"] == "runs here on the CPU only"


def test_onnxruntime_on_a_gpu_asks_for_tensorrt_then_cuda_then_the_cpu():
    every = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert ort_providers("cuda", every) == every
    assert ort_providers("cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert ort_providers("cpu", every) == ["CPUExecutionProvider"]


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_a_runtime_gives_the_torch_features_under_the_same_key_and_exports_once(runtime, image_folder, tmp_path, featurize_cli,
                                                                                monkeypatch):
    if RUNTIMES.get(runtime).missing("cpu"):
        pytest.skip(f"{runtime}: {RUNTIMES.get(runtime).missing('cpu')}")
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    assert featurize_cli(image_folder, tmp_path / "torch.h5", "--compile", "none").exit_code == 0
    r = featurize_cli(image_folder, tmp_path / "rt.h5", "--runtime", runtime, "--json")
    assert r.exit_code == 0, r.output
    import json

    summary = json.loads(r.output)
    from faceprobe.cache.store import read_features

    run = read_features(str(tmp_path / "rt.h5"), _vectors(tmp_path / "rt.h5")[0], vectors=False).runs[-1]
    assert summary["compile"][TINY] == runtime, run["compile_check"]
    assert summary["precision"] == run["precision_by_backbone"][TINY] == "fp32"  # what the runtime computed in, not eager's bf16
    (k0, a), (k1, b) = _vectors(tmp_path / "torch.h5"), _vectors(tmp_path / "rt.h5")
    assert k0 == k1 and _min_cos(a, b) >= 0.9999
    exports = list((tmp_path / "home" / "exports").glob("*.onnx"))
    assert len(exports) == 1
    stamp = exports[0].stat().st_mtime_ns
    assert featurize_cli(image_folder, tmp_path / "again.h5", "--runtime", runtime).exit_code == 0
    assert [p.stat().st_mtime_ns for p in (tmp_path / "home" / "exports").glob("*.onnx")] == [stamp]  # loaded, not exported again
    assert run["compile"][TINY] == runtime and run["runtime_versions"][runtime]


def test_an_unfaithful_runtime_is_refused_with_the_reason_and_pytorch_computes(image_folder, tmp_path, featurize_cli, monkeypatch):
    import torch

    def noisy(runner, example, precision):
        return lambda x: runner.model(x).float() + torch.randn(x.shape[0], runner.backbone.feature_dim)

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    with RUNTIMES.replaced("onnxruntime", Runtime(noisy, description="a stand-in that adds noise")):
        r = featurize_cli(image_folder, tmp_path / "c.h5", "--runtime", "onnxruntime", "--json")
    assert r.exit_code == 0, r.output
    import json

    summary = json.loads(r.output)
    assert summary["compile"][TINY] == "none"
    (note,) = summary["compile"]["notes"]
    assert note.startswith(f"{TINY}: --runtime onnxruntime not used (features differ from eager float32 (cosine")


@pytest.mark.real
def test_real_faces_lite0_on_onnxruntime_matches_pytorch(real_dir, tmp_path, featurize_cli, monkeypatch, invoke):
    if RUNTIMES.get("onnxruntime").missing("cpu"):
        pytest.skip("onnxruntime is not installed")
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    manifest = real_head(real_dir, 48, tmp_path / "m.csv")
    common = ("featurize", manifest, "--root", real_dir / "images", "-b", "efficientnet_lite0", "--workers", 0, "-q", "--precision", "fp32")
    assert invoke(*common, "-c", tmp_path / "t.h5", "--compile", "none").exit_code == 0
    assert invoke(*common, "-c", tmp_path / "o.h5", "--runtime", "onnxruntime").exit_code == 0
    (k0, a), (k1, b) = _vectors(tmp_path / "t.h5"), _vectors(tmp_path / "o.h5")
    assert k0 == k1 and _min_cos(a, b) >= 0.9999


def test_a_remembered_choice_weighs_warm_up_against_the_runs_length(tmp_path, monkeypatch):
    from faceprobe.featurize.engine.choices import recall_choice, remember_choice

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))
    assert recall_choice("k", 10) is None
    remember_choice("k", {"none": (1.0, 0.0), "inductor": (0.2, 20.0)})
    remember_choice("k", {"openvino": (0.3, 1.0)})  # merged with what was kept
    assert recall_choice("k", 1) == "none"  # 1 s eager beats 1.3 s and 20.2 s
    assert recall_choice("k", 10) == "openvino"  # 4 s
    remember_choice("k", {"openvino": (0.3, 100.0)})
    assert recall_choice("k", 1000) == "inductor"  # 220 s against 300 s and 400 s


def test_a_short_runs_choice_is_remembered_until_a_run_could_repay_what_it_skipped(tmp_path, monkeypatch):
    from faceprobe.featurize.engine.choices import recall_choice, remember_choice

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))
    remember_choice("k", {"none": (1.0, 0.0), "openvino": (0.1, 1.0)}, {"inductor": 10.0})
    assert recall_choice("k", 50) == "openvino"  # 50 batches on openvino take 5 s: a 10 s warm-up cannot repay
    assert recall_choice("k", 200) is None  # 20 s on openvino: inductor could, so every candidate is timed again
    remember_choice("k", {"inductor": (0.05, 12.0)})  # that longer run timed it: no longer skipped
    assert recall_choice("k", 200) == "openvino" and recall_choice("k", 1000) == "inductor"


def test_eagers_fastest_slice_is_remembered_with_the_choice_and_kept_by_a_rerun(tmp_path, monkeypatch):
    from faceprobe.featurize.engine.choices import recall_slice, remember_choice

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))
    assert recall_slice("k") is None
    remember_choice("k", {"none": (1.0, 0.0)}, eager_slice=4)
    assert recall_slice("k") == 4
    remember_choice("k", {"openvino": (0.3, 1.0)})  # a rerun that checked its remembered runtime: the slice stays
    assert recall_slice("k") == 4
    remember_choice("k", {"none": (1.0, 0.0)}, eager_slice=0)  # timed again, whole batches won
    assert recall_slice("k") is None


def test_remembered_choices_of_the_wrong_shape_are_timed_again_not_a_traceback(tmp_path, monkeypatch):
    import json

    from faceprobe.featurize.engine.choices import choices_path, recall_choice, recall_refusal, remember_choice

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))
    choices_path().parent.mkdir(parents=True, exist_ok=True)
    choices_path().write_text(json.dumps({"a": {"candidates": {"none": "fast"}}, "b": {"candidates": {"none": [1]}},
                                          "c": {"candidates": ["none"]}, "d": {"refused_at": "low"}, "e": {"refused_at": None}}))
    assert recall_choice("a", 10) is None and recall_choice("b", 10) is None and recall_choice("c", 10) is None
    assert recall_refusal("d") is None and recall_refusal("e") is None
    remember_choice("c", {"none": (1.0, 0.0)})  # a list where a mapping was: replaced, not merged into
    assert recall_choice("c", 10) == "none"


def test_a_rerun_builds_only_the_remembered_candidate_and_checks_it_again(image_folder, tmp_path, featurize_cli, monkeypatch):
    import json

    from faceprobe.featurize.engine.compile import COMPILE_MODES, CompileMode, _freeze

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    with COMPILE_MODES.replaced("freeze", CompileMode(_freeze, 0.0, "no warm-up guess: always tried")), \
            COMPILE_MODES.replaced("inductor", CompileMode(_freeze, 0.0, "a second traced graph, standing in for inductor")):
        first = json.loads(featurize_cli(image_folder, tmp_path / "a.h5", "--json", "--runtime", "torch").output)
        second = featurize_cli(image_folder, tmp_path / "b.h5", "--json", "--runtime", "torch")
    from faceprobe.cache.store import read_features

    (k,) = first["keys"]
    check_a = read_features(str(tmp_path / "a.h5"), k, vectors=False).runs[-1]["compile_check"][TINY]
    check_b = read_features(str(tmp_path / "b.h5"), k, vectors=False).runs[-1]["compile_check"][TINY]
    assert {"freeze", "inductor", "none"} <= set(check_a) and "remembered" not in check_a
    assert check_b["remembered"] is True and check_b["mode"] == json.loads(second.output)["compile"][TINY]
    tried = {n for n, r in check_b.items() if isinstance(r, dict) and n != "none"}
    assert tried <= {check_b["mode"]} and all("min_cosine" in check_b[n] for n in tried)  # only the choice, checked again


def test_a_run_too_short_to_repay_an_export_exports_nothing(image_folder, tmp_path, featurize_cli, monkeypatch):
    import json

    from faceprobe.cache.store import read_features

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    r = featurize_cli(image_folder, tmp_path / "c.h5", "--json")  # runtime auto, the default
    assert r.exit_code == 0, r.output
    (k,) = json.loads(r.output)["keys"]
    check = read_features(str(tmp_path / "c.h5"), k, vectors=False).runs[-1]["compile_check"][TINY]
    assert "warm-up of onnxruntime" in check["onnxruntime"]["skipped"] and "export" not in check
    assert not list((tmp_path / "home").rglob("*.onnx"))


def test_a_reduced_precision_refused_once_is_not_checked_again_on_this_machine(image_folder, tmp_path, featurize_cli, monkeypatch):
    """precision=auto on a CPU with bf16: a refusal (cosine under 0.999) is remembered, so a rerun
    computes in float32 at once; a precision that was kept would be checked again."""
    import json

    from faceprobe.featurize.engine import device, runner

    calls = []

    def refuse(self, batch, threshold=0.999):
        calls.append(self.precision)
        self.precision = "fp32"
        return 0.5

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    real = device.cpu_info
    monkeypatch.setattr(device, "cpu_info", lambda: {**real(), "native_bf16": True})
    monkeypatch.setattr(runner.FeatureRunner, "check_fidelity", refuse)
    first = json.loads(featurize_cli(image_folder, tmp_path / "a.h5", "--json", "--precision", "auto").output)
    second = json.loads(featurize_cli(image_folder, tmp_path / "b.h5", "--json", "--precision", "auto").output)
    assert calls == ["bf16"] and first["precision"] == second["precision"] == "fp32"
    (check,) = second["precision_check"].values()
    assert check == {"min_cosine_to_fp32": 0.5, "kept": False, "remembered": True}


def test_onedal_still_loads_after_openvino_computed_in_the_same_process(image_folder, tmp_path):
    """OpenVINO ships an older oneTBB than oneDAL needs; one process holds one: the newer is loaded first."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("openvino") is None or importlib.util.find_spec("sklearnex") is None:
        pytest.skip("needs OpenVINO and scikit-learn-intelex (the test extra and the fast extra install both)")
    script = f"""
import faceprobe
s = faceprobe.compute_features({str(image_folder)!r}, {TINY!r}, {str(tmp_path / "f.h5")!r}, weights="none", runtime="openvino",
                               workers=0, progress=False, precision="fp32")
assert s["compile"][{TINY!r}].startswith("openvino") and not s["compile"].get("notes"), s["compile"]
r = faceprobe.evaluate({str(tmp_path / "f.h5")!r}, head="logreg", engine="onedal", cv=2, group="none", jobs=1, progress=False)
print("engines", r.raw["provenance"]["engines"]["logreg"][0]["engine"])
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "engines onedal" in r.stdout


def test_an_openvino_that_fails_to_load_is_passed_over_by_auto_with_the_reason(image_folder, tmp_path, featurize_cli, monkeypatch):
    import json

    from faceprobe.featurize.engine import runtimes

    def broken():
        raise OSError("libopenvino.so: cannot open shared object file")

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(runtimes, "_openvino", broken)
    assert runtimes.RUNTIMES.get("openvino").missing("cpu").startswith("installed, but it fails to load (OSError: libopenvino.so")
    r = featurize_cli(image_folder, tmp_path / "f.h5", "--json", "--runtime", "auto")
    assert r.exit_code == 0, r.output
    assert not json.loads(r.output)["compile"][TINY].startswith("openvino")
    refused = featurize_cli(image_folder, tmp_path / "g.h5", "--runtime", "openvino")
    assert "fails to load" in refused.output


def test_a_damaged_or_unrecorded_export_is_made_again_and_stale_temporaries_removed(image_folder, tmp_path, featurize_cli, monkeypatch):
    import json
    import os
    import time

    from faceprobe.featurize.engine.runtimes import export_dir

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    first = featurize_cli(image_folder, tmp_path / "a.h5", "--json", "--runtime", "onnxruntime")
    assert first.exit_code == 0, first.output
    (onnx,) = export_dir().glob("*.onnx")
    record = json.loads((onnx.parent / (onnx.name + ".sha256")).read_text())
    assert record["bytes"] == onnx.stat().st_size and len(record["sha256"]) == 64
    stale = onnx.parent / f"{onnx.name}.12345.tmp"
    stale.write_bytes(b"half an export")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    onnx.write_bytes(onnx.read_bytes()[: onnx.stat().st_size // 2])  # a truncated export, as a full disk leaves it
    again = featurize_cli(image_folder, tmp_path / "b.h5", "--json", "--runtime", "onnxruntime")
    out = json.loads(again.output)
    assert out["compile"][TINY] == "onnxruntime", out["compile"]
    assert any("ONNX export rebuilt: the kept export was damaged" in n for n in out["compile"].get("notes", []))
    assert json.loads((onnx.parent / (onnx.name + ".sha256")).read_text()) == record and not stale.exists()


def test_under_an_explicit_reduced_precision_a_runtime_is_held_to_pytorchs_own_cosine(image_folder, tmp_path, featurize_cli,
                                                                                       monkeypatch):
    """`precision=bf16` as asked: PyTorch computes in bf16 whatever its cosine to fp32; a runtime in
    bf16 as close to fp32 as PyTorch's bf16 is not refused in PyTorch's favour (the runtimes' own
    gate, here set out of reach, binds under `precision=auto` only)."""
    import json

    import torch

    from faceprobe.featurize.engine import runtimes
    from faceprobe.machine import cpu_info

    if not cpu_info()["native_bf16"]:
        pytest.skip("no native bf16 here (AMX or AVX512-BF16, oneDNN not capped below it)")

    def as_pytorch_bf16(runner, example, precision):
        def run(x):
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return runner.model(x).float()
        return run

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(runtimes.RUNTIME_COSINE, "bf16", 1.0)
    stand_in = Runtime(as_pytorch_bf16, precisions=lambda device: ("bf16",), description="PyTorch's own bf16, as a runtime")
    with RUNTIMES.replaced("onnxruntime", stand_in):
        asked = json.loads(featurize_cli(image_folder, tmp_path / "b.h5", "--runtime", "onnxruntime", "--precision", "bf16",
                                         "--json").output)
    assert asked["compile"][TINY] == "onnxruntime-bf16", asked["compile"]


_TWO_BUILDS = """
import gc, signal, subprocess, sys
import torch
signal.signal(signal.SIGCHLD, lambda *a: None)  # as PyTorch's DataLoader does: Python runs it on the alternate stack
from faceprobe.featurize.backbones.load import load_backbone
from faceprobe.featurize.engine.device import DeviceSetup
from faceprobe.featurize.engine.runner import FeatureRunner
from faceprobe.featurize.engine.runtimes import RUNTIMES
runner = FeatureRunner(load_backbone(sys.argv[1], "none"), DeviceSetup("cpu", "fp32", False), pad_to=2)
example = runner.normalise(torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8))
built = {}
for precision in ("fp32", "bf16") if "bf16" in RUNTIMES.get("openvino").precisions("cpu") else ("fp32", "fp32"):
    built[len(built)] = RUNTIMES.get("openvino").build(runner, example, precision)
    built[len(built) - 1](example)  # the CPU plugin takes its stack at the first inference
built.clear(); gc.collect()  # destroyed in the order made, as a trial's candidates were
for _ in range(20):
    subprocess.run(["true"])  # each exit is a SIGCHLD
print("survived", flush=True)
"""


def test_openvino_candidates_built_and_dropped_in_any_order_leave_no_freed_signal_stack(tmp_path):
    """Each OpenVINO Core swapped the thread's alternate signal stack and put back the one it found:
    two Cores destroyed in the order made left a freed stack, and the next SIGCHLD crashed the process
    (SIGSEGV, every time). One Core serves the process now."""
    import os
    import subprocess
    import sys

    if RUNTIMES.get("openvino").missing("cpu"):
        pytest.skip(f"openvino: {RUNTIMES.get('openvino').missing('cpu')}")
    out = subprocess.run([sys.executable, "-c", _TWO_BUILDS, TINY], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "FACEPROBE_HOME": str(tmp_path)})
    assert out.returncode == 0 and out.stdout.strip() == "survived", (out.returncode, out.stderr[-2000:])


def test_a_threads_roomy_signal_stack_is_its_own_large_and_set_once():
    import threading

    from faceprobe.featurize.engine import altstack

    seen = []

    def in_a_thread():  # a thread of its own: the test runner's main thread keeps its stack
        seen.append((altstack.roomy_altstack(), altstack.current()))
        seen.append((altstack.roomy_altstack(), altstack.current()))

    t = threading.Thread(target=in_a_thread)
    t.start()
    t.join()
    (ok, (sp, size, flags)), (again, second) = seen
    assert ok and again and sp and size == altstack.ROOM and flags != altstack.SS_DISABLE
    assert second == (sp, size, flags)  # the same memory on a second call


def test_an_explicit_compile_mode_with_an_exported_runtime_is_refused_not_ignored(image_folder, tmp_path, featurize_cli):
    # --runtime openvino --compile inductor had run OpenVINO and dropped the compile mode without a word
    for mode in ("inductor", "none"):
        res = featurize_cli(image_folder, tmp_path / "f.h5", "--runtime", "openvino", "--compile", mode)
        assert res.exit_code == 1 and f"--compile {mode}: is PyTorch's graph mode: it cannot be combined with --runtime openvino" in res.output
    assert featurize_cli(image_folder, tmp_path / "f.h5", "--runtime", "torch", "--compile", "none").exit_code == 0


def test_a_batch_larger_than_the_run_is_not_padded_and_one_beyond_memory_is_refused(image_folder, tmp_path, featurize_cli,
                                                                                     monkeypatch):
    # a batch of 100,000 padded a 20-image run's first batch to 100,000 images (60 GB): a traceback
    res = featurize_cli(image_folder, tmp_path / "f.h5", "--runtime", "torch", "--compile", "none", "--batch-size", "100000", "--json")
    assert res.exit_code == 0, res.output
    import h5py
    import json

    with h5py.File(tmp_path / "f.h5", "r") as f:
        runs = [json.loads(g.attrs["runs"]) for g in f["features"].values()][0]
    assert runs[0]["batch_size"] == 12  # the image folder's 12 images
    import faceprobe.machine

    monkeypatch.setattr(faceprobe.machine, "available_memory", lambda: 64 << 20)
    res = featurize_cli(image_folder, tmp_path / "g.h5", "--runtime", "torch", "--compile", "none", "--batch-size", "12")
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "--batch-size 12: a batch of 12 images of" in res.output and "0.1 GiB is available: give" in res.output


def _conv_onnx(path) -> str:
    """A tiny ONNX graph (conv, ReLU, global average pool) with a free batch dimension."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(8, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]), helper.make_node("Flatten", ["p"], ["y"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])], initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


def _openvino_streams(tmp_path, threads: int = 2):
    if RUNTIMES.get("openvino").missing("cpu"):
        pytest.skip(f"openvino: {RUNTIMES.get('openvino').missing('cpu')}")
    from faceprobe.featurize.engine.runtimes import _ov_core
    from faceprobe.featurize.engine.streams import StreamedRun, stream_config

    core = _ov_core()
    model = core.read_model(_conv_onnx(tmp_path / "tiny.onnx"))
    return core, model, StreamedRun(core.compile_model(model, "CPU", stream_config(threads, "f32")))


def test_openvino_streams_give_the_whole_batchs_vectors_in_every_slice(tmp_path):
    core, model, run = _openvino_streams(tmp_path)
    x = np.random.default_rng(1).normal(size=(10, 3, 16, 16)).astype(np.float32)
    whole = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}).create_infer_request().infer({0: x})
    ref = next(iter(whole.values()))
    for size in (None, 1, 3, 4, 10, 64):  # uneven last slices, more slices than requests, a slice beyond the batch
        run.slice = size
        out = run.forward(x)
        assert out.shape == (10, 8) and np.allclose(out, ref, rtol=1e-5, atol=1e-6), size
    assert run.details == {"streams": run.streams, "requests": run.requests, "slice": 64}
    run.slice = None  # a request's share each: every stream busy
    assert np.allclose(run.forward(x[:3]), ref[:3], rtol=1e-5, atol=1e-6)


def test_a_streamed_runs_slice_is_chosen_by_timing_halving_from_a_requests_share(tmp_path):
    _, _, run = _openvino_streams(tmp_path)
    x = np.random.default_rng(2).normal(size=(16, 3, 16, 16)).astype(np.float32)
    timed = run.choose_slice(x, repeats=1)
    if run.requests < 2:
        assert timed == {} and run.slice is None  # one stream: one request of the whole batch
        return
    share = -(-16 // run.requests)
    sizes = sorted(timed, reverse=True)
    assert sizes and sizes == [share >> k for k in range(len(sizes))] and min(sizes) >= 2  # a request's share, halved in turn
    assert run.slice is None or run.slice in sizes[1:]
    assert timed[run.slice or share] <= min(timed.values()) / 0.95  # the kept size: no other timed size 5% faster


def test_a_large_batchs_slice_is_timed_on_a_probe_and_kept_as_a_size(tmp_path):
    from faceprobe.featurize.engine.streams import STREAM_PROBE

    _, _, run = _openvino_streams(tmp_path)
    if run.requests < 2:
        pytest.skip("one stream here: no slices to time")
    x = np.random.default_rng(3).normal(size=(STREAM_PROBE * 4, 3, 16, 16)).astype(np.float32)
    timed = run.choose_slice(x, repeats=1)
    assert max(timed) == -(-STREAM_PROBE // run.requests)  # timed on the probe's share, not the batch's
    assert run.slice in timed  # a size, even where the probe's share won: the batch's own share was never timed


def test_a_one_thread_run_compiles_for_latency_and_times_no_slices(tmp_path):
    from faceprobe.featurize.engine.streams import stream_config

    assert stream_config(1, "f32")["PERFORMANCE_HINT"] == "LATENCY"
    assert stream_config(2, "bf16") == {"INFERENCE_PRECISION_HINT": "bf16", "INFERENCE_NUM_THREADS": 2, "PERFORMANCE_HINT": "THROUGHPUT"}
    _, _, run = _openvino_streams(tmp_path, threads=1)
    assert run.choose_slice(np.zeros((16, 3, 16, 16), np.float32)) == {} and run.slice is None


def test_a_runtimes_slice_is_remembered_with_the_choice_and_recalled_without_timing(tmp_path, monkeypatch):
    import json

    from faceprobe.featurize.engine.choices import choices_path, recall_slices, remember_choice
    from faceprobe.featurize.engine.trial import Trial

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))
    assert recall_slices("k") == {} and recall_slices(None) == {}
    remember_choice("k", {"openvino": (0.1, 1.0)}, slices={"openvino": 4})
    remember_choice("k", {"none": (1.0, 0.0)}, slices={"openvino-bf16": 0})  # merged: whole batches won for bf16
    assert recall_slices("k") == {"openvino": 4, "openvino-bf16": 0}
    held = json.loads(choices_path().read_text())
    held["k"]["slices"] = {"openvino": "4", "onnxruntime": -1, "x": True}
    choices_path().write_text(json.dumps(held))
    assert recall_slices("k") == {}  # wrong types: chosen again, not a traceback

    class Streamed:
        slice = None

        def choose_slice(self, x, repeats=2):
            raise AssertionError("a remembered slice is not timed again")

    trial = Trial(runner=None, batch=None, eager=None, batches=1, n_images=1, report={"none": {"seconds_per_batch": 1.0}},
                  slices={"openvino": 4, "openvino-bf16": 0})
    trial.built = {"openvino": Streamed(), "openvino-bf16": Streamed(), "inductor": object()}
    for name in trial.built:
        trial._slice(name)
    assert trial.built["openvino"].slice == 4 and trial.built["openvino-bf16"].slice is None


def test_a_runtimes_version_is_read_from_its_metadata_without_importing_it_and_else_from_the_module():
    """The remembered choice is keyed by every runtime's version: reading them must not import
    OpenVINO (0.23 s) on a run that recalls another runtime."""
    import subprocess
    import sys

    from faceprobe.featurize.engine.runtimes import installed_version

    assert installed_version(("no-such-distribution-here",), lambda: "9.9") == "9.9"
    script = """
import sys
from faceprobe.featurize.engine.choices import _versions
from importlib.metadata import version
v = _versions()
assert "openvino" not in sys.modules and "onnxruntime" not in sys.modules, sorted(m for m in sys.modules if "openvino" in m)
for name, dist in (("openvino", "openvino"), ("onnxruntime", "onnxruntime")):
    try:
        assert v[name] == version(dist).split("-")[0], v
    except ImportError:
        assert v[name] is None, v
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_an_export_traced_on_two_images_gives_the_vectors_of_one_traced_on_the_whole_batch(tmp_path, monkeypatch):
    if RUNTIMES.get("onnxruntime").missing("cpu"):
        pytest.skip("onnxruntime is not installed")
    import onnxruntime as ort
    import torch

    from faceprobe.featurize.backbones.load import load_backbone
    from faceprobe.featurize.engine import runtimes
    from faceprobe.featurize.engine.device import DeviceSetup
    from faceprobe.featurize.engine.runner import FeatureRunner

    torch.manual_seed(0)
    r = FeatureRunner(load_backbone(TINY, "none"), DeviceSetup("cpu", "fp32", False), pad_to=16)
    x = r.normalise((torch.rand(16, 3, 224, 224) * 255).to(torch.uint8))
    out = {}
    for images in (16, runtimes.TRACE_IMAGES):
        monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / str(images)))
        monkeypatch.setattr(runtimes, "TRACE_IMAGES", images)
        path, reused = runtimes.exported(r, x)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        out[images] = session.run(None, {"input": x.numpy()})[0]
    assert reused is False and out[16].shape == (16, r.backbone.feature_dim)
    assert np.array_equal(out[16], out[2])  # the batch axis is dynamic: the same graph, the same bytes


def test_instruction_set_caps_are_part_of_the_machine_and_keep_bf16_where_onednn_has_it(monkeypatch):
    """A run under ``ONEDNN_MAX_CPU_ISA`` computes as the capped CPU would: its name carries the caps
    (so choices remembered uncapped are not reused), and native bf16 goes below AVX512_CORE_BF16."""
    from faceprobe.machine import ISA_CAPS, cpu_info, isa_caps, onednn_bf16

    for name in ISA_CAPS:
        monkeypatch.delenv(name, raising=False)
    plain = cpu_info()
    assert isa_caps() == {} and plain["caps"] == {} and "=" not in plain["model"]
    assert [onednn_bf16({"ONEDNN_MAX_CPU_ISA": cap}) for cap in ("AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI",
                                                                  "AVX512_CORE_BF16", "AVX512_CORE_AMX", "AVX10_1_512", "ALL",
                                                                  "NONSENSE")] == \
        ["none", "none", "emulated", "emulated", "native", "native", "native", "native", "native"]  # oneDNN ignores names it does not know
    assert onednn_bf16({"DNNL_MAX_CPU_ISA": "AVX2"}) == "none" and onednn_bf16({"ATEN_CPU_CAPABILITY": "AVX2"}) == "native"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", " avx2 ")
    capped = cpu_info()
    assert capped["caps"] == {"ATEN_CPU_CAPABILITY": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"} and capped["native_bf16"] is False
    assert capped["model"] == f"{plain['model']} (ATEN_CPU_CAPABILITY=AVX2, ONEDNN_MAX_CPU_ISA=AVX2)"
    assert capped["flags"] == plain["flags"]  # what the CPU has is unchanged


def test_openvino_offers_no_bf16_where_onednn_is_capped_below_avx512():
    """OpenVINO's CPU plugin lists BF16 under ``ONEDNN_MAX_CPU_ISA=AVX2`` and its bf16 convolutions then
    fail at the first inference ("object is not initialized"); faceprobe does not offer it there."""
    import os
    import subprocess
    import sys

    if RUNTIMES.get("openvino").missing("cpu"):
        pytest.skip(f"openvino: {RUNTIMES.get('openvino').missing('cpu')}")
    code = "from faceprobe.featurize.engine.runtimes import RUNTIMES; print(RUNTIMES.get('openvino').precisions('cpu'))"
    got = {cap: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                               env={**os.environ, "ONEDNN_MAX_CPU_ISA": cap}).stdout.strip() for cap in ("AVX2", "ALL")}
    assert got["AVX2"] == "('fp32',)" and got["ALL"] in ("('fp32',)", "('fp32', 'bf16')"), got


def test_an_onnxruntime_failure_is_an_exception_without_its_log_on_the_terminal(tmp_path, capfd):
    """onnxruntime logged a failing node's error in red on standard error (C++ source lines
    included) before the run said in one line that it fell back; the run's sessions keep quiet."""
    if RUNTIMES.get("onnxruntime").missing("cpu"):
        pytest.skip(f"onnxruntime: {RUNTIMES.get('onnxruntime').missing('cpu')}")
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from faceprobe.featurize.engine.runtimes import ort_options

    dims = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", d]) for n, d in (("a", "x"), ("b", "y"), ("c", "z"))]
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "add", dims[:2], dims[2:])
    path = tmp_path / "add.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    session = ort.InferenceSession(str(path), ort_options(1), providers=["CPUExecutionProvider"])
    capfd.readouterr()
    with pytest.raises(Exception, match="broadcast"):
        session.run(None, {"a": np.zeros((2, 3), np.float32), "b": np.zeros((2, 4), np.float32)})
    assert capfd.readouterr().err == ""
