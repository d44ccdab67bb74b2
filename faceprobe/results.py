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

    @property
    def targets(self) -> list[str]:
        """The target columns of a regression run (empty for classes)."""
        return list(self.raw.get("targets") or [])

    def _metrics(self) -> tuple:
        if self.targets:
            from .classify.regression.metrics import REGRESSION_METRICS

            return tuple(REGRESSION_METRICS)
        from .classify.metrics import SUMMARY_METRICS

        return SUMMARY_METRICS

    def cell(self, head: str, key: str | None = None, target: str | None = None) -> dict:
        """One (key, head) record (of ``target``, default the first, in a regression run):
        ``summary``, ``per_class``, ``confusion`` (or ``pooled``, ``per_subject``, ``bins``), engines, cost, ``error``."""
        from .classify.records import cell

        return cell(self.raw, head, key, target)

    def to_frame(self):
        """Tidy DataFrame: one row per key, head, repeat, fold and metric (``value``; NaN where
        undefined); a regression run adds a ``target`` column and gives MAE, RMSE, r, rho, ICC and CCC."""
        import pandas as pd

        rows = []
        extra = ["target"] if self.targets else []
        for f in self.raw["folds"]:
            for metric in self._metrics():
                v = f.get(metric)
                rows.append({"key": f["key"], "head": f["head"], **({"target": f["target"]} if extra else {}), "repeat": f["repeat"],
                             "fold": f["fold"], "metric": metric, "value": float("nan") if v is None else float(v)})
        return pd.DataFrame(rows, columns=["key", "head", *extra, "repeat", "fold", "metric", "value"])

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

        cols = ["key", "head", *(["target"] if self.targets else []), "mean", "std", "folds", "p_vs_best", "p_holm", "tied", "best",
                *(["p_permutation"] if any("p_permutation" in g for g in self.raw.get("grid", [])) else [])]
        frame = pd.DataFrame(self.raw.get("grid", []), columns=cols)
        frame.insert(3 if self.targets else 2, "metric", self.raw.get("metric", ""))
        return frame

    def summary(self):
        """The table classify prints, as a DataFrame of fractions: metrics as rows and (head, mean|std)
        columns; for a study, keys as rows and (head, mean|std) columns of the grid's metric."""
        import pandas as pd

        from .report.text import ROWS

        if self.targets:
            return self._regression_summary()
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

    def _regression_summary(self):
        import pandas as pd

        data = {}
        index = pd.MultiIndex.from_product([self.targets, self._metrics()], names=["target", "metric"])
        for key in self.keys:
            for head in self.heads:
                for stat in ("mean", "std"):
                    col = (head, stat) if len(self.keys) == 1 else (key, head, stat)
                    data[col] = [None if self.cell(head, key, t)["summary"].get(m) is None else self.cell(head, key, t)["summary"][m].get(stat)
                                 for t in self.targets for m in self._metrics()]
        frame = pd.DataFrame(data, index=index)
        names = ["head", "stat"] if len(self.keys) == 1 else ["key", "head", "stat"]
        frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=names)
        return frame

    def per_subject(self, head: str, key: str | None = None, target: str | None = None):
        """A regression head's pooled test predictions per subject: ``n``, ``mae`` and ``bias`` (mean predicted - true)."""
        import pandas as pd

        return pd.DataFrame(self.cell(head, key, target).get("per_subject", {})).T.rename_axis("subject")

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
        extra = ["target"] if self.targets else []
        rows = [{"key": f["key"], "head": f["head"], **({"target": f["target"]} if extra else {}), "repeat": f["repeat"],
                 "fold": f["fold"], "path": p, "y_true": t, "y_pred": q}
                for f in self.raw["folds"] if "y_pred" in f for p, t, q in zip(f["test_paths"], f["y_true"], f["y_pred"])]
        return pd.DataFrame(rows, columns=["key", "head", *extra, "repeat", "fold", "path", "y_true", "y_pred"])

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
        if self.targets:
            return f"Results(keys={self.keys}, heads={self.heads}, rows={self.raw.get('rows')}, targets={self.targets})"
        return f"Results(keys={self.keys}, heads={self.heads}, rows={self.raw.get('rows')}, classes={len(self.classes)})"
