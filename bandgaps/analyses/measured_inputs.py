"""The inputs of the measured-gap entries: composition features of each Matbench task, the PBE
reference and the MP gap lookup trained on ``mp_gap``, and the rows outside a fold's test
compositions.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from bandgaps.analyses.common import digest
from bandgaps.analyses.matbench import TASKS, MatbenchTask
from bandgaps.cache import Stage
from bandgaps.config import SEED
from bandgaps.models.transfer import (
    LARGE_DATA,
    MPGapLookup,
    PBEReference,
    composition_key,
    only_elements,
)

_PBE_REFERENCE = Stage("pbe-reference", __name__)


FEATURE_SET = "magpie+fractions"


#: The alloy system the Si–Ge sweep leaves out of every measured-gap training table.
SI_GE = ("Si", "Ge")


def _frame_digest(frame: pd.DataFrame) -> str:
    return digest(list(frame["formula"]), frame["target"].to_numpy())


def task_features(task: MatbenchTask, frame: pd.DataFrame) -> np.ndarray:
    """Composition features of every row of a task (a function of composition only).

    Args:
        task: the task.
        frame: its table.

    Returns:
        The matrix, one row per task row.
    """
    from bandgaps.features.composition import CompositionFeatures

    return CompositionFeatures(FEATURE_SET, cache=True).transform(list(frame["composition"]))


@functools.cache
def task_frame(name: str) -> pd.DataFrame:
    """A task's table, parsed once per process (``mp_gap`` alone is 106,113 formulas)."""
    return TASKS[name].load()


@functools.cache
def pbe_reference() -> PBEReference:
    """The PBE-side models, trained on every row of ``mp_gap`` (cached on disk, and read once
    per process)."""
    task = TASKS["mp_gap"]
    frame = task_frame("mp_gap")

    def compute():
        F = task_features(task, frame)
        return PBEReference(FEATURE_SET, random_state=SEED).fit_features(F, frame["target"])

    key = {"data": _frame_digest(frame), "params": LARGE_DATA, "features": FEATURE_SET}
    return _PBE_REFERENCE(key, compute)


def n_composition_features() -> int:
    from bandgaps.features.composition import CompositionFeatures

    return len(CompositionFeatures(FEATURE_SET, cache=False).feature_labels())


def composition_keys(compositions) -> np.ndarray:
    """Each composition's ``composition_key`` as text (equal for ``SiGe`` and
    ``Si0.5Ge0.5``), for grouping and set membership.

    Args:
        compositions: pymatgen compositions.

    Returns:
        An object array of keys, one per composition.

    Examples:
        >>> from pymatgen.core import Composition
        >>> a, b = composition_keys([Composition("SiGe"), Composition("Si0.5Ge0.5")])
        >>> a == b
        True
    """
    return np.array([str(composition_key(c)) for c in compositions], dtype=object)


def rows_outside(frame: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Mask of ``frame`` rows whose composition is in none of ``test``'s rows (the filter that
    keeps a related task's labels of test compositions out of a fold's training).

    Args:
        frame: extra rows.
        test: a fold's test rows.

    Returns:
        A boolean mask of ``frame``.

    Examples:
        >>> from pymatgen.core import Composition
        >>> f = pd.DataFrame({"composition": [Composition("SiGe"), Composition("GaAs")]})
        >>> t = pd.DataFrame({"composition": [Composition("Si0.5Ge0.5")]})
        >>> rows_outside(f, t).tolist()
        [False, True]
    """
    banned = {composition_key(c) for c in test["composition"]}
    return np.array([composition_key(c) not in banned for c in frame["composition"]], bool)


def outside_test(frame: pd.DataFrame, F: np.ndarray, test: pd.DataFrame):
    """A related task's feature rows and targets whose compositions are in none of ``test``'s
    rows, and how many there are."""
    keep = rows_outside(frame, test)
    return F[keep], frame["target"].to_numpy()[keep], int(keep.sum())


def rows_without_system(frame: pd.DataFrame, elements=SI_GE) -> np.ndarray:
    """Mask of rows *not* made only of ``elements`` (leave the system out).

    Args:
        frame: a task's rows.
        elements: the system left out.

    Returns:
        A boolean mask.
    """
    return np.array([not only_elements(c, elements) for c in frame["composition"]], bool)


@functools.cache
def mp_lookup() -> MPGapLookup:
    """The PBE gaps of ``mp_gap`` by composition (a lookup, built once per process)."""
    frame = task_frame("mp_gap")
    return MPGapLookup().fit(frame["composition"], frame["target"])


def task_inputs(
    task: MatbenchTask, transfer: bool, lookup: bool = False
) -> tuple[pd.DataFrame, np.ndarray]:
    """A task's rows and feature matrix: composition features, then (with ``transfer``) the PBE
    reference's two columns, then (with ``lookup``) the three MP lookup columns — the layout
    every entry shares, so an entry that ignores the lookup drops the last three columns."""
    frame = task_frame(task.name)
    F = task_features(task, frame)
    if transfer:
        F = np.hstack([F, pbe_reference().transform_features(F)])
    if lookup:
        F = np.hstack([F, mp_lookup().featurize_many(frame["composition"])])
    return frame, F


def positions(frame: pd.DataFrame, sub: pd.DataFrame) -> np.ndarray:
    return frame.index.get_indexer(sub.index)


def layout(compositions, lookup: bool = False) -> np.ndarray:
    """The shared feature layout for any compositions: composition features, the PBE
    reference's two columns, and (with ``lookup``) the three MP lookup columns.

    Args:
        compositions: the compositions.
        lookup: add the MP lookup's columns.

    Returns:
        The matrix.
    """
    from bandgaps.features.composition import CompositionFeatures

    comps = list(compositions)
    F = CompositionFeatures(FEATURE_SET, cache=True).transform(comps)
    parts = [F, pbe_reference().transform_features(F)]
    if lookup:
        parts.append(mp_lookup().featurize_many(comps))
    return np.hstack(parts)


__all__ = [
    "FEATURE_SET",
    "SI_GE",
    "composition_keys",
    "layout",
    "mp_lookup",
    "n_composition_features",
    "pbe_reference",
    "rows_outside",
    "rows_without_system",
    "task_features",
]
