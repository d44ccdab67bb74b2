"""Compiled graphs: explicit modes, the fidelity check, fallback when compiling fails, auto."""

import contextlib

import numpy as np
import pytest
import torch

from faceprobe.cache.store import read_features
from faceprobe.featurize.engine import compile as fcompile
from faceprobe.featurize.engine import trial as ftrial
from faceprobe.featurize.engine import timing
from faceprobe.featurize.backbones.load import load_backbone
from faceprobe.featurize.engine.device import DeviceSetup
from faceprobe.featurize.options import FeaturizeOptions, resolve
from faceprobe.featurize.pipeline import featurize, run_featurize
from faceprobe.featurize.engine.runner import FeatureRunner

from .conftest import TINY


@pytest.fixture
def replace_mode():
    """``replace_mode(name, build, warmup_guess_s=2.0)``: a compile mode swapped in for one test."""
    with contextlib.ExitStack() as stack:
        yield lambda name, build, warmup=2.0: stack.enter_context(
            fcompile.COMPILE_MODES.replaced(name, fcompile.CompileMode(build, warmup)))

def runner(pad_to=4):
    torch.manual_seed(0)
    return FeatureRunner(load_backbone("resnet18", "none"), DeviceSetup("cpu", "fp32", False), pad_to=pad_to)


def test_freeze_matches_eager_and_pads_short_batches():
    r = runner()
    x = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    eager = r(x)
    report = fcompile.choose_compile(r, x, "freeze")
    assert report["mode"] == "freeze" and r.compile_mode == "freeze"
    assert report["freeze"]["min_cosine"] >= fcompile.COMPILE_COSINE
    np.testing.assert_allclose(r(x), eager, rtol=1e-3, atol=1e-4)
    short = r(x[:3])  # padded to the traced shape, cut back
    assert short.shape == (3, 512)
    np.testing.assert_allclose(short, eager[:3], rtol=1e-3, atol=1e-4)


def test_failing_or_unfaithful_compilers_fall_back(replace_mode):
    r = runner()
    x = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)

    def broken(runner, example):
        raise RuntimeError("cannot trace this model")

    replace_mode("freeze", broken)
    rep = fcompile.choose_compile(r, x, "freeze")
    assert rep["mode"] == "none" and "cannot trace" in rep["freeze"]["failed"] and r.compiled is None

    def wrong(runner, example):
        return lambda t: runner.model(t) * 0 + 1.0  # a "compiled" model that changes the numbers

    replace_mode("freeze", wrong)
    rep = fcompile.choose_compile(r, x, "freeze")
    assert rep["mode"] == "none" and "features differ from eager" in rep["freeze"]["rejected"]


def test_a_candidate_the_fidelity_gate_refuses_is_checked_on_its_first_call_and_never_timed(replace_mode, monkeypatch):
    from faceprobe.featurize.engine import trial as ftrial

    r = runner()
    x = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    calls = []

    def wrong(runner, example):
        def run(t):
            calls.append(t.shape[0])
            return runner.model(t) * 0 + 1.0
        return run

    timed_modes = []
    real_timed = ftrial.timed
    monkeypatch.setattr(ftrial, "timed", lambda runner, *a, **k: (timed_modes.append(runner.compile_mode), real_timed(runner, *a, **k))[1])
    replace_mode("freeze", wrong)
    rep = fcompile.choose_compile(r, x, "freeze")
    assert rep["mode"] == "none" and rep["freeze"]["rejected"].endswith("not timed")
    assert "seconds_per_batch" not in rep["freeze"] and rep["freeze"]["min_cosine"] < fcompile.COMPILE_COSINE
    assert len(calls) == 1 and "freeze" not in timed_modes  # its one call was the check


