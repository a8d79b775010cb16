"""The temperature dependence of the Si and Ge gaps (Varshni), which brings the 4.2 K Si–Ge curve
to room temperature.
"""

from __future__ import annotations

import numpy as np

from bandgaps.analyses.si_ge import weber_alonso_gap

#: Band-gap temperature dependence used to bring the 4.2 K curve to 300 K: Varshni parameters
#: Eg(T) = Eg(0) − αT²/(T + β) (Si: Thurmond 1975; Ge: Thurmond 1975, as tabulated by Sze &
#: Ng, *Physics of Semiconductor Devices*, 3rd ed., 2007): (α in eV/K, β in K).
VARSHNI = {"Si": (4.73e-4, 636.0), "Ge": (4.774e-4, 235.0)}


CURVE_T = 4.2


ROOM_T = 300.0


def varshni_shift(element: str, t_from: float = CURVE_T, t_to: float = ROOM_T) -> float:
    """Change of an element's gap from ``t_from`` to ``t_to`` (eV, negative when warming).

    Args:
        element: ``Si`` or ``Ge``.
        t_from: in K.
        t_to: in K.

    Returns:
        The change (eV).

    Examples:
        >>> round(varshni_shift("Si"), 3), round(varshni_shift("Ge"), 3)
        (-0.045, -0.08)
    """
    alpha, beta = VARSHNI[element]
    return -alpha * t_to**2 / (t_to + beta) + alpha * t_from**2 / (t_from + beta)


def curve_at(x, temperature: float = CURVE_T) -> np.ndarray:
    """Weber & Alonso's curve (4.2 K), or brought to ``temperature`` by shifting each end by
    its measured temperature dependence and interpolating the shift linearly in x.

    Args:
        x: Ge fractions.
        temperature: in K.

    Returns:
        The gaps (eV).
    """
    x = np.asarray(x, float)
    gap = weber_alonso_gap(x)
    if temperature == CURVE_T:
        return gap
    return (
        gap
        + (1 - x) * varshni_shift("Si", CURVE_T, temperature)
        + x * varshni_shift("Ge", CURVE_T, temperature)
    )


__all__ = ["CURVE_T", "ROOM_T", "VARSHNI", "curve_at", "varshni_shift"]
