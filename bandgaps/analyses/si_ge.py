"""Si₁₋ₓGeₓ: the composition grid, the measured curve, and how far a model's curve is from it.

Every study that predicts across Si–Ge scores its curve with ``mae_vs_experiment``; every
table that shows the measurement uses ``experiment_row``. A model on a Si–Ge figure carries its
identity as fields (``SiGeModel``): what it reads, what its targets were, which data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Compositions singled out in the brief: the two ends and the near-equiatomic alloy.
BRIEF_FORMULAS = {"Si": 0.0, "Ge": 1.0, "Si49Ge51": 0.51}

#: Where tables read "the alloy".
ALLOY_X = BRIEF_FORMULAS["Si49Ge51"]

#: What a model reads.
COMPOSITION = "composition"
ORDERED_CELLS = "structure (ordered cells)"
DISORDERED_CELL = "structure (disordered cell)"


@dataclass(frozen=True)
class SiGeModel:
    """Who a Si–Ge curve belongs to: its label, its input, what its training targets were
    (``PBE`` or ``experiment``) and the data it learned from."""

    label: str
    input: str
    trained_on: str
    training_data: str


def si_ge_grid(n: int = 101) -> pd.DataFrame:
    """Formulas Si(1-x)Ge(x) on ``n`` evenly spaced x from 0 to 1 (pure ends as ``Si``, ``Ge``).

    Examples:
        >>> si_ge_grid(3)["formula"].tolist()
        ['Si', 'Si0.5Ge0.5', 'Ge']
    """
    x = np.linspace(0.0, 1.0, n)
    formulas = []
    for xi in x:
        if np.isclose(xi, 0):
            formulas.append("Si")
        elif np.isclose(xi, 1):
            formulas.append("Ge")
        else:
            formulas.append(f"Si{1 - xi:.4g}Ge{xi:.4g}")
    return pd.DataFrame({"x": x, "formula": formulas})


def weber_alonso_gap(x) -> np.ndarray:
    """Experimental Si(1-x)Ge(x) gap (eV), Weber & Alonso, Phys. Rev. B 40, 5683 (1989).

    Examples:
        >>> [round(float(g), 3) for g in weber_alonso_gap([0.0, 1.0])]
        [1.155, 0.74]
    """
    x = np.asarray(x, float)
    return np.where(x < 0.85, 1.155 - 0.43 * x + 0.206 * x**2, 2.010 - 1.270 * x)


def mae_vs_experiment(x, gap) -> float:
    """Mean absolute difference between a predicted curve ``gap(x)`` and the measured one.

    Examples:
        >>> mae_vs_experiment([0.0, 1.0], [1.155, 0.84])
        0.05
    """
    x = np.asarray(x, float)
    return float(np.mean(np.abs(np.asarray(gap, float) - weber_alonso_gap(x))))


def experiment_row(alloy_x: float = ALLOY_X) -> dict[str, float]:
    """The measured curve at the points the Si–Ge tables report: Si, Ge and the alloy."""
    return {
        "Si (eV)": float(weber_alonso_gap(0.0)),
        "Ge (eV)": float(weber_alonso_gap(1.0)),
        "alloy (eV)": float(weber_alonso_gap(alloy_x)),
    }


__all__ = [
    "ALLOY_X",
    "BRIEF_FORMULAS",
    "COMPOSITION",
    "DISORDERED_CELL",
    "ORDERED_CELLS",
    "SiGeModel",
    "experiment_row",
    "mae_vs_experiment",
    "si_ge_grid",
    "weber_alonso_gap",
]