def test_pipeline_records_mode_and_notes(image_folder, tmp_path, replace_mode):
    def broken(runner, example):
        raise RuntimeError("no tracing today")

    replace_mode("freeze", broken)
    cfg = resolve(str(image_folder), FeaturizeOptions(backbones=[TINY], weights=["none"], cache=str(tmp_path / "f.h5"), workers=0, progress=False,
                          precision="fp32", compile="freeze", batch_size=4))
    s = run_featurize(cfg)
    assert s.compile[TINY] == "none" and "no tracing today" in s.compile["notes"][0]
    run = read_features(str(tmp_path / "f.h5"), s.keys[0]).runs[0]
    assert run["compile"] == {TINY: "none"} and run["compile_check"][TINY]["requested"] == "freeze"
    few = featurize(str(image_folder), backbones=[TINY], weights=["none"], cache=str(tmp_path / "g.h5"), workers=0, progress=False)
    assert "too few to repay compiling a PyTorch graph; " in few.compile["note"]
    used = few.compile[TINY]  # the note says what computed instead (it said 'eager' when OpenVINO computed)
    assert few.compile["note"].endswith(f"{TINY} on {'eager PyTorch' if used == 'none' else used}")


@pytest.mark.slow
def test_inductor_matches_eager():
    r = runner()
    x = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    rep = fcompile.choose_compile(r, x, "inductor")
    if "failed" in rep.get("inductor", {}):
        pytest.skip(f"torch.compile is not usable here: {rep['inductor']['failed']}")
    assert rep["mode"] == "inductor" and rep["inductor"]["min_cosine"] >= fcompile.COMPILE_COSINE


def test_auto_skips_modes_whose_warmup_exceeds_the_eager_run(replace_mode):
    r = runner()
    x = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    rep = fcompile.choose_compile(r, x, "auto", n_images=8)
    assert rep["mode"] == "none" and r.compiled is None
    assert all("less than the" in rep[m]["skipped"] for m in ("freeze", "inductor"))
    # a mode whose warm-up the run repays is tried and kept when faster
    calls = []

    def fast(runner, example):
        calls.append(1)
        return runner.model

    replace_mode("freeze", fast, 0.0)
    rep = fcompile.choose_compile(r, x, "auto", n_images=8)
    assert calls and "skipped" not in rep["freeze"] and "skipped" in rep["inductor"]
    # an explicit mode is honoured however few the images
    rep = fcompile.choose_compile(r, x, "freeze", n_images=1)
    assert rep["mode"] == "freeze"


def test_core_plan_gives_the_model_the_cores_workers_leave():
    from faceprobe.featurize.engine.cores import share_cores, torch_threads

    one = share_cores(False, False, 2)
    assert (one.workers, one.torch_threads) == (0, 2)
    two = share_cores(False, True, 2)
    assert (two.workers, two.torch_threads) == (1, 1)  # measured: 1.4x faster than 1 worker + 2 threads
    many = share_cores(False, False, 32)
    assert many.workers == 2 and many.torch_threads == 30
    assert share_cores(False, False, 8, workers=3).torch_threads == 5
    assert share_cores(True, False, 16).torch_threads is None and share_cores(True, False, 16).workers == 8
    before = torch.get_num_threads()
    with torch_threads(1) as n:
        assert torch.get_num_threads() == n == 1
    assert torch.get_num_threads() == before
    with torch_threads(before + 4) as n:  # a cap: never more threads than the user allowed
        assert n == before == torch.get_num_threads()


@pytest.mark.slow
def test_a_compiled_cpu_run_prints_no_cuda_home_warning(image_folder, tmp_path):
    import subprocess
    import sys

    from .conftest import TINY

    out = subprocess.run([sys.executable, "-m", "faceprobe.cli", "featurize", str(image_folder), "-b", TINY, "-w", "none",
                          "--compile", "inductor", "-c", str(tmp_path / "c.h5"), "-q", "--device", "cpu"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "CUDA_HOME" not in out.stderr and "No CUDA runtime" not in out.stderr


def test_a_warm_up_longer_than_the_run_on_the_best_candidate_found_is_not_paid():
    """Eager would take 100 s; a candidate already found runs it in 10 s: a compile whose warm-up
    alone is 20 s could not repay it even were it instant, though it is shorter than eager's 100 s."""
    report = {"none": {"seconds_per_batch": 1.0}}
    trial = ftrial.Trial(None, None, None, 100.0, 400, report)
    trial.candidates["openvino"] = 0.1
    assert trial.best_total() == ("openvino", pytest.approx(10.0))
    trial.run("inductor", 20.0, lambda: pytest.fail("built"), 0.999, "fp32")
    assert report["inductor"]["skipped"] == "400 images run 10.0 s on openvino, less than the ~20 s warm-up of inductor"
    assert trial.skipped == {"inductor": 20.0}  # remembered as skipped, for a longer run to try


def test_runtimes_are_tried_before_compiled_graphs(replace_mode, monkeypatch, tmp_path):
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))  # no choice remembered by an earlier test
    order = []
    monkeypatch.setattr(fcompile, "try_runtimes", lambda *a, **k: order.append("runtimes") and None)
    replace_mode("freeze", lambda runner, example: order.append("freeze") or runner.model, 0.0)
    replace_mode("inductor", lambda runner, example: order.append("inductor") or runner.model, 0.0)
    fcompile.choose_compile(runner(), torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8), "auto", runtime="auto")
    assert order == ["runtimes", "freeze", "inductor"]


