"""Feature matrices read from the cache in blocks (--max-memory): same results, clear refusals."""

import numpy as np
import pytest
from click.testing import CliRunner

from faceprobe.cache.layout import open_cache
from faceprobe.classify.heads.streamed import fit_prep
from faceprobe.classify.data.dataset import load_dataset
from faceprobe.classify.data.diskrows import DiskMatrix, RowSet, parse_size, choose_memory
from faceprobe.classify.evaluate import EvalConfig, evaluate
from faceprobe.classify.model import fit_model, load_model, save_model
from faceprobe.classify.protocols.splits import SplitSpec
from faceprobe.cli import cli
from faceprobe.errors import FaceprobeError


TINY_BUDGET = 1024  # bytes: forces the block-streamed path with the smallest blocks


def _fold_outputs(res, head):
    folds = res["heads"][head]["folds"]
    return [f["y_pred"] for f in folds], np.array([s for f in folds for s in f["scores"]])


def test_parse_size():
    assert parse_size("auto") is None
    assert parse_size("512M") == 512 << 20
    assert parse_size("1.5G") == int(1.5 * (1 << 30))
    assert parse_size("64k") == 64 << 10
    assert parse_size("2GiB") == 2 << 30
    with pytest.raises(FaceprobeError, match="max_memory=.lots.: expected auto or a size"):
        parse_size("lots")


def test_plan_counts_views_and_jobs():
    one = choose_memory(10_000, 1024, budget=1 << 40)
    assert one.in_memory and one.need >= 10_000 * 1024 * 4
    more = choose_memory(10_000, 1024, views=2, jobs=4, budget=1 << 40)
    assert more.need > 3 * one.need
    tight = choose_memory(10_000, 1024, budget=one.need - 1)
    assert not tight.in_memory and tight.block_rows >= 64


def test_blocks_read_bounded_spans_and_skip_missing_rows(tmp_path, synthetic_cache):
    cache = synthetic_cache(tmp_path / "c.h5", n_subjects=30, d=5)  # 120 rows
    with open_cache(cache) as f:
        key = next(iter(f["features"]))
        full = f["features"][key]["vectors"][()]
    rng = np.random.default_rng(1)
    rows = rng.permutation(len(full)).astype(np.int64)
    rows[[3, 17]] = -1  # a view not computed for these images
    m = DiskMatrix(str(cache), key, rows, full.shape[1], block_rows=16)
    idx = np.sort(rng.choice(len(rows), 70, replace=False))
    seen = []
    for pos, block in m.blocks(idx):
        disk = rows[idx[pos]]
        assert disk.max() - disk.min() < 16  # one read never spans more than block_rows disk rows
        np.testing.assert_array_equal(block, full[disk].astype(np.float64))
        seen.extend(pos.tolist())
    expect = [i for i, r in enumerate(rows[idx]) if r >= 0]
    assert sorted(seen) == expect and len(seen) == len(set(seen))


