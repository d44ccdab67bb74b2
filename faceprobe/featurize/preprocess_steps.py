"""Kept for plug-ins written against the flat layout: preprocessing steps now live in
:mod:`faceprobe.featurize.faces.steps`."""

from .faces.steps import PREPROCESS, Step, apply_steps, equalize, parse_steps

__all__ = ["PREPROCESS", "Step", "equalize", "apply_steps", "parse_steps"]