def test_eager_in_slices_gives_the_vectors_of_whole_batches_and_short_batches_stay_whole():
    r = runner(pad_to=8)
    x = torch.randint(0, 255, (8, 3, 64, 64), dtype=torch.uint8)
    whole = r(x)
    r.chunk = 2
    np.testing.assert_allclose(r(x), whole, rtol=1e-4, atol=1e-5)
    assert r(x[:3]).shape == (3, 512)  # 2 + 1


class _SlicedClock:
    """A runner stand-in whose per-image time is set per batch size, and a clock it advances."""

    def __init__(self, per_image: dict):
        self.per_image, self.now, self.chunk, self.calls = per_image, 0.0, None, []

    def __call__(self, batch):
        n = batch.shape[0]
        size = self.chunk if self.chunk and n > self.chunk else n
        self.calls.append(n)
        self.now += n * self.per_image[size]
        return np.zeros((n, 4), np.float32)


@pytest.mark.parametrize("per_image, chunk", [({16: 0.02, 8: 0.015, 4: 0.012, 2: 0.0119}, 4),  # 2 is not 5% faster than 4
                                              ({16: 0.02, 8: 0.015, 4: 0.012, 2: 0.01, 1: 0.011}, 2),
                                              ({16: 0.01, 8: 0.012, 4: 0.01, 2: 0.01}, None)])  # whole batches are fastest
def test_eager_is_sliced_where_slices_run_faster_per_image_measured_on_few_images(monkeypatch, per_image, chunk):
    fake = _SlicedClock(per_image)
    monkeypatch.setattr(timing.time, "perf_counter", lambda: fake.now)
    report = {"seconds_per_batch": 16 * per_image[16]}
    secs = timing.slice_eager(fake, np.zeros((16, 3, 2, 2), np.uint8), 16 * per_image[16], report)
    assert fake.chunk == chunk and report.get("slice") == chunk
    assert secs == pytest.approx(16 * (per_image[chunk] if chunk else per_image[16]))
    assert max(fake.calls) <= timing.SLICE_PROBE  # timed on the first few images, never a whole batch again


def test_a_remembered_compiled_choice_is_built_checked_and_used_without_timing_the_others(replace_mode, monkeypatch, tmp_path):
    from faceprobe.featurize.engine.choices import choice_key, recall_slice, remember_choice

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))
    r = runner()
    x = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    replace_mode("inductor", lambda runner, example: pytest.fail("a candidate not remembered was built"), 0.0)
    key = choice_key(r, x, "auto", "torch", "auto", fcompile.warmup_guesses())
    remember_choice(key, {"none": (1.0, 0.0), "freeze": (0.1, 0.5)}, eager_slice=2)
    rep = fcompile.choose_compile(r, x, "auto", n_images=400, runtime="torch")
    assert rep["mode"] == "freeze" and rep["remembered"] is True and r.compile_mode == "freeze"
    assert rep["freeze"]["min_cosine"] >= fcompile.COMPILE_COSINE and r.chunk == 2
    assert recall_slice(key) == 2


