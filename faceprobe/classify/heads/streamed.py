"""knn and logreg on feature rows streamed from the cache in blocks (matrices larger than memory).

Everything that learns is still fitted on the training fold only, in passes over its blocks:
the scaler (per-block means and squared deviations, combined exactly), PCA (the covariance of
the scaled rows, accumulated block by block, then its eigenvectors), and the heads. knn keeps
the k nearest training rows of each test row while the training blocks stream past (ties go to
the earlier training row). logreg minimises scikit-learn's own objective (the same L2 penalty
scaled by C, lbfgs with the same options) with one pass over the blocks per loss evaluation, so
it converges to the model that :class:`sklearn.linear_model.LogisticRegression` would fit in
memory. Heads carry these as their ``streamed`` capability (see :mod:`.heads`); other heads
need the whole matrix at once and are refused before any work starts. Parameters ``p`` hold
every parameter of the head (defaults merged).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from ...errors import FaceprobeError, OptionError
from ..data.diskrows import RowSet

__all__ = ["Prep", "fit_prep", "knn_predict", "logreg_fit", "logreg_pipeline", "knn_streamed", "logreg_streamed",
           "logreg_streamed_pipeline"]


@dataclass
class Prep:
    """Standard scaling, then an optional PCA projection, fitted on training rows."""

    mean: np.ndarray
    scale: np.ndarray
    pca_mean: np.ndarray | None = None
    components: np.ndarray | None = None
    explained_variance: np.ndarray | None = None
    n_samples: int = 0

    def __call__(self, X: np.ndarray) -> np.ndarray:
        Z = (X - self.mean) / self.scale
        if self.components is not None:
            Z = (Z - self.pca_mean) @ self.components.T
        return Z


def fit_prep(rows: RowSet, pca: int | None = None) -> tuple[Prep, np.ndarray]:
    """Fit the scaler (and PCA) in passes over ``rows``.

    Returns
    -------
    prep : Prep
    used : ndarray of int
        Positions of the rows that were read (missing or non-finite rows are left out).
    """
    n, mean, m2, used = 0, None, None, []
    for pos, X in rows.blocks():  # Chan et al.'s pairwise update of mean and squared deviations
        nb = len(X)
        if not nb:
            continue
        bm = X.mean(axis=0)
        bm2 = ((X - bm) ** 2).sum(axis=0)
        if mean is None:
            n, mean, m2 = nb, bm, bm2
        else:
            delta = bm - mean
            tot = n + nb
            mean = mean + delta * nb / tot
            m2 = m2 + bm2 + delta**2 * n * nb / tot
            n = tot
        used.append(pos)
    if not n:
        raise FaceprobeError("no finite training rows in this fold")
    scale = np.sqrt(m2 / n)
    scale[scale < 10 * np.finfo(np.float64).eps] = 1.0
    prep = Prep(mean=mean, scale=scale, n_samples=n)
    if pca:
        d = len(mean)
        cov, total = np.zeros((d, d)), np.zeros(d)
        for _, X in rows.blocks():
            Z = prep(X)
            cov += Z.T @ Z
            total += Z.sum(axis=0)
        mu = total / n
        cov = (cov - n * np.outer(mu, mu)) / max(n - 1, 1)
        vals, vecs = np.linalg.eigh(cov)
        top = np.argsort(vals)[::-1][:pca]
        comps = vecs[:, top].T
        signs = np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])  # sklearn's svd_flip
        prep.pca_mean, prep.components = mu, comps * signs[:, None]
        prep.explained_variance = vals[top]
    return prep, np.sort(np.concatenate(used))


# ------------------------------------------------------------------ knn


def _distances(A: np.ndarray, B: np.ndarray, metric: str) -> np.ndarray:
    if metric == "cosine":
        na = np.linalg.norm(A, axis=1)
        nb = np.linalg.norm(B, axis=1)
        na[na == 0], nb[nb == 0] = 1.0, 1.0
        return np.clip(1.0 - (A / na[:, None]) @ (B / nb[:, None]).T, 0.0, 2.0)
    d = (A * A).sum(axis=1)[:, None] + (B * B).sum(axis=1)[None, :] - 2.0 * A @ B.T
    return np.sqrt(np.maximum(d, 0.0))


def knn_predict(params: dict, train: RowSet, y_fit: np.ndarray, test: RowSet, prep: Prep):
    """k nearest training rows of each test row, training blocks streamed past each test block.

    Returns
    -------
    classes, pred, proba
        As :class:`sklearn.neighbors.KNeighborsClassifier` would give (``proba`` in
        ``classes`` order).
    """
    p = params
    k, metric = int(p["k"]), p["metric"]
    if metric not in ("euclidean", "cosine"):
        raise OptionError("params", f"metric={metric}", "out-of-core knn takes euclidean or cosine")
    classes, codes = np.unique(y_fit, return_inverse=True)
    if k > len(y_fit):
        raise FaceprobeError(f"knn: k={k} is more than the {len(y_fit)} training rows")
    n_test = len(test)
    proba = np.zeros((n_test, len(classes)))
    for te_pos, Xte in test.blocks():
        Zte = prep(Xte)
        best_d = np.full((len(Zte), k), np.inf)
        best_i = np.full((len(Zte), k), np.iinfo(np.int64).max, dtype=np.int64)
        for tr_pos, Xtr in train.blocks():
            D = _distances(Zte, prep(Xtr), metric)
            if D.shape[1] > k:
                part = np.argpartition(D, k - 1, axis=1)[:, :k]
                D, idx = np.take_along_axis(D, part, axis=1), tr_pos[part]
            else:
                idx = np.broadcast_to(tr_pos, D.shape)
            cand_d, cand_i = np.hstack([best_d, D]), np.hstack([best_i, idx])
            order = np.lexsort((cand_i, cand_d), axis=1)[:, :k]
            best_d, best_i = np.take_along_axis(cand_d, order, axis=1), np.take_along_axis(cand_i, order, axis=1)
        if p["weights"] == "distance":
            zero = best_d == 0
            with np.errstate(divide="ignore"):
                w = np.where(zero.any(axis=1, keepdims=True), zero.astype(float), 1.0 / best_d)
        else:
            w = np.ones_like(best_d)
        votes = np.zeros((len(Zte), len(classes)))
        np.add.at(votes, (np.repeat(np.arange(len(Zte)), k), codes[best_i].ravel()), w.ravel())
        proba[te_pos] = votes / votes.sum(axis=1, keepdims=True)
    return classes, classes[np.argmax(proba, axis=1)], proba


# ------------------------------------------------------------------ logistic regression


@dataclass(frozen=True)
class _LossProblem:
    """What the logistic loss reads: the training rows (in blocks), their class codes and sample
    weights, the scaler/PCA to apply, the L2 strength, and a counter of passes over the rows."""

    rows: RowSet
    codes: np.ndarray
    sw: np.ndarray
    n_classes: int
    dim: int
    prep: Prep
    l2: float
    counter: list


def _loss_grad(w: np.ndarray, problem: _LossProblem) -> tuple[float, np.ndarray]:
    """scikit-learn's LinearModelLoss (half binomial or half multinomial), one pass over the blocks."""
    rows, codes, sw, n_classes, dim, prep, l2 = (problem.rows, problem.codes, problem.sw, problem.n_classes, problem.dim,
                                                 problem.prep, problem.l2)
    problem.counter[0] += 1
    binary = n_classes == 2
    K = 1 if binary else n_classes
    W = w.reshape(K, dim + 1)
    coef, b = W[:, :dim], W[:, dim]
    loss, grad = 0.0, np.zeros_like(W)
    for pos, X in rows.blocks():
        Z = prep(X)
        raw = Z @ coef.T + b
        s, y = sw[pos], codes[pos]
        if binary:
            r = raw[:, 0]
            loss += float(s @ (np.logaddexp(0.0, r) - y * r))
            g = (s * (1.0 / (1.0 + np.exp(-r)) - y))[:, None]
        else:
            top = raw.max(axis=1, keepdims=True)
            lse = top[:, 0] + np.log(np.exp(raw - top).sum(axis=1))
            loss += float(s @ (lse - raw[np.arange(len(y)), y]))
            g = np.exp(raw - lse[:, None])
            g[np.arange(len(y)), y] -= 1.0
            g *= s[:, None]
        grad[:, :dim] += g.T @ Z
        grad[:, dim] += g.sum(axis=0)
    total = sw.sum()
    loss, grad = loss / total, grad / total
    loss += 0.5 * l2 * float((coef * coef).sum())
    grad[:, :dim] += l2 * coef
    return loss, grad.ravel()


