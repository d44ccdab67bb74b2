"""Kept for plug-ins written against the flat layout: views now live in
:mod:`faceprobe.featurize.faces.views`."""

from .faces.views import VIEWS, View, apply_view, parse_views, view_params

__all__ = ["VIEWS", "View", "apply_view", "parse_views", "view_params"]
