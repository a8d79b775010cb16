"""Data layer: the snapshot catalog, the live Materials Project query, and cleaning rules."""

from bandgaps.data.catalog import CATALOG, get, load, names, path, verify

__all__ = ["CATALOG", "get", "load", "names", "path", "verify"]
