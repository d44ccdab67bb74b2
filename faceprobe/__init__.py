"""faceprobe: frozen-CNN features for facial expression and pain recognition, evaluated without leaks.

The Python API (importing it loads neither torch nor scikit-learn)::

    import faceprobe
    faceprobe.compute_features("faces/", "efficientnet_lite0", "features.h5")   # featurize (torch)
    feats = faceprobe.load_features("features.h5")        # .X, .obs (DataFrame), .key
    res = faceprobe.evaluate("features.h5", head=["svm", "logreg"], cv=10)
    res.summary(); res.to_frame()
    faceprobe.evaluate(feats.X, y=labels, groups=subjects, cv=GroupKFold(5), head=[LinearDiscriminantAnalysis()])
    faceprobe.register_head("lda", build, params={...})   # usable by evaluate at once
    faceprobe.fit("features.h5", "logreg", "model.skops") # cross-validated, then trained on all rows
    faceprobe.predict("model.skops", "new_faces/")       # DataFrame
    faceprobe.evaluate("features.h5", options=faceprobe.ClassifyOptions(head="svm", cv=5))  # options as one object
    faceprobe.corpus_manifest("ckplus", "~/data/CK+").columns      # a public corpus read as published
    faceprobe.compute_features("~/data/CK+", "efficientnet_lite0", "ck.h5", corpus="ckplus")  # evaluate: its protocol
    faceprobe.runs(tag="paper")                          # every recorded run's figures (DataFrame)

Everything else is internal: the packages' modules may move between releases (a moved public
name warns with a DeprecationWarning first).
"""

from ._version import __version__

__all__ = ["__version__", "ClassifyOptions", "FeaturizeOptions", "Features", "Results", "compute_features", "corpus_manifest", "evaluate",
           "fit", "load_features", "predict", "register_corpus", "register_head", "runs"]


def __getattr__(name: str):
    # lazy, so that ``import faceprobe`` (and every CLI start) stays cheap
    if name in ("corpus_manifest", "register_corpus"):
        from . import corpora

        return getattr(corpora, name)
    if name in __all__ and name != "__version__":
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'faceprobe' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
