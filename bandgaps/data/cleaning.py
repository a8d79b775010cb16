"""Cleaning rules for MP snapshots, as the reference solution applied them.

Each rule is a plain function ``DataFrame -> DataFrame`` that records what it removed in
``df.attrs["cleaning"]`` (a list of ``CleaningStep`` as dicts), so a page or a log can show
the effect of every rule. ``cleaning_report`` turns that record into a table.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from pymatgen.core import Structure

log = logging.getLogger(__name__)

#: Neighbour distance (Å) below which an atom counts as bonded to something.
ISOLATION_CUTOFF = 4.0


@dataclass(frozen=True)
class CleaningStep:
    """What one rule did: rows before and after, and a line on why.

    Attributes:
        rule: the rule's function name.
        before: rows before it.
        after: rows after it.
        why: one line on why.
        dropped: index labels of the removed rows, in input order.
    """

    rule: str
    before: int
    after: int
    why: str
    dropped: tuple = ()  # index labels of the removed rows, in input order

    @property
    def removed(self) -> int:
        """Rows the rule removed."""
        return self.before - self.after


def _record(before: pd.DataFrame, after: pd.DataFrame, rule: str, why: str) -> pd.DataFrame:
    kept = set(after.index)
    dropped = tuple(label for label in before.index if label not in kept)
    step = CleaningStep(rule, len(before), len(after), why, dropped)
    after = after.copy()
    after.attrs = {**before.attrs, "cleaning": [*before.attrs.get("cleaning", []), asdict(step)]}
    log.info("%s: removed %d of %d rows", rule, step.removed, step.before)
    return after


def keep_lowest_energy_polymorph(
    df: pd.DataFrame, formula: str = "formula", energy: str = "e_above_hull"
) -> pd.DataFrame:
    """Keep one row per reduced formula: the polymorph lowest in ``energy``.

    Composition models see only the formula, so several polymorphs of one formula would be
    identical inputs with different targets; the ground state is the physically meaningful one.
    Ties keep the first row in the input order.

    Args:
        df: the table.
        formula: its formula column.
        energy: its energy column (lower is kept).

    Returns:
        The table without the other polymorphs, the step recorded in ``attrs["cleaning"]``.

    Examples:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"formula": ["TiO2", "TiO2", "Si"], "e_above_hull": [0.01, 0.0, 0.0],
        ...                    "band_gap": [1.8, 2.1, 0.6]})
        >>> out = keep_lowest_energy_polymorph(df)
        >>> out["band_gap"].tolist(), out.attrs["cleaning"][0]["before"] - len(out)
        ([2.1, 0.6], 1)
    """
    order = np.lexsort((np.arange(len(df)), df[energy].to_numpy()))
    ranked = df.iloc[order]
    keep = ranked[~ranked[formula].duplicated(keep="first")]
    out = df.loc[sorted(keep.index, key=df.index.get_loc)]
    return _record(
        df, out, "keep_lowest_energy_polymorph", f"one row per {formula}: the lowest {energy}"
    )


def isolated_site_mask(structure: Structure, cutoff: float = ISOLATION_CUTOFF) -> np.ndarray:
    """Boolean mask of the sites with no neighbour (periodic images included) within ``cutoff``.

    Args:
        structure: the structure.
        cutoff: the radius in Å.

    Returns:
        One flag per site.

    Examples:
        >>> from pymatgen.core import Lattice, Structure
        >>> lone = Structure(Lattice.cubic(10.0), ["Si", "Si"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        >>> isolated_site_mask(lone).tolist()
        [True, True]
    """
    centers, _, _, _ = structure.get_neighbor_list(r=cutoff, exclude_self=True)
    mask = np.ones(len(structure), dtype=bool)
    mask[np.unique(centers)] = False
    return mask


def drop_isolated_atoms(
    df: pd.DataFrame, structure: str = "structure", cutoff: float = ISOLATION_CUTOFF
) -> pd.DataFrame:
    """Drop rows whose structure has any atom without a neighbour within ``cutoff`` Å.

    Such structures (isolated molecules or atoms in a large box) are not the bulk solids the
    models are meant for, and graph models see their lone atoms as disconnected nodes.

    Args:
        df: the table.
        structure: its structure column.
        cutoff: the radius in Å.

    Returns:
        The table without them, the step recorded in ``attrs["cleaning"]``.
    """
    has_isolated = np.array(
        [isolated_site_mask(s, cutoff).any() for s in df[structure]], dtype=bool
    )
    return _record(
        df,
        df[~has_isolated],
        "drop_isolated_atoms",
        f"any atom with no neighbour within {cutoff:g} Å",
    )


def dropped_rows(df: pd.DataFrame, rule: str) -> tuple:
    """Index labels that ``rule`` removed on the way to ``df`` (labels of the original table).

    Args:
        df: a cleaned table.
        rule: the rule's name.

    Returns:
        The labels (empty when the rule did not run).
    """
    for step in df.attrs.get("cleaning", []):
        if step["rule"] == rule:
            return tuple(step["dropped"])
    raise KeyError(f"rule {rule!r} was not applied to this table")


def cleaning_report(df: pd.DataFrame) -> pd.DataFrame:
    """Table of the rules applied to ``df``, in order.

    Args:
        df: a cleaned table.

    Returns:
        One row per rule: rule, before, after, removed, why.
    """
    steps = [CleaningStep(**s) for s in df.attrs.get("cleaning", [])]
    return pd.DataFrame(
        [
            {
                "rule": s.rule,
                "before": s.before,
                "after": s.after,
                "removed": s.removed,
                "why": s.why,
            }
            for s in steps
        ],
        columns=["rule", "before", "after", "removed", "why"],
    )
