"""What is fitted on a fold's training rows before any head: the imputer (only where vectors are
missing, ``missing=impute``) and the scaler, with fused keys weighted as blocks.

A fusion ``A+B`` puts two keys' vectors side by side. Standardised column by column, a key of
1,280 columns would outweigh one of 52 by 25 to 1 in any distance or penalty, whatever either
says about the face. Dividing each key's standardised columns by the square root of its width
gives every key the same total variance (one), the block weighting of multiple factor analysis.
It is folded into the fitted scaler (its ``scale_``), so it is fitted inside training folds with
the scaler and travels with a saved model.
"""

from __future__ import annotations

import numpy as np

__all__ = ["WEIGHTING", "weight_blocks", "fitted_scaler", "fitted_prep"]

WEIGHTING = "each key's standardised columns divided by the square root of its width (unit total variance per key)"


def weight_blocks(scaler, blocks) -> object:
    """Fold the block weights of keys of widths ``blocks`` into a fitted StandardScaler (in place)."""
    if blocks and len(blocks) > 1:
        widths = np.asarray(blocks, dtype=np.int64)
        if int(widths.sum()) != len(scaler.scale_):
            raise ValueError(f"fused blocks of widths {list(blocks)} do not add up to {len(scaler.scale_)} columns")
        scaler.scale_ = scaler.scale_ * np.repeat(np.sqrt(widths.astype(np.float64)), widths)
    return scaler


def fitted_scaler(X: np.ndarray, blocks=None):
    """A StandardScaler fitted on training rows ``X``, with fused keys weighted as blocks."""
    from sklearn.preprocessing import StandardScaler

    return weight_blocks(StandardScaler().fit(X), blocks)


def fitted_prep(Xtr: np.ndarray, blocks=None, also=()) -> tuple[list, np.ndarray]:
    """The steps fitted on training rows ``Xtr`` and ``Xtr`` through them (scaled in place).

    Parameters
    ----------
    Xtr : ndarray of shape (n, d)
        A copy of the training rows (the scaler transforms it in place).
    blocks : list of int, optional
        Widths of fused keys (``Dataset.spec["blocks"]``).
    also : sequence of ndarray
        The other rows these steps will transform (test, validation): a NaN in any of them, or
        in ``Xtr``, adds an imputer of the training rows' means first (``missing=impute``).

    Returns
    -------
    (list of (name, fitted step), ndarray)
    """
    steps = []
    if np.isnan(Xtr).any() or any(a is not None and np.isnan(a).any() for a in also):
        from sklearn.impute import SimpleImputer

        steps.append(("impute", SimpleImputer(strategy="mean", keep_empty_features=True).fit(Xtr)))
        Xtr = steps[-1][1].transform(Xtr)
    steps.append(("scale", fitted_scaler(Xtr, blocks)))
    return steps, steps[-1][1].transform(Xtr, copy=False)
