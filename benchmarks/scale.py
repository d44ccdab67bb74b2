"""Heads at corpus scale: fit + predict time and memory of svm, logreg, knn and mlp against training
set size, per engine, beside plain scikit-learn on the same rows and cores; prints one JSON object.

The corpus (benchmarks/scale_data.py): FER-format 48 x 48 grey faces drawn from the dev faces
with random crops, flips and noise, training and test people disjoint, featurized once with
efficientnet_lite0 (1,280-d). Training sets of 5k, 10k, 20k, 28k and 40k rows are prefixes of
one drawn list; the test set (3,500 rows) is the same for all. Rows are standardised on the
training rows, as classify does.

Each measurement runs in a fresh process (its peak resident memory is its own):

* ``plain``: the head's scikit-learn estimator as a user would run it (BLAS on every core);
* ``sklearn``: faceprobe's scikit-learn engine with ``cores`` threads (svm's one-vs-one pairs,
  knn's row blocks; logreg and mlp single-threaded BLAS, as in classify, for identical numbers);
* ``onedal``: faceprobe's oneDAL engine (scikit-learn-intelex) with ``cores`` threads.

Agreement is the share of test predictions equal to ``plain``'s at the same size. The growth
exponent b of time = a n^b is fitted per head and engine over the sizes measured. Finally the
default ``classify --head svm,knn,logreg,mlp`` runs end to end on the 28k split (engine auto).

Usage::

    python benchmarks/scale.py [--work /tmp/faceprobe-scale] [--sizes 5000,10000,20000,28000,40000]
        [--plain-max 28000] [--out FILE] [--plot docs/scale.png]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
HEADS = ("svm", "logreg", "knn", "mlp")


def _rows(cache: str):
    """Standardisation-ready training rows (in drawn order) and test rows of the scale cache."""
    from faceprobe.classify.data.dataset import load_dataset

    ds = load_dataset(cache)
    tier, usage = ds.columns["tier"], ds.columns["Usage"]
    line = np.array([int(p.rsplit("#", 1)[1]) for p in ds.paths])
    train = np.flatnonzero(usage != "PrivateTest")
    train = train[np.argsort(line[train], kind="stable")]
    test = np.flatnonzero(usage == "PrivateTest")
    assert set(tier[test]) == {"test"}
    return np.asarray(ds.X), ds.y, train, test


def one(cache: str, head: str, impl: str, n: int, cores: int, pred_out: str) -> dict:
    """One measurement in this process: fit on the first ``n`` training rows, predict the test rows."""
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from faceprobe.classify.fitting.folds import _fit, _scores_and_pred
    from faceprobe.classify.heads.registry import HEADS as REGISTRY
    from faceprobe.classify.heads.memory import rss_bytes

    X, y, train, test = _rows(cache)
    tr = train[:n]
    sc = StandardScaler().fit(X[tr])
    Xtr, Xte = sc.transform(X[tr]).astype(np.float32), sc.transform(X[test]).astype(np.float32)
    spec = REGISTRY.get(head)
    p = spec.merged({})
    base = rss_bytes()
    notes: set = set()
    t0 = time.perf_counter()
    if impl in ("plain", "converged"):  # what a user writes: fit, predict, then the scores ROC AUC needs
        # converged: logreg's lbfgs run to its optimum (tol 1e-8), the reference its engines are held to
        est = spec.build({**p, "tol": 1e-8, "max_iter": 100000} if impl == "converged" else p, 0)
        if spec.prepare:
            spec.prepare(est, y[tr])
        est.fit(Xtr, y[tr])
        t1 = time.perf_counter()
        pred = est.predict(Xte)
        t2 = time.perf_counter()
        est.decision_function(Xte) if hasattr(est, "decision_function") else est.predict_proba(Xte)
        t3 = time.perf_counter()
    else:  # as classify runs a head: predictions and scores together
        with threadpool_limits(limits=1):
            est = _fit(spec, p, Xtr, y[tr], 0, {}, {}, notes, run=(impl, cores))
            t1 = time.perf_counter()
            pred, _ = _scores_and_pred(spec, est, Xte, impl, notes)
        t2 = t3 = time.perf_counter()
    np.save(pred_out, np.asarray(pred).astype(str))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"head": head, "impl": impl, "n": int(n), "fit_s": round(t1 - t0, 3), "predict_s": round(t2 - t1, 3),
            "total_s": round(t2 - t0, 3), "with_scores_s": round(t3 - t0, 3), "accuracy": float(np.mean(pred == y[test])), "peak_rss_bytes": int(peak),
            "features_rss_bytes": int(base), "notes": sorted(notes)}


def _child(args, head, impl, n) -> dict:
    pred = Path(args.work) / f"pred-{head}-{impl}-{n}.npy"
    cmd = [sys.executable, __file__, "--one", head, impl, str(n), "--work", str(args.work), "--cores", str(args.cores)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return {"head": head, "impl": impl, "n": n, "error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _summarise(out: dict, heads: list[str]) -> None:
    """Agreements, growth exponents and speed ratios, from the runs (recomputed after runs are added)."""
    ok = [r for r in out["runs"] if "error" not in r]
    work = Path(out["work"])
    for r in ok:
        for ref in ("plain", "converged"):
            theirs = work / f"pred-{r['head']}-{ref}-{r['n']}.npy"
            if r["impl"] != ref and theirs.exists() and (work / f"pred-{r['head']}-{r['impl']}-{r['n']}.npy").exists():
                mine = np.load(work / f"pred-{r['head']}-{r['impl']}-{r['n']}.npy")
                r[f"agreement_with_{ref}"] = float(np.mean(mine == np.load(theirs)))
    out["growth"], out["speedup_vs_plain"] = {}, {}
    for head in heads:
        for impl in ("plain", "sklearn", "onedal"):
            out["growth"][f"{head}/{impl}"] = _exponent([(r["n"], r["total_s"]) for r in ok if r["head"] == head and r["impl"] == impl])
            for r in ok:
                if r["head"] == head and r["impl"] == impl and impl != "plain":
                    base = next((b for b in ok if b["head"] == head and b["impl"] == "plain" and b["n"] == r["n"]), None)
                    if base:  # against plain fit + predict, and against plain doing classify's work (+ scores)
                        out["speedup_vs_plain"][f"{head}/{impl}/{r['n']}"] = {
                            "fit_predict": round(base["total_s"] / r["total_s"], 2),
                            "with_scores": round(base["with_scores_s"] / r["with_scores_s"], 2)}


def _exponent(points: list[tuple[int, float]]) -> float | None:
    if len(points) < 2:
        return None
    n, t = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return round(float(np.polyfit(n, t, 1)[0]), 2)


def _cpu() -> dict:
    flags = ""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags"))
        model = next(line for line in open("/proc/cpuinfo") if line.startswith("model name")).split(":", 1)[1].strip()
    except (OSError, StopIteration):
        model = platform.processor()
    return {"model": model, "cores": len(os.sched_getaffinity(0)), "avx512f": " avx512f" in flags, "amx": " amx_tile" in flags,
            "avx512_bf16": " avx512_bf16" in flags}


def _end_to_end(args, cache: str) -> dict:
    cmd = [sys.executable, "-m", "faceprobe.cli", "classify", "-c", cache, "--head", "svm,knn,logreg,mlp", "--split-col", "Usage",
           "--train", "Training", "--test", "PrivateTest", "-q", "--json", "-"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        return {"error": out.stderr.strip()[-500:]}
    res = json.loads(out.stdout)
    return {"wall_s": round(wall, 1), "rows": res["rows"],
            "heads": {h: {"engine": r.get("engine"), "seconds": r.get("seconds"), "peak_rss_bytes": r.get("peak_rss_bytes"),
                          "accuracy": r["summary"]["accuracy"]["mean"]} for h, r in res["heads"].items()}}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="/tmp/faceprobe-scale")
    ap.add_argument("--sizes", default="5000,10000,20000,28000,40000")
    ap.add_argument("--plain-max", type=int, default=28000, help="largest size for plain scikit-learn (its svm takes minutes)")
    ap.add_argument("--sklearn-max", type=int, default=20000, help="largest size for faceprobe's scikit-learn engine")
    ap.add_argument("--heads", default=",".join(HEADS))
    ap.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--out", default=None)
    ap.add_argument("--plot", default=None)
    ap.add_argument("--one", nargs=3, metavar=("HEAD", "IMPL", "N"))
    ap.add_argument("--e2e", action="store_true", help="with --add: also rerun the default classify on the 28k split")
    ap.add_argument("--add", default=None, metavar="HEAD:IMPL:N,...", help="measure these points and add them to --out")
    ap.add_argument("--markdown", default=None, metavar="RESULTS.json", help="print a results file as a Markdown table and stop")
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return {}
    cache = str(Path(args.work) / "scale.h5")
    if args.add is not None:  # HEAD:IMPL:N,... measured now and put into --out (replacing earlier runs of the same point)
        out = json.loads(Path(args.out).read_text())
        out.setdefault("work", str(args.work))
        for item in filter(None, args.add.split(",")):
            head, impl, n = item.split(":")
            out["runs"] = [r for r in out["runs"] if (r["head"], r["impl"], r["n"]) != (head, impl, int(n))]
            out["runs"].append(_child(args, head, impl, int(n)))
            print(json.dumps(out["runs"][-1]), file=sys.stderr, flush=True)
            _summarise(out, list(HEADS))
            Path(args.out).write_text(json.dumps(out, indent=1) + "\n")  # each point kept as it comes
        if args.e2e:
            out["classify_28k_default_heads"] = _end_to_end(args, cache)
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
        if args.plot:
            plot(out, args.plot)
        return out
    if args.one:
        head, impl, n = args.one
        print(json.dumps(one(cache, head, impl, int(n), args.cores, str(Path(args.work) / f"pred-{head}-{impl}-{n}.npy"))))
        return {}
    sys.path.insert(0, str(HERE))
    from scale_data import build

    corpus = build(HERE.parent.parent / "shared" / "data" / "muxspace-dev", Path(args.work))
    runs = []
    for n in [int(v) for v in args.sizes.split(",")]:
        for head in args.heads.split(","):
            from faceprobe.classify.heads.registry import HEADS as REGISTRY

            impls = ((["plain"] if n <= args.plain_max else []) + (["sklearn"] if n <= args.sklearn_max else [])
                     + (["onedal"] if "onedal" in REGISTRY.get(head).engines else []))
            for impl in impls:
                runs.append(_child(args, head, impl, n))
                print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    out = {"benchmark": "scale", "cpu": _cpu(), "corpus": corpus, "work": str(args.work), "runs": runs}
    _summarise(out, args.heads.split(","))
    out["classify_28k_default_heads"] = _end_to_end(args, cache)
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.plot:
        plot(out, args.plot)
    return out


def markdown(out: dict) -> str:
    """The runs as a Markdown table (seconds, agreement, peak memory), for docs/benchmarks.md."""
    lines = ["| head | rows | plain fit+predict (+scores) s | faceprobe sklearn s | onedal s | onedal agrees | peak MiB plain / onedal |",
             "|---|---|---|---|---|---|---|"]
    ok = [r for r in out["runs"] if "error" not in r]
    for head in HEADS:
        for n in sorted({r["n"] for r in ok if r["head"] == head}):
            got = {r["impl"]: r for r in ok if r["head"] == head and r["n"] == n}
            plain, sk, od = got.get("plain"), got.get("sklearn"), got.get("onedal")
            cell = (f"{plain['total_s']:.1f} ({plain['with_scores_s']:.1f})" if plain else "-")
            agree = f"{100 * od['agreement_with_plain']:.2f} %" if od and "agreement_with_plain" in od else "-"
            if od and "agreement_with_converged" in od:
                agree += f" (converged: {100 * od['agreement_with_converged']:.2f} %)"
            mem = " / ".join(f"{r['peak_rss_bytes'] >> 20}" if r else "-" for r in (plain, od))
            lines.append(f"| {head} | {n:,} | {cell} | {sk['total_s']:.1f} | " if sk else f"| {head} | {n:,} | {cell} | - | ")
            lines[-1] += f"{od['total_s']:.1f} | {agree} | {mem} |" if od else f"- | - | {mem} |"
    return "\n".join(lines)


def plot(out: dict, path: str) -> None:
    """Time (fit + predict) against training rows, log-log, one panel per head."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    heads = sorted({r["head"] for r in out["runs"]}, key=HEADS.index)
    fig, axes = plt.subplots(1, len(heads), figsize=(3.2 * len(heads), 3.0), squeeze=False)
    for ax, head in zip(axes[0], heads):
        for impl, style in (("plain", "o-"), ("sklearn", "s--"), ("onedal", "^-"), ("converged", "x:")):
            pts = sorted((r["n"], r["total_s"]) for r in out["runs"] if r["head"] == head and r["impl"] == impl and "error" not in r)
            if pts:
                b = out["growth"].get(f"{head}/{impl}")
                ax.loglog(*zip(*pts), style, label=f"{impl} (n^{b})" if b is not None else impl)
        ax.set_title(head)
        ax.set_xlabel("training rows")
        ticks = sorted({r["n"] for r in out["runs"]})
        ax.set_xticks(ticks, [f"{t // 1000}k" for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("fit + predict (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
