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
        The flat results ``classify --json`` writes, the same for one key or many
        (:mod:`faceprobe.classify.records`): ``keys``, ``heads``, ``cells`` (per key and head:
        ``summary``, ``per_class``, ``confusion``), ``folds`` (per key, head, repeat and fold),
        ``grid``, ``metric``, ``classes``, ``rows``, ``notes`` and ``provenance``.
    """

    raw: dict

    @property
    def key(self) -> str:
        """The first (for one key: the) feature key."""
        return self.raw["keys"][0]

    @property
    def keys(self) -> list[str]:
        return list(self.raw["keys"])

    @property
    def heads(self) -> list[str]:
        return list(self.raw["heads"])

    @property
    def classes(self) -> list[str]:
        return list(self.raw["classes"])

    @property
    def notes(self) -> list[str]:
        return list(self.raw.get("notes", []))

    def cell(self, head: str, key: str | None = None) -> dict:
        """One (key, head) record: ``summary``, ``per_class``, ``confusion``, engines, cost, ``error``."""
        from .classify.records import cell

        return cell(self.raw, head, key)

    def to_frame(self):
        """Tidy DataFrame: one row per key, head, repeat, fold and metric (``value``; NaN where undefined)."""
        import pandas as pd

        from .classify.metrics import SUMMARY_METRICS

        rows = []
        for f in self.raw["folds"]:
            for metric in SUMMARY_METRICS:
                v = f.get(metric)
                rows.append({"key": f["key"], "head": f["head"], "repeat": f["repeat"], "fold": f["fold"], "metric": metric,
                             "value": float("nan") if v is None else float(v)})
        return pd.DataFrame(rows, columns=["key", "head", "repeat", "fold", "metric", "value"])

    def folds(self):
        """One row per key, head, repeat and fold: sizes, every metric, chosen parameters, engine and cost."""
        import pandas as pd

        from .classify.records import PREDICTION_FIELDS

        keep = [{k: v for k, v in f.items() if k not in PREDICTION_FIELDS + ("confusion", "per_class")} for f in self.raw["folds"]]
        return pd.DataFrame(keep)

    def grid(self):
        """The grid of keys x heads for the run's metric: mean, std, folds, p-value against the best
        cell, Holm-adjusted, tied (not significantly worse) and best, one row per cell."""
        import pandas as pd

        cols = ["key", "head", "mean", "std", "folds", "p_vs_best", "p_holm", "tied", "best"]
        frame = pd.DataFrame(self.raw.get("grid", []), columns=cols)
        frame.insert(2, "metric", self.raw.get("metric", ""))
        return frame

    def summary(self):
        """The table classify prints, as a DataFrame of fractions: metrics as rows and (head, mean|std)
        columns; for a study, keys as rows and (head, mean|std) columns of the grid's metric."""
        import pandas as pd

        from .report.text import ROWS

        if len(self.keys) > 1:
            g = self.grid()
            frame = g.pivot(index="key", columns="head", values=["mean", "std"]).swaplevel(axis=1)
            frame = frame.reindex(columns=pd.MultiIndex.from_product([self.heads, ["mean", "std"]], names=["head", "stat"]))
            return frame.reindex(self.keys)
        data = {}
        for head in self.heads:
            h = self.cell(head)
            for stat in ("mean", "std"):
                data[(head, stat)] = [None if h["summary"][m] is None else h["summary"][m][stat] for m, _ in ROWS]
        frame = pd.DataFrame(data, index=pd.Index([m for m, _ in ROWS], name="metric"))
        frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["head", "stat"])
        return frame

    def per_class(self, head: str, key: str | None = None):
        """Per-class precision, recall (sensitivity), specificity, F1 and support, pooled over test folds."""
        import pandas as pd

        return pd.DataFrame(self.cell(head, key)["per_class"]).T.rename_axis("class")

    def confusion(self, head: str, key: str | None = None):
        """Confusion matrix summed over test folds (rows true, columns predicted)."""
        import pandas as pd

        return pd.DataFrame(self.cell(head, key)["confusion"], index=pd.Index(self.classes, name="true"),
                            columns=pd.Index(self.classes, name="predicted"))

    def predictions(self):
        """Every test prediction: key, head, repeat, fold, path, true and predicted label.

        Raises
        ------
        OptionError
            When the run did not keep its predictions (``predictions=True`` keeps them).
        """
        import pandas as pd

        if not self.raw.get("predictions"):
            from .errors import OptionError

            raise OptionError("predictions", False, "this run did not keep its predictions; run it with `predictions=True`")
        rows = [{"key": f["key"], "head": f["head"], "repeat": f["repeat"], "fold": f["fold"], "path": p, "y_true": t, "y_pred": q}
                for f in self.raw["folds"] if "y_pred" in f for p, t, q in zip(f["test_paths"], f["y_true"], f["y_pred"])]
        return pd.DataFrame(rows, columns=["key", "head", "repeat", "fold", "path", "y_true", "y_pred"])

    def format(self) -> str:
        """The text tables classify prints."""
        from .report.text import format_results

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
        return f"Results(keys={self.keys}, heads={self.heads}, rows={self.raw.get('rows')}, classes={len(self.classes)})"
