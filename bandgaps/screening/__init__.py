"""Screening at scale: named models over any number of formulas or structures, on Dask.

``sources`` reads the input (a formula table, a structure collection) as fixed-size partitions
without loading it whole; ``predictors`` turns model names into columns, each model loaded once
per worker process; ``engine`` runs the partitions on ``dask.distributed`` (an embedded
``LocalCluster`` or a running scheduler) and writes each finished partition atomically, so a
run started again with the same arguments continues where it stopped.
"""

from bandgaps.screening.engine import ScreenReport, screen
from bandgaps.screening.predictors import resolve_models
from bandgaps.screening.sources import chemical_space, open_source

__all__ = [
    "ScreenReport",
    "chemical_space",
    "open_source",
    "resolve_models",
    "screen",
]
