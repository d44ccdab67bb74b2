"""The command line: one module per command group, the shared error handling (``common.py``) and
the docs generator (``doc.py``). The library never imports this package."""

from .main import classify_main, cli, featurize_main, main

__all__ = ["cli", "main", "featurize_main", "classify_main"]
