"""A first ``runtime=auto`` run starts on eager PyTorch while its runtimes are exported and built
beside it, then switches to the fastest faithful one; every row's run record says which computed it."""

from __future__ import annotations

import dataclasses
import json
from contextlib import ExitStack

import h5py
import numpy as np
import pytest

from faceprobe.featurize.engine import beside, runtimes
from faceprobe.featurize.engine.compile import COMPILE_MODES
from faceprobe.featurize.engine.runtimes import RUNTIMES

from .conftest import TINY, real_head

pytestmark = pytest.mark.skipif(bool(RUNTIMES.get("onnxruntime").missing("cpu")), reason="onnxruntime is not installed")


def _rows(cache) -> tuple[list[dict], np.ndarray, dict]:
    """The key's run records, each row's run index, and sha256 -> vector."""
    with h5py.File(cache, "r") as f:
        (key,) = list(f["features"])
        g = f["features"][key]
        return json.loads(g.attrs["runs"]), g["run"][()], dict(zip(g["sha256"].asstr()[()], g["vectors"][()]))


def _cosines(a: dict, b: dict) -> np.ndarray:
    return np.array([float(a[k] @ b[k] / np.linalg.norm(a[k]) / np.linalg.norm(b[k])) for k in a])


@pytest.fixture
def prepare_always(monkeypatch, tmp_path):
    """Runs of a few small images are far too short to repay an export: the warm-up guesses are
    zeroed so the runtimes are prepared, and ``ready`` waits for the thread, so the switch comes
    on the second batch whatever the machine's speed. Yields the preparations made."""
    monkeypatch.setenv("FACEPROBE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(runtimes, "EXPORT_GUESS_S", 0.0)
    made = []
    start = beside.Preparation.__init__

    def record(self, *a, **k):
        start(self, *a, **k)
        made.append(self)

    monkeypatch.setattr(beside.Preparation, "__init__", record)
    monkeypatch.setattr(beside.Preparation, "done", lambda self: self._thread.join() or True)
    with ExitStack() as stack:
        for name in ("onnxruntime", "openvino"):
            stack.enter_context(RUNTIMES.replaced(name, dataclasses.replace(RUNTIMES.get(name), warmup_guess_s=0.0)))
        yield made
    for prep in made:
        prep._thread.join()


def test_a_first_auto_run_starts_on_eager_and_switches_to_a_runtime_prepared_beside_it(image_folder, tmp_path, featurize_cli,
                                                                                         prepare_always):
    ref = featurize_cli(image_folder, tmp_path / "eager.h5", "--runtime", "torch", "--compile", "none", "--batch-size", 2)
    assert ref.exit_code == 0, ref.output
    r = featurize_cli(image_folder, tmp_path / "c.h5", "--batch-size", 2, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    runs, run_of_row, vectors = _rows(tmp_path / "c.h5")
    first, then = runs
    assert first["compile"] == {TINY: "none"} and first["compile_check"][TINY]["preparing"][0] == "onnxruntime"
    assert then["continues_run"] == first["run_id"] != then["run_id"]
    check = then["compile_check"][TINY]
    assert check["switched_after_images"] == 2 and "beside_the_run" in check["export"]
    assert then["compile"][TINY] == check["mode"] == summary["compile"][TINY] != "none"
    assert all("min_cosine" in check[label] for label in check["prepared_beside"])
    assert list(run_of_row) == [0, 0] + [1] * 10  # rows in the run's order: two on eager, then the runtime
    assert then["runtime_versions"][check["mode"].split("-")[0]]
    was, now = first["precision_by_backbone"][TINY], then["precision_by_backbone"][TINY]  # eager's (bf16 where native), the runtime's
    assert summary["precision"] == (now if was == now else f"{was}, then {now}")
    note = next(n for n in summary["compile"]["notes"] if "beside the run" in n)
    assert note.startswith(f"{TINY}: eager PyTorch computed the first 2 images while onnxruntime")
    _, _, eager = _rows(tmp_path / "eager.h5")
    assert _cosines(vectors, eager).min() >= 0.9999  # whichever runtime computed a row
    again = featurize_cli(image_folder, tmp_path / "again.h5", "--batch-size", 2)
    assert again.exit_code == 0, again.output
    (rerun,) = _rows(tmp_path / "again.h5")[0]
    faithful = {label for label in check["prepared_beside"] if "rejected" not in check[label]}
    assert rerun["compile_check"][TINY].get("remembered") is True and rerun["compile"][TINY] in faithful  # weighed for its length


def test_a_run_that_ends_before_its_runtimes_are_ready_says_so_and_remembers_nothing(image_folder, tmp_path, featurize_cli,
                                                                                     prepare_always, monkeypatch):
    monkeypatch.setattr(beside.Preparation, "done", lambda self: False)
    r = featurize_cli(image_folder, tmp_path / "c.h5", "--batch-size", 2, "--json")
    assert r.exit_code == 0, r.output
    notes = json.loads(r.output)["compile"]["notes"]
    assert f"{TINY}: the run ended before onnxruntime" in notes[0] and notes[0].endswith("eager PyTorch computed every image")
    (only,) = _rows(tmp_path / "c.h5")[0]
    assert only["compile"] == {TINY: "none"}
    assert not prepare_always[0]._thread.is_alive()  # waited for at the run's end: no thread outlives the run
    assert "were ready (their preparation ended " in notes[0]
    again = featurize_cli(image_folder, tmp_path / "again.h5", "--batch-size", 2)
    assert again.exit_code == 0, again.output
    (rerun,) = _rows(tmp_path / "again.h5")[0]  # nothing remembered: chosen again on the first batch, the export loaded
    check = rerun["compile_check"][TINY]
    assert "remembered" not in check and check["export"]["reused"] is True and "min_cosine" in check["onnxruntime"]
    assert len(prepare_always) == 1  # an export to load, not to make: nothing prepared beside the run


def test_a_short_or_explicit_run_prepares_nothing_beside_it(image_folder, tmp_path, featurize_cli, prepare_always):
    assert featurize_cli(image_folder, tmp_path / "a.h5", "--batch-size", 4).exit_code == 0  # 3 batches: too few to switch on
    assert featurize_cli(image_folder, tmp_path / "b.h5", "--batch-size", 2, "--runtime", "onnxruntime").exit_code == 0
    assert prepare_always == []
    assert _rows(tmp_path / "b.h5")[0][0]["compile"] == {TINY: "onnxruntime"}


@pytest.mark.real
def test_real_faces_rows_before_the_switch_are_eagers_and_after_it_within_the_gate(real_dir, tmp_path, invoke, prepare_always):
    manifest = real_head(real_dir, 64, tmp_path / "m.csv")
    common = ("featurize", manifest, "--root", real_dir / "images", "-b", "efficientnet_lite0", "--workers", 0, "-q",
              "--precision", "fp32", "--batch-size", 16)
    assert invoke(*common, "-c", tmp_path / "eager.h5", "--runtime", "torch", "--compile", "none").exit_code == 0
    assert invoke(*common, "-c", tmp_path / "c.h5").exit_code == 0
    runs, run_of_row, vectors = _rows(tmp_path / "c.h5")
    _, _, eager = _rows(tmp_path / "eager.h5")
    order = list(vectors)
    assert runs[1]["compile"]["efficientnet_lite0"] != "none" and list(run_of_row[:17]) == [0] * 16 + [1]
    assert all(np.array_equal(vectors[k], eager[k]) for k in order[:16])  # computed by eager: the same bytes
    assert _cosines({k: vectors[k] for k in order[16:]}, eager).min() >= 0.9999


def test_an_export_that_fails_beside_the_run_leaves_eager_computing_and_says_why(image_folder, tmp_path, featurize_cli,
                                                                                 prepare_always, monkeypatch):
    def refuse(*a, **k):
        raise RuntimeError("unsupported operator aten::mystery")

    monkeypatch.setattr(runtimes, "exported", refuse)
    r = featurize_cli(image_folder, tmp_path / "c.h5", "--batch-size", 2, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    mode = summary["compile"][TINY]  # eager, or a compiled mode of PyTorch where one beats eager on this CPU
    assert mode in COMPILE_MODES and summary["images"] == 12
    note = next(n for n in summary["compile"]["notes"] if "beside the run" in n)
    said = "eager PyTorch stays (" if mode == "none" else f"{mode} from then on (no runtime: "
    assert note.endswith(said + "export: RuntimeError: unsupported operator aten::mystery)")
    then = _rows(tmp_path / "c.h5")[0][-1]["compile_check"][TINY]
    assert then["export"]["failed"].startswith("export: RuntimeError") and then["mode"] == mode
    assert not any("min_cosine" in then.get(label, {}) for label in then["prepared_beside"])  # nothing built, nothing timed


def test_a_batch_that_lost_an_image_to_a_bad_file_is_not_switched_on(image_folder, tmp_path, featurize_cli, prepare_always):
    (image_folder / "Happy" / "s1_02_bad.jpg").write_bytes(b"not a jpeg")  # the second batch of 2: one image left
    r = featurize_cli(image_folder, tmp_path / "c.h5", "--batch-size", 2, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["images"] == 13 and len(summary["bad"]) == 1
    runs, run_of_row, _ = _rows(tmp_path / "c.h5")
    assert runs[1]["compile_check"][TINY]["switched_after_images"] == 3  # on the third batch, the first whole one after
    assert list(run_of_row) == [0, 0, 0] + [1] * 9


def test_the_summarys_precision_says_what_rows_before_and_after_a_switch_were_computed_in():
    """Eager PyTorch in bf16 before the switch, a float32 runtime after it: both are said, in order;
    a switch that changes nothing, or a first choice, says one."""
    from types import SimpleNamespace as NS

    from faceprobe.featurize.first_batch import report_precision

    def said(before: str, runners: dict, switched: bool) -> str:
        report = NS(precision=before)
        report_precision(NS(runners={rid: NS(precision=p) for rid, p in runners.items()}), report, switched=switched)
        return report.precision

    assert said("bf16", {"a": "fp32"}, True) == "bf16, then fp32"
    assert said("bf16", {"a": "bf16"}, True) == "bf16" and said("bf16", {"a": "fp32"}, False) == "fp32"
    assert said("bf16, then fp32", {"a": "fp32"}, True) == "bf16, then fp32"  # a second runner's switch to the same
    assert said("bf16", {"a": "fp32", "b": "bf16"}, True) == "bf16, then a=fp32,b=bf16"
    assert said("", {"a": "fp32"}, True) == "fp32"