def logreg_fit(params: dict, rows: RowSet, y_fit: np.ndarray, prep: Prep, dim: int, *,
               class_weight: str | None = None) -> SimpleNamespace:
    """Multinomial (binomial for two classes) L2 logistic regression by lbfgs over streamed blocks.

    Returns
    -------
    SimpleNamespace
        ``classes_``, ``coef_`` (K x dim, 1 x dim for two classes), ``intercept_``,
        ``n_iter_`` and ``passes`` (reads of the training rows).
    """
    from scipy.optimize import minimize

    p = params
    classes, codes = np.unique(y_fit, return_inverse=True)
    sw = np.ones(len(codes))
    if class_weight == "balanced":
        counts = np.bincount(codes, minlength=len(classes))
        sw = (len(codes) / (len(classes) * counts))[codes]
    K = 1 if len(classes) == 2 else len(classes)
    l2 = 1.0 / (float(p["C"]) * sw.sum())
    counter = [0]
    res = minimize(_loss_grad, np.zeros(K * (dim + 1)), method="L-BFGS-B", jac=True,
                   args=(_LossProblem(rows, codes.astype(np.float64) if K == 1 else codes, sw, len(classes), dim, prep, l2, counter),),
                   options={"maxiter": int(p["max_iter"]), "maxls": 50, "gtol": float(p["tol"]), "ftol": 64 * np.finfo(float).eps})
    W = res.x.reshape(K, dim + 1)
    return SimpleNamespace(classes_=classes, coef_=W[:, :dim], intercept_=W[:, dim], n_iter_=int(res.nit), passes=counter[0])


