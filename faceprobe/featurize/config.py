"""The resolved config of a featurize run, :class:`FeaturizeConfig`: declared from the option
table and made only by :func:`~faceprobe.featurize.options.resolve` (both in
:mod:`faceprobe.featurize.options`); the stages below it import it from here."""

from __future__ import annotations

from .options import RECIPE_OPTIONS, FeaturizeConfig, parse_shard

__all__ = ["FeaturizeConfig", "parse_shard", "RECIPE_OPTIONS"]
