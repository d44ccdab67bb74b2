"""Results of an evaluation as an object a notebook can use: tidy frames, the printed table, files.

pandas is imported when a frame is asked for, so the CLI's start-up does not pay for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["Results"]


@dataclass
class Results:
    """What :func:`faceprobe.evaluate` (and ``classify``) computed, with its provenance.

    Attributes
    ----------
    raw : dict
        The nested results that ``classify --json`` writes: ``heads`` (per head ``summary``,
        ``per_class``, ``confusion`` and ``folds``), ``classes``, ``rows``, ``notes`` and
        ``provenance``.
    """

    raw: dict

    @property
    def key(self) -> str:
        return self.raw.get("provenance", {}).get("key", "")

    @property
    def heads(self) -> list[str]:
        return list(self.raw["heads"])

    @property
    def classes(self) -> list[str]:
        return list(self.raw["classes"])

    @property
    def notes(self) -> list[str]:
        return list(self.raw.get("notes", []))

    def to_frame(self):
        """Tidy DataFrame: one row per key, head, repeat, fold and metric (``value``; NaN where undefined)."""
        import pandas as pd

        from .classify.metrics import SUMMARY_METRICS

        rows = []
        for head, h in self.raw["heads"].items():
            for f in h["folds"]:
                for metric in SUMMARY_METRICS:
                    v = f.get(metric)
                    rows.append({"key": self.key, "head": head, "repeat": f["repeat"], "fold": f["fold"], "metric": metric,
                                 "value": float("nan") if v is None else float(v)})
        return pd.DataFrame(rows, columns=["key", "head", "repeat", "fold", "metric", "value"])

    def summary(self):
        """The table classify prints, as a DataFrame: metrics as rows, (head, mean|std) columns, fractions."""
        import pandas as pd

        from .classify.report import ROWS

        data = {}
        for head, h in self.raw["heads"].items():
            for stat in ("mean", "std"):
                data[(head, stat)] = [None if h["summary"][m] is None else h["summary"][m][stat] for m, _ in ROWS]
        frame = pd.DataFrame(data, index=pd.Index([m for m, _ in ROWS], name="metric"))
        frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["head", "stat"])
        return frame

    def per_class(self, head: str):
        """Per-class precision, recall (sensitivity), specificity, F1 and support, pooled over test folds."""
        import pandas as pd

        return pd.DataFrame(self.raw["heads"][head]["per_class"]).T.rename_axis("class")

    def confusion(self, head: str):
        """Confusion matrix summed over test folds (rows true, columns predicted)."""
        import pandas as pd

        return pd.DataFrame(self.raw["heads"][head]["confusion"], index=pd.Index(self.classes, name="true"),
                            columns=pd.Index(self.classes, name="predicted"))

    def predictions(self):
        """Every test prediction: head, repeat, fold, path, true and predicted label."""
        import pandas as pd

        rows = [{"head": head, "repeat": f["repeat"], "fold": f["fold"], "path": p, "y_true": t, "y_pred": q}
                for head, h in self.raw["heads"].items() for f in h["folds"]
                for p, t, q in zip(f["test_paths"], f["y_true"], f["y_pred"])]
        return pd.DataFrame(rows, columns=["head", "repeat", "fold", "path", "y_true", "y_pred"])

    def format(self) -> str:
        """The text tables classify prints."""
        from .classify.report import format_results

        return format_results(self.raw)

    def to_json(self, path: str) -> None:
        """Write every figure with its provenance (what ``classify --json`` writes)."""
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.raw, handle, indent=1, sort_keys=True, default=str)

    def report(self, path: str) -> str:
        """Write an HTML (or ``.md``) report; returns its format."""
        from .report.render import write_report

        return write_report(self.raw, path)

    def __repr__(self) -> str:
        return f"Results(key={self.key!r}, heads={self.heads}, rows={self.raw.get('rows')}, classes={len(self.classes)})"
