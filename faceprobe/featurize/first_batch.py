"""The checks a featurize run makes on its first batch of real faces: whether reduced precision
is faithful for each backbone, and which compile mode or runtime computes it (fastest faithful).

``m`` is the run's loaded models (``compute._Models``): its runners, the transform each uses
and the requests each serves. Outcomes are recorded in the run's provenance record ``run``.
"""

from __future__ import annotations

import uuid

__all__ = ["check_precision", "choose_compile_or_runtime", "prepared", "report_precision", "switch_to_prepared", "never_prepared"]


def check_precision(m, tensors, run: dict, explicit: bool = False) -> list[str]:
    """Measure every backbone's reduced precision against fp32 on the first batch of real images
    (every output of it: pooled vector and layers), by one gate (cosine
    :data:`~faceprobe.featurize.engine.runner.FIDELITY_COSINE`). ``precision="auto"`` keeps it
    only where it passes; an explicit ``precision`` is what the user asked for, so it is kept,
    with a warning giving the measured cosine where it fails. The outcome is recorded in the
    run's provenance; returns the warnings."""
    from .engine.choices import precision_key, recall_refusal, remember_refusal
    from .engine.runner import FIDELITY_COSINE

    checks, warnings = {}, []
    for rid, runner in m.runners.items():
        batch = tensors[0][m.t_index[rid]][:32]
        if explicit and runner.precision != "fp32":
            cos = runner.check_fidelity(batch, threshold=-1.0)  # measured, never switched
            checks[rid] = {"min_cosine_to_fp32": round(cos, 6), "kept": True, "explicit": True, "passes_gate": cos >= FIDELITY_COSINE}
            if cos < FIDELITY_COSINE:
                warnings.append(f"{rid}: `precision={runner.precision}` as asked, but its vectors are at cosine {cos:.4f} to fp32 "
                                f"(the gate is {FIDELITY_COSINE}); `precision=auto` would compute this backbone in fp32")
            continue
        key = precision_key(runner, batch) if runner.precision != "fp32" else None
        refused = recall_refusal(key) if key else None
        if refused is not None:  # refused on this machine before: not timed again (a kept one is checked every run)
            checks[rid] = {"min_cosine_to_fp32": round(refused, 6), "kept": False, "remembered": True}
            runner.precision = "fp32"
            continue
        cos = runner.check_fidelity(batch)
        if cos is not None:
            checks[rid] = {"min_cosine_to_fp32": round(cos, 6), "kept": runner.precision != "fp32"}
            if runner.precision == "fp32":
                remember_refusal(key, cos)
    run["precision_check"] = checks
    run["precision_by_backbone"] = _precisions(m)
    return warnings


def report_precision(m, report, *, switched: bool = False) -> None:
    """Set the summary's precision to what the runners compute in now (a runtime chosen may compute
    in float32 where eager PyTorch would have in bf16): one precision, or each runner's. After a
    switch to runtimes prepared beside the run (``switched``), a change keeps what the rows before
    it were computed in: ``bf16, then fp32``."""
    precisions = sorted({r.precision for r in m.runners.values()})
    now = precisions[0] if len(precisions) == 1 else ",".join(f"{rid}={r.precision}" for rid, r in m.runners.items())
    before = report.precision
    if switched and before:
        report.precision = before if before.endswith(now) else f"{before}, then {now}"
    else:
        report.precision = now


def _precisions(m) -> dict:
    """Each backbone's precision as its runner computes now (a runtime may compute in another than PyTorch's)."""
    return {name: m.runners[rid].precision for rid, names in m.members.items() for name in names}


