"""The regression task: what one evaluation does differently for a continuous target (folds fitted
and scored by :func:`~faceprobe.classify.regression.evaluate.evaluate_target`, metrics with their
direction, clips averaged, the target permuted). The run loop that applies permutations, curves,
within-corpus figures, clips and grids is classification's too (:func:`faceprobe.classify.run.run_task`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from ...errors import FaceprobeError
from .evaluate import TargetSpec, evaluate_target, target_splits
from .figures import clip_figures
from .metrics import REGRESSION_METRICS
from .targets import check_in_bins, target_values

__all__ = ["Regression", "regression_tasks", "regression_fields"]


@dataclass(frozen=True)
class Regression:
    """One target of a regression run.

    Attributes
    ----------
    column : str
        The image table's column (or ``label``) holding the target.
    metric : str
        The figure that picks hyperparameters and ranks cells, in its own direction.
    edges : tuple or None
        Bin edges: per-bin figures beside the continuous ones.
    """

    column: str
    metric: str
    edges: tuple | None = None
    regression: ClassVar[bool] = True

    @property
    def lower_is_better(self) -> bool:
        return REGRESSION_METRICS[self.metric] == "lower"

    def values(self, ds) -> np.ndarray:
        """What a permutation permutes: the target's values for the dataset's rows."""
        return target_values(ds, self.column)

    def evaluate(self, ds, cfg, values: np.ndarray | None = None) -> dict:
        """Every regressor on ``ds`` under ``cfg``'s protocol (``values``: the target replaced, as a permutation does)."""
        target = self.values(ds) if values is None else values
        return evaluate_target(ds, cfg, TargetSpec(self.column, target, self.metric, self.edges))

    def permuted(self, per_key: dict, cfg):
        """``score(dataset, values)`` of one permutation: None where it left a training fold constant."""
        quiet = replace(cfg, progress=False)

        def score(d, values):
            try:
                return self.evaluate(replace(d, notes=[]), quiet, values)
            except FaceprobeError:
                return None

        return score

    def splits(self, ds, cfg) -> list:
        return target_splits(ds, cfg)

    def clip_figures(self, head_result: dict, clip_of: dict, classes: list, repeats: int) -> dict:
        return clip_figures(head_result, clip_of, classes, repeats)

    def engines(self, per_key: dict, cfg) -> tuple[dict, list[str]]:
        """Regressors run on scikit-learn (no other engine yet): per head, and no note."""
        import sklearn

        return {h: [{"engine": "sklearn", "version": sklearn.__version__, "device": "cpu"}] for h in cfg.heads}, []

    def finish(self, res: dict, datasets: list) -> None:
        """The target named in every record, and its summary."""
        for record in res["cells"] + res["folds"] + res["grid"]:
            record["target"] = self.column
        values = self.values(datasets[0])
        res["target_summary"] = {self.column: {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                                               "min": float(values.min()), "max": float(values.max())}}


    def fit(self, ds, cfg, weights_info: dict, model_format: str) -> dict:
        """The model record of ``cfg``'s one regressor trained on every row (cross-validated first)."""
        from .model import fit_regressor

        return fit_regressor(ds, cfg, TargetSpec(self.column, self.values(ds), self.metric), weights_info, model_format)


def regression_tasks(plan, datasets: list) -> list[Regression]:
    """One task per target of the plan, each refused before any fold runs when its column is
    missing, not numeric, or outside the bins (every key has the same rows, in one order)."""
    tasks = []
    for column in plan.targets:
        values = target_values(datasets[0], column)
        if plan.bins is not None:
            check_in_bins(datasets[0], values, plan.bins, column)
        tasks.append(Regression(column, plan.metric, plan.bins))
    return tasks


def regression_fields(plan) -> dict:
    """What a regression run's results say beside the records: the task, targets, metric and its direction, bins."""
    return {"task": "regression", "targets": list(plan.targets), "metric": plan.metric,
            "direction": REGRESSION_METRICS[plan.metric], "bins": None if plan.bins is None else list(plan.bins)}
