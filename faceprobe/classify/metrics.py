"""Metrics of one fold: the summary rows of published tables, per-class figures, confusion."""

from __future__ import annotations

import numpy as np

__all__ = ["SUMMARY_METRICS", "confusion_metrics", "fold_metrics"]

SUMMARY_METRICS = ("accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc_ovr")


def confusion_metrics(cm: np.ndarray, classes: list[str]) -> dict:
    """Everything that follows from a confusion matrix (rows true, columns predicted).

    Summary metrics (``roc_auc_ovr`` None: it needs scores), ``per_class``, ``confusion`` and
    ``missing_in_test``; macro averages run over the classes present among the true labels.
    """
    cm = np.asarray(cm)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    n = cm.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, np.nan)
        tn = n - support - predicted + tp
        specificity = np.where(n - support > 0, tn / (n - support), np.nan)
        f1 = np.where(precision + np.nan_to_num(recall) > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = support > 0
    return {
        "accuracy": float(tp.sum() / n),
        "balanced_accuracy": float(np.mean(recall[present])),
        "precision_macro": float(np.mean(precision[present])),
        "recall_macro": float(np.mean(recall[present])),
        "f1_macro": float(np.mean(np.where(np.isnan(f1), 0.0, f1)[present])),
        "roc_auc_ovr": None,
        "per_class": {
            c: {"precision": float(precision[i]), "recall": _f(recall[i]), "specificity": _f(specificity[i]),
                "f1": _f(f1[i]), "support": int(support[i])}
            for i, c in enumerate(classes)
        },
        "confusion": cm.tolist(),
        "missing_in_test": [c for c, p in zip(classes, present) if not p],
    }


def fold_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], scores: np.ndarray | None = None) -> dict:
    """Compute a fold's metrics.

    Parameters
    ----------
    y_true, y_pred : ndarray of str, shape (n,)
    classes : list of str
        All classes of the dataset, in a fixed order (rows/columns of the confusion matrix).
    scores : ndarray of shape (n, n_classes) or None
        Decision values or probabilities, columns in ``classes`` order, for ROC AUC.

    Returns
    -------
    dict
        Summary metrics, ``per_class`` (precision, recall = sensitivity, specificity, f1,
        support) and ``confusion`` (rows true, columns predicted). Macro averages run over
        the classes present in the fold's test set; precision of a never-predicted class is 0.
    """
    from sklearn.metrics import confusion_matrix

    out = confusion_metrics(confusion_matrix(y_true, y_pred, labels=classes), classes)
    if scores is not None:
        out["roc_auc_ovr"] = roc_auc(y_true, scores, classes)
    return out


def roc_auc(y_true: np.ndarray, scores: np.ndarray, classes: list[str]) -> float | None:
    """Macro one-vs-rest ROC AUC over the classes present in ``y_true`` (scores in ``classes`` order;
    several classes: softmax of the columns present). None with fewer than two classes present."""
    from sklearn.metrics import roc_auc_score

    cols = np.flatnonzero(np.isin(np.asarray(classes, dtype=object), np.asarray(y_true, dtype=object)))
    if len(cols) < 2:
        return None
    s = scores[:, cols]
    try:
        if len(cols) == 2:
            return float(roc_auc_score(y_true == classes[cols[1]], s[:, 1] - s[:, 0]))
        s = np.exp(s - s.max(axis=1, keepdims=True))
        s /= s.sum(axis=1, keepdims=True)
        return float(roc_auc_score(y_true, s, labels=[classes[c] for c in cols], multi_class="ovr", average="macro"))
    except ValueError:
        return None


def _f(v) -> float | None:
    return None if np.isnan(v) else float(v)