@pytest.mark.parametrize("best_s, tried", [(0.15, False), (0.25, True)])
def test_a_compiled_mode_is_tried_only_where_twice_the_best_speed_would_repay_its_warm_up(best_s, tried):
    """100 batches: openvino at 0.15 s a batch runs 15 s, of which inductor at 2x would save 7.5 s,
    less than its 10 s warm-up; at 0.25 s it would save 12.5 s, so it is built."""
    report = {"none": {"seconds_per_batch": 1.0}}
    from types import SimpleNamespace

    trial = ftrial.Trial(SimpleNamespace(set_compiled=lambda *a: None), None, None, 100.0, 1600, report)
    trial.candidates["openvino"] = best_s

    def build():
        raise RuntimeError("built")

    trial.run("inductor", 10.0, build, 0.999, "fp32", bound=2.0)
    assert ("built" in report["inductor"].get("failed", "")) == tried
    if not tried:
        assert report["inductor"]["skipped"] == ("1600 images run 15.0 s on openvino; 2x faster would save 7.5 s, "
                                                 "less than the ~10 s warm-up of inductor")
        assert trial.skipped == {"inductor": pytest.approx(20.0)}  # a rerun on openvino of 20 s or more tries it


def test_eagers_slices_are_timed_only_while_eager_is_the_best_and_the_run_repays_the_timing(monkeypatch):
    timed = []
    monkeypatch.setattr(ftrial, "slice_eager", lambda runner, batch, s, rep: timed.append(s) or s / 2)
    batch = np.zeros((16, 3, 2, 2), np.uint8)
    report = {"none": {"seconds_per_batch": 0.32}}
    faster = ftrial.Trial(None, batch, None, 100.0, 1600, report)
    faster.candidates["onnxruntime"] = 0.1
    faster.slice_eager()  # a runtime already beats eager: its slices are not timed
    short = ftrial.Trial(None, batch, None, 2.0, 32, report)
    short.slice_eager()  # 0.64 s of eager: less than 4x the ~1.3 s the timing of 4 sizes on 8 images would cost
    assert timed == [] and not faster.sliced and not short.sliced
    long = ftrial.Trial(None, batch, None, 100.0, 1600, report)
    long.slice_eager()
    long.slice_eager()  # once
    assert timed == [0.32] and long.candidates["none"] == 0.16 and long.best_total() == ("none", pytest.approx(16.0))


def test_a_run_long_enough_for_a_skipped_mode_times_only_it_and_the_remembered_best(replace_mode, monkeypatch, tmp_path):
    """A short run timed eager (0.1 s a batch) and freeze, and skipped inductor (it would repay on
    6 s of eager); a run of 100 batches times eager and inductor again, and leaves freeze as remembered."""
    from faceprobe.featurize.engine.choices import choice_key, recall_retry, remember_choice

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))
    built = []
    replace_mode("freeze", lambda runner, example: built.append("freeze") or runner.model, 0.0)
    replace_mode("inductor", lambda runner, example: built.append("inductor") or runner.model, 0.0)
    r = runner()
    x = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    key = choice_key(r, x, "auto", "torch", "auto", fcompile.warmup_guesses())
    remember_choice(key, {"none": (0.1, 0.0), "freeze": (0.2, 0.5)}, {"inductor": 6.0})
    assert recall_retry(key, 40) is None and recall_retry(key, 100) == {"none", "inductor"}
    rep = fcompile.choose_compile(r, x, "auto", n_images=400, runtime="torch")
    assert built == ["inductor"] and rep["retimed"] == ["inductor", "none"] and "freeze" not in rep
    assert rep["mode"] in ("none", "inductor") and "remembered" not in rep


def test_a_compiled_mode_is_not_tried_where_the_best_is_already_beyond_its_reach_over_eager():
    # freeze (at most ~2x eager) was traced and timed on every first run, though onnxruntime ran 3.5x eager
    from faceprobe.featurize.engine.compile import COMPILE_MODES
    from faceprobe.featurize.engine.trial import Trial

    report = {"none": {"seconds_per_batch": 0.30}}
    trial = Trial(None, None, None, 100, 1600, report)
    trial.candidates["onnxruntime"] = 0.09
    assert trial.beyond_reach("freeze", COMPILE_MODES.get("freeze").eager_bound)
    assert report["freeze"]["skipped"] == "at most 2.5x eager (0.120 s a batch): not faster than onnxruntime (0.090 s)"
    trial.candidates["onnxruntime"] = 0.2  # a runtime only 1.5x eager: a compiled graph may still win
    assert not trial.beyond_reach("inductor", COMPILE_MODES.get("inductor").eager_bound)
    sliced = Trial(None, None, None, 100, 1600, {"none": {"seconds_per_batch": 0.18, "seconds_per_batch_whole": 0.30}})
    assert not sliced.beyond_reach("freeze", 2.5)  # judged against eager's whole batches, not its faster slices


