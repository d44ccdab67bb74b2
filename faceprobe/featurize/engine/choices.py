"""Compile and runtime choices remembered per machine, so a rerun does not time every candidate again.

``compile=auto`` and ``runtime=auto`` time each candidate on the run's first batch; on 2 cores
that took most of a 240-image run. Each faithful candidate's seconds per batch and warm-up are kept in ``choices.json`` beside the
exported graphs (:func:`~faceprobe.featurize.engine.runtimes.export_dir`), keyed by everything the timing
depends on: the backbone and its outputs and weights, the batch shape, the requested compile
mode, runtime and precision, the device, the CPU model and thread count, and the versions of
PyTorch and the runtimes. A later run with the same key builds only the candidate with the
least warm-up plus time for its own number of batches, and still checks its vectors against
eager PyTorch on its own first batch; if it fails there, every candidate is tried again. A
short run skips candidates whose warm-up it could not repay; its choice is kept with the skipped
ones and the run time at which each would repay its warm-up, so the next run of that size uses it
at once, and a run long enough to repay a skipped candidate times it and the best one remembered
again (not every candidate). Delete the file to forget every choice.
"""

from __future__ import annotations

import hashlib
import json

__all__ = ["choice_key", "recall_choice", "recall_retry", "recall_slice", "recall_slices", "remember_choice", "remember_warmup", "choices_path", "precision_key", "recall_refusal", "remember_refusal",
           "remember_speedups", "recall_speedups"]


def choices_path():
    from .runtimes import export_dir

    return export_dir().parent / "choices.json"


def _versions() -> dict:
    """The installed version of every registered runtime (None where it is not installed)."""
    from .runtimes import RUNTIMES

    out = {}
    for name, rt in RUNTIMES.items():
        if rt.build is not None:
            try:
                out[name] = rt.version()
            except Exception:  # noqa: BLE001 - not installed, or installed and broken: no version to record
                out[name] = None
    return out


def _identity(runner, batch) -> dict:
    """What every remembered decision about a backbone on this machine depends on."""
    import torch

    from ...machine import cpu_info

    b = runner.backbone
    return {"backbone": b.name, "outputs": [getattr(o, "name", str(o)) for o in b.output_list()],
            "weights": json.dumps(b.weights, sort_keys=True, default=str), "shape": list(batch.shape[1:]),
            "device": str(runner.device), "cpu": cpu_info()["model"], "torch": torch.__version__}


