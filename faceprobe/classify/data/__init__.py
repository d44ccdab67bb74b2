"""The rows a classify run evaluates: the dataset built once from the cache (``dataset.py``), its
columns and filters (``columns.py``), matrices read from disk in blocks (``diskrows.py``),
within-subject normalisation (``normalize.py``) and clip-level figures (``aggregate.py``)."""