def test_a_long_timed_call_is_taken_as_it_is_and_a_short_one_repeated(monkeypatch):
    import numpy as np

    from faceprobe.featurize.engine import timing

    calls = []

    def runner(batch):
        calls.append(batch)
        return np.zeros(1)

    monkeypatch.setattr(timing, "LONG_CALL_S", 0.0)  # every call counts as long
    secs, out = timing.timed(runner, "b", repeats=3)
    assert calls == ["b"] and secs >= 0 and out.shape == (1,)
    monkeypatch.setattr(timing, "LONG_CALL_S", 60.0)
    calls.clear()
    timing.timed(runner, "b", repeats=3)
    assert len(calls) == 3


def test_a_remembered_run_keeps_the_recalled_speed_timed_beside_the_others_and_updates_its_warm_up(replace_mode, monkeypatch, tmp_path):
    """One cold call on a remembered run is not weighed against the others' speeds timed together:
    only the warm-up it measured replaces the kept one, so the next run recalls the same choice."""
    from faceprobe.featurize.engine import choices

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))
    r = runner()
    x = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    replace_mode("inductor", lambda runner, example: pytest.fail("a candidate not remembered was built"), 0.0)
    key = choices.choice_key(r, x, "auto", "torch", "auto", fcompile.warmup_guesses())
    choices.remember_choice(key, {"none": (1.0, 0.0), "freeze": (1e-6, 99.0)})
    rep = fcompile.choose_compile(r, x, "auto", n_images=400, runtime="torch")
    held = choices._read()[key]["candidates"]
    assert rep["mode"] == "freeze" and rep["freeze"]["seconds_per_batch"] > 1e-6
    assert held["freeze"][0] == 1e-6 and held["freeze"][1] == rep["freeze"]["warmup_s"] != 99.0
    assert held["none"] == [1.0, 0.0] and choices.recall_choice(key, 100) == "freeze"


def test_a_warm_up_is_not_remembered_for_a_candidate_held_in_another_shape(monkeypatch, tmp_path):
    from faceprobe.featurize.engine import choices

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))
    choices._write("k", {"candidates": {"none": [1.0, 0.0], "openvino": "fast"}})
    choices.remember_warmup("k", "openvino", 0.4)
    choices.remember_warmup("k", "onnxruntime", 0.4)
    assert choices._read()["k"] == {"candidates": {"none": [1.0, 0.0], "openvino": "fast"}}


@pytest.mark.parametrize("eager_s, best_s, second_s, kept", [(0.33, 0.084, 0.30, 0.33),  # a runtime 3.9x faster: one call decides
                                                             (0.10, 0.095, 0.09, 0.09),  # within 15 %: a second call, the faster kept
                                                             (0.05, 0.095, 0.07, 0.05)])  # eager the best: the faster of two
def test_eager_is_timed_again_only_where_its_one_call_comes_close_to_the_best(monkeypatch, eager_s, best_s, second_s, kept):
    from types import SimpleNamespace

    calls = []
    monkeypatch.setattr(ftrial, "timed", lambda runner, batch, repeats=2: calls.append(runner.compiled) or (second_s, None))
    fake = SimpleNamespace(compiled="openvino", set_compiled=lambda mode, module: setattr(fake, "compiled", module))
    trial = ftrial.Trial(fake, torch.zeros(16, 3, 8, 8), None, 100, 1600, {"none": {"seconds_per_batch": eager_s}})
    trial.candidates["onnxruntime"] = best_s
    trial.recheck_eager()
    assert trial.candidates["none"] == kept and trial.report["none"]["seconds_per_batch"] == kept
    assert calls == ([] if eager_s >= 1.15 * min(best_s, eager_s) else [None])  # timed on eager, not on the last candidate built


