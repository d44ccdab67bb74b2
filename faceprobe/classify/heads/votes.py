"""Predictions read off a head's scores, equal to its ``predict`` (so they are not computed twice).

A head declares one of these as its ``from_scores`` capability (:mod:`.heads`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["first_most_probable", "libsvm_vote"]


def first_most_probable(classes: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """The first class of highest probability: ``KNeighborsClassifier.predict`` (ties go to the
    first class, as its weighted mode does)."""
    return np.asarray(classes)[np.argmax(proba, axis=1)]


def libsvm_vote(classes: np.ndarray, decision: np.ndarray) -> np.ndarray:
    """libsvm's prediction from scikit-learn's one-vs-rest decision values.

    ``SVC.decision_function`` (one-vs-rest shape) is each class's one-vs-one votes plus a
    confidence term scaled into (-1/3, 1/3), so rounding gives the votes exactly; libsvm
    predicts the first class with most votes. With two classes, the value's sign: libsvm
    votes for the second class at 0 or above.
    """
    classes = np.asarray(classes)
    decision = np.asarray(decision)
    if decision.ndim == 1:
        return classes[(decision >= 0).astype(int)]
    return classes[np.argmax(np.rint(decision), axis=1)]
