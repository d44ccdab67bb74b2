"""The package version (its own module, so that modules can import it without the package API)."""

__version__ = "0.1.0"
