"""Fused keys weighted as blocks: each key's standardised columns scaled to unit total variance.

A fusion ``A+B`` puts two keys' vectors side by side. Standardised column by column, a key of
1,280 columns would outweigh one of 52 by 25 to 1 in any distance or penalty, whatever either
says about the face. Dividing each key's standardised columns by the square root of its width
gives every key the same total variance (one), the block weighting of multiple factor analysis.
It is folded into the fitted scaler (its ``scale_``), so it is fitted inside training folds with
the scaler and travels with a saved model.
"""

from __future__ import annotations

import numpy as np

__all__ = ["WEIGHTING", "weight_blocks", "fitted_scaler"]

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
