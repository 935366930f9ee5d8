"""The package's version: written here once, read by pyproject.toml, run records and the package."""

__version__ = "0.2.0"
