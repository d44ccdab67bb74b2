"""Deprecated: the streamed (out-of-core) heads moved to :mod:`faceprobe.classify.heads.streamed`.

Kept so that ``.joblib`` models pickled when the module lived here (their ``Prep`` steps name
``faceprobe.classify.chunked``) still load; importing it warns, and it will be removed in a later
release.
"""

import warnings

from .heads.streamed import Prep, fit_prep, knn_predict, logreg_fit, logreg_pipeline

__all__ = ["Prep", "fit_prep", "knn_predict", "logreg_fit", "logreg_pipeline"]

warnings.warn("faceprobe.classify.chunked moved to faceprobe.classify.heads.streamed; import it from there (this module will "
              "be removed in a later release)", DeprecationWarning, stacklevel=2)
