"""Matplotlib figures of a head's results, returned as PNG bytes (no display needed)."""

from __future__ import annotations

import io

import numpy as np

__all__ = ["class_codes", "MAX_SIDE_PX", "confusion_png", "roc_png", "scatter_png", "subject_error_png", "figure_canvas", "png_bytes"]


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes (110 dpi, tight)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def figure_canvas(size):
    """A figure with its own Agg canvas: no pyplot, so the process's backend (Jupyter's inline
    one, say) and pyplot's figure list are left alone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


MAX_SIDE_PX = 1600
"""No figure of a report is wider or taller than this (at the 110 dpi of :func:`png_bytes`)."""
LABEL_CHARS = 16


def class_codes(classes: list[str]) -> tuple[list[str], bool]:
    """Axis labels for ``classes``: the names, or numbers (``1``, ``2``, ...) when there are more
    than 20 classes or a name is longer than 16 characters; True when numbers stand in (the
    report prints the legend)."""
    coded = len(classes) > 20 or any(len(str(c)) > LABEL_CHARS for c in classes)
    return ([str(i + 1) for i in range(len(classes))] if coded else [str(c) for c in classes]), coded


def confusion_png(confusion: list[list[int]], classes: list[str], title: str) -> bytes:
    """Heatmap of a confusion matrix normalised by row (true class), with counts written in (up to
    30 classes). Bounded to :data:`MAX_SIDE_PX` a side; many or long class names become numbers
    (:func:`class_codes`)."""
    cm = np.asarray(confusion, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(classes)
    labels, _ = class_codes(classes)
    side = (MAX_SIDE_PX / 110) * 0.85  # inches, leaving room for the colour bar and the tight box
    cell = min(0.75, (side - 1.2) / max(n, 1))
    fig, ax = figure_canvas((1.2 + cell * n, 1.0 + cell * 0.93 * n))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    font = max(4, min(9, int(cell * 14)))
    ax.set_xticks(range(n), labels, rotation=45 if n <= 20 else 90, ha="right" if n <= 20 else "center", fontsize=font)
    ax.set_yticks(range(n), labels, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", color="white" if frac[i, j] > 0.5 else "black", fontsize=min(8, font))
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    return png_bytes(fig)


def roc_png(y_true: list[str], scores: list[list[float]], classes: list[str], title: str) -> bytes:
    """One-vs-rest ROC curve per class from scores pooled over test folds."""
    from sklearn.metrics import auc, roc_curve

    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=float)
    fig, ax = figure_canvas((5, 4.2))
    labels, _ = class_codes(classes)
    for j, c in enumerate(classes):
        pos = y == c
        if pos.all() or not pos.any():
            continue
        fpr, tpr, _ = roc_curve(pos, s[:, j])
        ax.plot(fpr, tpr, label=f"{labels[j]} (AUC {auc(fpr, tpr):.2f})", linewidth=1 if len(classes) > 12 else 1.5)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_title(title)
    if len(classes) > 12:  # many classes: the legend goes below the plot, in columns
        ax.legend(fontsize=5, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=4)
    else:
        ax.legend(fontsize=8, loc="lower right")
    return png_bytes(fig)


def scatter_png(y_true: list[float], y_pred: list[float], title: str) -> bytes:
    """Predicted against true values of the pooled test predictions, with the identity line
    (points on it are perfect; a flatter cloud is regression to the mean)."""
    t, p = np.asarray(y_true, float), np.asarray(y_pred, float)
    fig, ax = figure_canvas((4.6, 4.2))
    alpha = float(np.clip(300 / max(len(t), 1), 0.08, 0.8))
    ax.scatter(t, p, s=8, alpha=alpha, color="tab:blue", edgecolors="none")
    lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_title(title)
    return png_bytes(fig)


def subject_error_png(per_subject: dict, title: str, most: int = 40) -> bytes:
    """Mean absolute error per subject (bars, worst first, at most ``most``) with each subject's
    mean signed error (bias, dots): which people the model fails, and in which direction."""
    items = sorted(per_subject.items(), key=lambda kv: -kv[1]["mae"])[:most]
    names = [k for k, _ in items]
    fig, ax = figure_canvas((max(4.0, 0.22 * len(names) + 1.5), 3.6))
    x = np.arange(len(names))
    ax.bar(x, [v["mae"] for _, v in items], color="tab:orange", label="MAE")
    ax.plot(x, [v["bias"] for _, v in items], "o", color="black", markersize=3, label="bias (mean predicted - true)")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(x, names, rotation=90, fontsize=6)
    ax.set_ylabel("error")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return png_bytes(fig)
