"""Data layer: the snapshot catalog, the one table resolver, the live Materials Project query,
and cleaning rules."""

from bandgaps.data.catalog import CATALOG, get, names, path, verify
from bandgaps.data.tables import load_table as load

__all__ = ["CATALOG", "get", "load", "names", "path", "verify"]
