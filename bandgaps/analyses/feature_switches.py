"""Where a composition model switches: neighbouring formulas whose features differ in a switch-like
feature (an integer-valued one) and how far their predictions jump.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bandgaps.analyses.measured_inputs import FEATURE_SET

#: A Si–Ge row this far above the 300 K curve (eV) is not a fundamental-gap measurement.
FAR_ABOVE = 0.25


#: Near-identical compositions a new user tried, and their neighbours.
SWITCH_PAIRS = (("SiGe", "Si49Ge51"), ("Si51Ge49", "SiGe"), ("Si0.5Ge0.5", "Si0.505Ge0.495"))


def feature_switches(predict, features, lookup: bool) -> pd.DataFrame:
    """Columns that change discretely between near-identical Si–Ge compositions, and the
    predicted gaps of both (``predict`` and ``features`` take formulas).

    Args:
        predict: the model's predict function.
        features: the sweep's feature matrix.
        lookup: whether it holds the MP lookup's columns.

    Returns:
        One row per switching column.
    """
    from bandgaps.features.composition import CompositionFeatures
    from bandgaps.models.transfer import LOOKUP_LABELS, TRANSFER_LABELS

    labels = CompositionFeatures(FEATURE_SET, cache=False).feature_labels()
    labels = np.array([*labels, *TRANSFER_LABELS, *(LOOKUP_LABELS if lookup else ())])
    rows = []
    for a, b in SWITCH_PAIRS:
        X = features([a, b])
        gaps = predict([a, b])
        X = np.nan_to_num(X, nan=-1.0)
        diff = np.abs(X[0] - X[1])
        scale = np.maximum((np.abs(X[0]) + np.abs(X[1])) / 2, 1e-12)
        # a change far larger than the ≤ 2 % change of composition that caused it
        jumps = [str(labels[i]) for i in np.flatnonzero(diff / scale > 0.5)]
        rows.append(
            {
                "a": a,
                "b": b,
                "gap a (eV)": float(gaps[0]),
                "gap b (eV)": float(gaps[1]),
                "columns that jump": ", ".join(jumps) or "none",
            }
        )
    return pd.DataFrame(rows)


__all__ = ["FAR_ABOVE", "SWITCH_PAIRS", "feature_switches"]