def logreg_decision(model: SimpleNamespace, rows: RowSet, prep: Prep) -> np.ndarray:
    """Decision values of ``rows`` (1-d for two classes, as scikit-learn gives them)."""
    out = np.zeros((len(rows), len(model.coef_)))
    for pos, X in rows.blocks():
        out[pos] = prep(X) @ model.coef_.T + model.intercept_
    return out[:, 0] if len(model.coef_) == 1 else out


def logreg_pipeline(prep: Prep, model: SimpleNamespace, params: dict):
    """The fitted scaler, PCA and logistic regression as a scikit-learn Pipeline (for ``fit``)."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    p = params
    d = len(prep.mean)
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.var_ = prep.mean, prep.scale, prep.scale**2
    scaler.n_features_in_, scaler.n_samples_seen_ = d, prep.n_samples
    steps = [("scale", scaler)]
    if prep.components is not None:
        pca = PCA(n_components=len(prep.components))
        pca.components_, pca.mean_, pca.explained_variance_ = prep.components, prep.pca_mean, prep.explained_variance
        pca.n_components_, pca.n_features_in_ = len(prep.components), d
        steps.append(("pca", pca))
    head = LogisticRegression(C=float(p["C"]), max_iter=int(p["max_iter"]), tol=float(p["tol"]))
    head.classes_, head.coef_, head.intercept_ = model.classes_, model.coef_, model.intercept_
    head.n_features_in_, head.n_iter_ = model.coef_.shape[1], np.array([model.n_iter_])
    steps.append(("head", head))
    return Pipeline(steps)


# ------------------------------------------------------------------ the heads' streamed capability


def knn_streamed(p: dict, fit_rows: RowSet, y_fit: np.ndarray, pred_rows: RowSet, prep: Prep, dim: int,
                 class_weight: str | None):
    """knn's ``streamed`` capability: (estimator stand-in, predictions, probabilities)."""
    classes, pred, proba = knn_predict(p, fit_rows, y_fit, pred_rows, prep)
    return SimpleNamespace(classes_=classes), pred, proba


def logreg_streamed(p: dict, fit_rows: RowSet, y_fit: np.ndarray, pred_rows: RowSet, prep: Prep, dim: int,
                    class_weight: str | None):
    """logreg's ``streamed`` capability: (fitted coefficients, predictions, decision values)."""
    model = logreg_fit(p, fit_rows, y_fit, prep, dim, class_weight=class_weight)
    raw = logreg_decision(model, pred_rows, prep)
    pred = model.classes_[(raw > 0).astype(int)] if raw.ndim == 1 else model.classes_[np.argmax(raw, axis=1)]
    return model, pred, raw


def logreg_streamed_pipeline(p: dict, rows: RowSet, y_fit: np.ndarray, prep: Prep, dim: int, class_weight: str | None):
    """logreg fitted by passes over ``rows``, as a scikit-learn Pipeline (what ``fit`` saves)."""
    return logreg_pipeline(prep, logreg_fit(p, rows, y_fit, prep, dim, class_weight=class_weight), p)