def choose_compile_or_runtime(m, tensors, run: dict, mode: str, n_images: int, report, *, runtime: str = "torch",
                    precision: str = "auto") -> None:
    """Pick each backbone's compile mode or runtime on the first batch; record it in the run's provenance."""
    from .engine.compile import choose_compile

    reports = {rid: choose_compile(r, tensors[0][m.t_index[rid]], mode, n_images, runtime=runtime, precision=precision)
               for rid, r in m.runners.items()}
    skipped = [name for name, rep in reports.items() if mode == "auto" and all("skipped" in rep.get(kind, {}) for kind in ("freeze", "inductor"))]
    if skipped:  # said with what each computed instead: a runtime may have been chosen all the same
        used = ", ".join(f"{name} on {'eager PyTorch' if reports[name]['mode'] == 'none' else reports[name]['mode']}" for name in skipped)
        report.compile["note"] = f"`compile=auto`: {n_images} images are too few to repay compiling a PyTorch graph; {used}"
    run["compile"] = {name: rep["mode"] for name, rep in reports.items()}
    run["precision_by_backbone"] = _precisions(m)
    report_precision(m, report)
    run["runtime_versions"] = _runtime_versions(reports)
    run["compile_check"] = reports
    report.compile.update(run["compile"])
    for name, rep in reports.items():
        rebuilt = rep.get("export", {}).get("reused")
        if isinstance(rebuilt, str):  # a kept export that no longer matched its record: made again
            report.compile.setdefault("notes", []).append(f"{name}: ONNX export {rebuilt}; exported again")
        if runtime not in ("auto", "torch") and rep["mode"].split("-")[0] != runtime:
            tried = [rep[k] for k in rep if k.split("-")[0] == runtime and isinstance(rep[k], dict)]
            why = (next((v.get("failed") or v.get("rejected") or v.get("skipped") for v in tried), None)
                   or rep.get("export", {}).get("failed") or rep.get("skipped") or "unknown")
            report.compile.setdefault("notes", []).append(f"{name}: `runtime={runtime}` not used ({why}); PyTorch instead")
        elif mode != "auto" and rep["mode"] != mode and rep["mode"].split("-")[0] != runtime:  # an explicit compile is PyTorch's
            why = rep.get(mode, {}).get("failed") or rep.get(mode, {}).get("rejected") or rep.get("skipped") or "unknown"
            report.compile.setdefault("notes", []).append(f"{name}: `compile={mode}` not used ({why}); eager instead")


def prepared(m, tensors) -> bool:
    """Whether a runner's runtimes, prepared beside the run, are ready to be chosen on this batch."""
    return any(r.preparing is not None and r.preparing.ready(tensors[0][m.t_index[rid]]) for rid, r in m.runners.items())


def switch_to_prepared(m, tensors, run: dict, report, *, done: int, left: int) -> dict:
    """Conclude every choice whose runtimes are ready on this batch (``done`` images computed
    before it on eager, ``left`` to come with it) and switch those runners.

    Returns the run record of the rows from this batch on: a copy of ``run`` with its own
    ``run_id`` and ``continues_run`` naming the run's first, so every cached row's record says
    which runtime computed it."""
    from .engine.compile import finish_prepared

    new = {**run, "run_id": uuid.uuid4().hex, "continues_run": run.get("continues_run", run["run_id"]),
           "compile": dict(run["compile"]), "compile_check": dict(run["compile_check"])}
    for rid, runner in m.runners.items():
        rep = finish_prepared(runner, tensors[0][m.t_index[rid]], left)
        if rep is None:
            continue
        rep["switched_after_images"] = done
        new["compile"][rid] = report.compile[rid] = rep["mode"]
        new["compile_check"][rid] = rep
        failed = rep.get("export", {}).get("failed")
        if rep["mode"] != "none":  # a runtime, or a compiled mode of PyTorch where no runtime could be used
            then = f"{rep['mode']} from then on" + (f" (no runtime: {failed})" if failed else "")
        else:
            then = f"eager PyTorch stays ({failed})" if failed else "eager PyTorch stays, the fastest faithful"
        report.compile.setdefault("notes", []).append(f"{rid}: eager PyTorch computed the first {done} images while "
                                                      f"{', '.join(rep['prepared_beside'])} were prepared beside the run; {then}")
    new["precision_by_backbone"] = _precisions(m)
    report_precision(m, report, switched=True)
    new["runtime_versions"] = _runtime_versions(new["compile_check"])
    return new


def never_prepared(m, report) -> None:
    """Say which runners the run ended on eager before their runtimes, prepared beside it, were
    ready, after waiting for the preparation to end (nothing is remembered: the next run chooses,
    its export kept)."""
    for rid, runner in m.runners.items():
        if runner.preparing is not None:
            waited = runner.preparing.preparation.wait()
            report.compile.setdefault("notes", []).append(f"{rid}: the run ended before {', '.join(runner.preparing.labels())} "
                                                          f"were ready (their preparation ended {waited:.1f} s later); "
                                                          "eager PyTorch computed every image")
            runner.preparing = None


def _runtime_versions(reports: dict) -> dict:
    """Versions of the runtimes other than PyTorch that a run uses (provenance)."""
    from .engine.runtimes import RUNTIMES

    used = {rep["mode"].split("-")[0] for rep in reports.values()}
    return {name: RUNTIMES.get(name).version() for name in sorted(used) if name in RUNTIMES and RUNTIMES.get(name).build}