def test_auto_holds_a_compiled_mode_to_the_speed_up_it_measured_on_this_machine(replace_mode, monkeypatch, tmp_path):
    """Every call timed at 0.01 s: freeze ties eager (1.0x), remembered for the machine. A later
    choice (another key) of 500 batches (5 s) then holds freeze to 1.5x, not the declared 2x: at
    1.5x it would save 1.7 s, less than its 2 s warm-up, so it is skipped, saying why."""
    from faceprobe.featurize.engine.choices import recall_speedups

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))
    fixed = lambda runner, batch, repeats=2: (0.01, runner(batch))  # noqa: E731
    monkeypatch.setattr(fcompile, "timed", fixed)
    monkeypatch.setattr(ftrial, "timed", fixed)
    monkeypatch.setattr(ftrial, "slice_eager", lambda runner, batch, s, rep: s)
    replace_mode("freeze", lambda runner, example: runner.model, 2.0)
    replace_mode("inductor", lambda runner, example: runner.model, 1000.0)  # never repaid here
    r, batch = runner(), torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    assert fcompile.learned_bound(r, "freeze", 2.0) == (2.0, "")  # nothing measured here yet: the declared bound
    first = fcompile.choose_compile(r, batch, "auto", 2000, runtime="torch")
    assert "seconds_per_batch" in first["freeze"] and "bound" not in first["freeze"]
    assert recall_speedups(r, "freeze") == {"resnet18": 1.0} and recall_speedups(r, "inductor") == {}
    second = fcompile.choose_compile(r, batch, "auto", 2000, runtime="torch", precision="fp32")  # another key: chosen again
    assert second["freeze"]["skipped"] == ("2000 images run 5.0 s eager; 1.5x faster would save 1.7 s, "
                                           "less than the ~2 s warm-up of freeze")
    assert second["freeze"]["bound"] == ("1.50x: 1.5 times the best freeze measured on this machine "
                                         "(1.00x the best other candidate, resnet18; 1 backbone)")
    longer = fcompile.choose_compile(r, batch, "auto", 4000, runtime="torch", precision="bf16")  # 10 s: repaid at 1.5x
    assert "seconds_per_batch" in longer["freeze"]


def test_a_learned_bound_stays_between_its_floor_and_the_declared_one(monkeypatch, tmp_path):
    from faceprobe.featurize.engine.choices import remember_speedups

    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))
    r = runner()
    remember_speedups(r, {"inductor": 0.3})
    assert fcompile.learned_bound(r, "inductor", 2.0)[0] == fcompile.LEARNED_FLOOR  # lost everywhere: still tried on long runs
    remember_speedups(r, {"inductor": 1.9})  # the same backbone measured again: the newer figure
    assert fcompile.learned_bound(r, "inductor", 2.0)[0] == 2.0  # 2.85 capped at the declared bound


def test_the_precision_checks_passes_serve_the_choice_and_are_not_computed_again(monkeypatch, tmp_path):
    """bf16 kept after the check: the runtimes are held to the check's float32 vectors (no eager
    float32 call in the choice), and a remembered choice takes eager's vectors from it too."""
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path))
    torch.manual_seed(0)
    r = FeatureRunner(load_backbone("resnet18", "none"), DeviceSetup("cpu", "bf16", False), pad_to=4)
    batch = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    calls = []
    call = FeatureRunner.__call__
    monkeypatch.setattr(FeatureRunner, "__call__", lambda self, b: calls.append(self.precision if self.compiled is None else "built") or call(self, b))
    r.check_fidelity(batch, threshold=-1.0)  # measured, kept whatever its cosine
    assert calls == ["bf16", "fp32"] and r.precision == "bf16"
    first = fcompile.choose_compile(r, batch, "auto", None, runtime="auto", precision="auto")
    assert "fp32" not in calls[2:] and "min_cosine" in first["onnxruntime"]  # held to the check's float32 vectors
    assert r.checked_on(batch) == {}  # taken once
    del calls[:]
    # a later run of the same length, with a runner of its own in bf16 (the first choice leaves this one
    # in float32 where a float32 runtime won, as on a CPU without bf16 OpenVINO)
    torch.manual_seed(0)
    r = FeatureRunner(load_backbone("resnet18", "none"), DeviceSetup("cpu", "bf16", False), pad_to=4)
    r.check_fidelity(batch, threshold=-1.0)
    again = fcompile.choose_compile(r, batch, "auto", None, runtime="auto", precision="auto")
    assert again.get("remembered") is True and set(calls[2:]) <= {"built"}  # eager's vectors from the check: only the recalled ran
    other = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    r.check_fidelity(batch, threshold=-1.0)
    assert r.checked_on(other) == {}  # another batch: nothing taken