def _digest(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def choice_key(runner, batch, mode: str, runtime: str, precision: str, guesses: dict) -> str:
    """A digest of what the timed choice depends on; ``guesses``: every candidate's guessed
    warm-up and speed-up bound, by which a short run skipped some (other guesses, other skips)."""
    import torch

    return _digest({**_identity(runner, batch), "batch": runner.pad_to, "mode": mode, "runtime": runtime, "precision": precision,
                    "run_precision": runner.precision, "threads": torch.get_num_threads(), **_versions(), "guesses": guesses})


def _read() -> dict:
    from ...machine import read_memo

    return read_memo(choices_path())


def _weigh(key: str, batches: int) -> tuple[str, frozenset] | None:
    """The best timed candidate for a run of ``batches`` batches, and the skipped candidates this
    run could repay (None: no entry of the expected shape)."""
    value = _read().get(key)
    if not isinstance(value, dict) or not isinstance(value.get("candidates"), dict):
        return None
    try:  # an entry of another shape (another version, edited by hand) is not trusted: timed again
        cost = {str(name): float(w) + batches * float(s) for name, (s, w) in value["candidates"].items()}
        per_batch = {str(name): float(s) for name, (s, _) in value["candidates"].items()}
        skipped = {str(n): float(g) for n, g in (value.get("skipped") or {}).items()}
    except (TypeError, ValueError, AttributeError):
        return None
    if not cost:
        return None
    best = min(cost, key=cost.get)
    return best, frozenset(n for n, break_even in skipped.items() if break_even < batches * per_batch[best])


def recall_choice(key: str, batches: int) -> str | None:
    """The candidate to use for ``key`` on a run of ``batches`` batches (None: time them here).

    Each faithful candidate timed earlier (eager ``none`` included) is weighed by its warm-up
    plus ``batches`` times its seconds per batch, so a short run does not pay a long compile.
    None also when a candidate skipped by an earlier, shorter run could repay its warm-up on
    this one (this run's time on the best candidate timed reaches the time it was skipped under):
    :func:`recall_retry` says which to time.
    """
    weighed = _weigh(key, batches)
    return weighed[0] if weighed and not weighed[1] else None


def recall_retry(key: str, batches: int) -> frozenset | None:
    """What to time on a run long enough to repay candidates an earlier run skipped: the best
    candidate timed then (checked and timed again) and those skipped ones; None: every candidate
    (nothing remembered, or nothing skipped that this run could repay)."""
    weighed = _weigh(key, batches)
    return frozenset({weighed[0], *weighed[1]}) if weighed and weighed[1] else None


def _write(key: str, value: dict) -> None:
    """Set ``key`` in the file (written atomically; a file that cannot be written is left alone)."""
    from ...machine import write_memo

    write_memo(choices_path(), key, value)


def remember_choice(key: str, candidates: dict, skipped: dict | None = None, eager_slice: int | None = None,
                    slices: dict | None = None) -> None:
    """Keep the faithful candidates' ``{name: (seconds_per_batch, warmup_s)}`` for ``key``, merged
    with what was kept, and ``skipped``: ``{name: break-even s}`` of candidates a short run
    did not try (a candidate timed since is no longer skipped), the slice eager PyTorch ran
    fastest in (0: whole batches; None: not timed now, the kept one stays), and ``slices``:
    ``{candidate: slice}`` of runtimes that run a batch in slices (0: whole), merged likewise."""
    held = _read().get(key)
    held = held if isinstance(held, dict) else {}
    old = held.get("candidates") if isinstance(held.get("candidates"), dict) else {}
    merged = {**old, **candidates}
    was = held.get("skipped") if isinstance(held.get("skipped"), dict) else {}
    left = {n: g for n, g in {**was, **(skipped or {})}.items() if n not in merged}
    eager_slice = held.get("eager_slice") if eager_slice is None else eager_slice  # 0: timed, whole batches won
    kept = {**_slices(held), **(slices or {})}
    _write(key, {"candidates": merged, **({"skipped": left} if left else {}), **({"eager_slice": eager_slice} if eager_slice else {}),
                 **({"slices": kept} if kept else {})})


def remember_warmup(key: str, name: str, warmup_s: float, slices: dict | None = None) -> None:
    """A remembered run's warm-up of the candidate it recalled (an export loaded, not made); its
    seconds per batch stay those timed beside the other candidates. A remembered run times it
    once, cold, beside the decoding thread: taken as its speed, that one call (0.18 s a batch
    against 0.12 s timed beside the others) made the next run choose another runtime, and the run
    after that choose back."""
    held = _read().get(key)
    old = held.get("candidates") if isinstance(held, dict) and isinstance(held.get("candidates"), dict) else {}
    try:
        seconds = float(old[name][0])
    except (KeyError, TypeError, ValueError, IndexError):  # not held in the expected shape: nothing to keep
        return
    remember_choice(key, {name: (seconds, warmup_s)}, slices=slices)


def _slices(value) -> dict:
    got = value.get("slices") if isinstance(value, dict) else None
    if not isinstance(got, dict):
        return {}
    return {n: s for n, s in got.items() if isinstance(s, int) and not isinstance(s, bool) and s >= 0}


def recall_slice(key: str) -> int | None:
    """The slice eager PyTorch ran fastest in when ``key`` was timed (None: whole batches)."""
    value = _read().get(key)
    got = value.get("eager_slice") if isinstance(value, dict) else None
    return got if isinstance(got, int) and not isinstance(got, bool) and got > 0 else None


def recall_slices(key: str | None) -> dict:
    """``{candidate: slice}`` (0: whole batches) of the runtimes timed in slices under ``key``
    (a value of the wrong type is not recalled: the slice is chosen again)."""
    return _slices(_read().get(key)) if key else {}


def precision_key(runner, batch) -> str:
    """A digest of what ``precision=auto``'s check of a reduced precision depends on."""
    return _digest({**_identity(runner, batch), "check": "precision", "precision": runner.precision})


def recall_refusal(key: str) -> float | None:
    """The cosine at which this reduced precision was refused here before (None: not refused)."""
    value = _read().get(key)
    try:
        return float(value["refused_at"]) if isinstance(value, dict) and "refused_at" in value else None
    except (TypeError, ValueError):  # not a number: checked again
        return None


def remember_refusal(key: str, cosine: float) -> None:
    """Keep that a reduced precision was refused (only refusals are kept: a kept precision is checked on every run)."""
    _write(key, {"refused_at": cosine})


def _machine_key(runner) -> str:
    """A digest of the machine a compiled mode's speed-ups were measured on (not the backbone)."""
    import torch

    from ...machine import cpu_info

    return _digest({"measured": "compiled modes against the best other candidate", "device": str(runner.device),
                    "cpu": cpu_info()["model"], "threads": torch.get_num_threads(), "torch": torch.__version__})


def recall_speedups(runner, mode: str) -> dict:
    """``{backbone: speed-up}`` of compiled ``mode`` over the best other candidate, as measured
    on this machine by earlier choices (values of the wrong type are left out)."""
    held = _read().get(_machine_key(runner))
    got = held.get(mode) if isinstance(held, dict) else None
    if not isinstance(got, dict):
        return {}
    return {str(b): float(v) for b, v in got.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0}


def remember_speedups(runner, measured: dict) -> None:
    """Keep ``{mode: speed-up}`` measured for this runner's backbone (a compiled mode's seconds
    per batch against the best other candidate's), merged with what this machine measured before."""
    if not measured:
        return
    key = _machine_key(runner)
    held = _read().get(key)
    held = held if isinstance(held, dict) else {}
    name = runner.backbone.name
    _write(key, {**held, **{mode: {**(held.get(mode) if isinstance(held.get(mode), dict) else {}), name: round(v, 4)}
                            for mode, v in measured.items()}})