def test_streamed_scaler_and_pca_match_sklearn(tmp_path, synthetic_cache):
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    cache = synthetic_cache(tmp_path / "c.h5", n_subjects=40, d=12)
    ds = load_dataset(str(cache), max_memory=TINY_BUDGET)
    mem = load_dataset(str(cache))
    assert isinstance(ds.X, DiskMatrix) and isinstance(mem.X, np.ndarray)
    idx = np.arange(0, len(ds.y), 2)
    prep, used = fit_prep(RowSet([(ds.X, idx)]), pca=4)
    np.testing.assert_array_equal(used, np.arange(len(idx)))
    sc = StandardScaler().fit(mem.X[idx].astype(np.float64))
    np.testing.assert_allclose(prep.mean, sc.mean_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(prep.scale, sc.scale_, rtol=1e-10)
    pca = PCA(n_components=4).fit(sc.transform(mem.X[idx].astype(np.float64)))
    np.testing.assert_allclose(prep(mem.X[1::2].astype(np.float64)), pca.transform(sc.transform(mem.X[1::2].astype(np.float64))),
                               atol=1e-8)


@pytest.mark.parametrize("extra", [
    {},
    {"balance": "undersample", "pca": 5},
    {"augmented": True, "grid": {"k": [1, 3, 7], "C": [0.1, 1.0]}},
    {"balance": "class-weight", "heads": ["logreg"], "group": False},
])
def test_on_disk_equals_in_memory(tmp_path, extra, synthetic_cache):
    cache = str(synthetic_cache(tmp_path / "c.h5", n_subjects=15, d=16, views=("hflip",)))
    grid = {"tol": [1e-10], **extra.get("grid", {})}
    heads = extra.get("heads", ["knn", "logreg"])
    cfg = dict(heads=heads, grid=grid, split=SplitSpec(cv=3, group=extra.get("group", True), seed=3),
               balance=extra.get("balance", "none"), pca=extra.get("pca"), augmented=extra.get("augmented", False))
    views = cfg["augmented"]
    mem = evaluate(load_dataset(cache, with_views=views), EvalConfig(**cfg))
    disk_ds = load_dataset(cache, with_views=views, max_memory=TINY_BUDGET)
    assert isinstance(disk_ds.X, DiskMatrix) and any("read from disk" in n for n in disk_ds.notes)
    disk = evaluate(disk_ds, EvalConfig(**cfg))
    for head in heads:
        p_mem, s_mem = _fold_outputs(mem, head)
        p_disk, s_disk = _fold_outputs(disk, head)
        assert p_mem == p_disk, head
        np.testing.assert_allclose(s_disk, s_mem, atol=5e-3 if head == "logreg" else 1e-9)  # in memory, lbfgs runs on float32
        assert [f["params"] for f in mem["heads"][head]["folds"]] == [f["params"] for f in disk["heads"][head]["folds"]]
        assert [f["n_train"] for f in mem["heads"][head]["folds"]] == [f["n_train"] for f in disk["heads"][head]["folds"]]


def test_real_faces_on_disk_match_in_memory(real_lite0_cache):
    """Genuine ImageNet features of 240 real faces (1280 dims): knn identical, logreg within lbfgs' tolerance."""
    cache = str(real_lite0_cache)
    cfg = EvalConfig(heads=["knn", "logreg"], split=SplitSpec(cv=5, group=True))
    mem = evaluate(load_dataset(cache), cfg)
    disk_ds = load_dataset(cache, max_memory=256 << 10)
    assert isinstance(disk_ds.X, DiskMatrix) and disk_ds.X.block_rows < len(disk_ds.y)
    disk = evaluate(disk_ds, cfg)
    p_mem, s_mem = _fold_outputs(mem, "knn")
    p_disk, s_disk = _fold_outputs(disk, "knn")
    assert p_mem == p_disk
    np.testing.assert_allclose(s_mem, s_disk, atol=1e-12)
    p_mem, _ = _fold_outputs(mem, "logreg")
    p_disk, _ = _fold_outputs(disk, "logreg")
    agree = np.mean([a == b for fa, fb in zip(p_mem, p_disk) for a, b in zip(fa, fb)])
    assert agree >= 0.97  # both stop at lbfgs' default tolerance, from different float rounding
    m, d = (r["heads"]["logreg"]["summary"]["balanced_accuracy"]["mean"] for r in (mem, disk))
    assert abs(m - d) < 0.03 and d > 0.3


def test_cli_refuses_heads_that_need_memory(tmp_path, synthetic_cache, invoke):
    cache = synthetic_cache(tmp_path / "c.h5")
    out = CliRunner().invoke(cli, ["classify", "-c", str(cache), "--head", "svm,knn", "--cv", "3", "--max-memory", "1K", "-q"])
    assert out.exit_code == 1
    assert "Traceback" not in out.output and len(out.output.strip().splitlines()) == 1
    assert "svm needs the feature matrix in memory" in out.output and "--max-memory 1.0 KiB" in out.output
    assert "knn, logreg" in out.output
    ok = CliRunner().invoke(cli, ["classify", "-c", str(cache), "--head", "knn,logreg", "--cv", "3", "--max-memory", "1K", "-q",
                                  "--json", str(tmp_path / "r.json")])
    assert ok.exit_code == 0, ok.output
    assert "read from disk in blocks" in ok.output
    bad = CliRunner().invoke(cli, ["classify", "-c", str(cache), "--max-memory", "much"])
    assert bad.exit_code != 0 and "--max-memory" in bad.output and "Traceback" not in bad.output


def test_fit_logreg_from_disk_saves_a_working_pipeline(tmp_path, synthetic_cache):
    cache = str(synthetic_cache(tmp_path / "c.h5", n_subjects=15, d=16))
    cfg = EvalConfig(heads=["logreg"], grid={"tol": [1e-10]}, split=SplitSpec(cv=3, group=True), pca=6)
    disk_ds = load_dataset(cache, max_memory=TINY_BUDGET)
    mem_ds = load_dataset(cache)
    disk_model = fit_model(disk_ds, cfg, {})
    mem_model = fit_model(mem_ds, cfg, {})
    save_model(disk_model, str(tmp_path / "m.skops"))
    loaded = load_model(str(tmp_path / "m.skops"))
    X = mem_ds.X.astype(np.float64)
    np.testing.assert_allclose(loaded["pipeline"].decision_function(X), mem_model["pipeline"].decision_function(X), atol=5e-3)
    assert list(loaded["pipeline"].predict(X)) == list(mem_model["pipeline"].predict(X))
    assert disk_model["trained_rows"] == mem_model["trained_rows"] == len(mem_ds.y)
    with pytest.raises(FaceprobeError, match="knn needs the feature matrix in memory.*heads that train in blocks: logreg"):
        fit_model(disk_ds, EvalConfig(heads=["knn"], split=SplitSpec(cv=3)), {})
