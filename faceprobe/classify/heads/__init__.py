"""Heads: the registry and its parameters (``registry.py``, ``params.py``), the streamed heads for
matrices larger than memory (``streamed.py``), the shared-distance fast path for svm and knn
(``fastpath.py``, ``votes.py``) and memory estimates (``memory.py``); engines are in
:mod:`faceprobe.classify.engines`."""

from .registry import BALANCES, HEADS, HeadSpec, head_grid, head_names, make_head, own_grid, parse_params, register_head

__all__ = ["HEADS", "HeadSpec", "register_head", "make_head", "parse_params", "head_names", "head_grid", "own_grid", "BALANCES"]
