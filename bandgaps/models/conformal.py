"""Split-conformal prediction intervals (MAPIE) around an already-fitted regressor.

Conformalization needs data the regressor never saw (here: the validation fold); the
interval then covers a new point with at least the stated probability, whatever the model.

Examples:
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(400, 1)); y = 3 * X[:, 0] + rng.normal(0, 0.2, 400)
    >>> reg = LinearRegression().fit(X[:200], y[:200])
    >>> cp = conformalize(reg, X[200:300], y[200:300], confidence_levels=(0.9,))
    >>> lo, hi = interval(cp, X[300:], 0.9)
    >>> bool(0.8 < coverage(y[300:], lo, hi) <= 1.0)
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Confidence levels stored with every conformalized model (the CLI picks one).
DEFAULT_LEVELS = (0.68, 0.9, 0.95)


def conformalize(
    regressor,
    X_cal,
    y_cal,
    confidence_levels: Sequence[float] = DEFAULT_LEVELS,
    conformity_score: str = "absolute",
):
    """A MAPIE ``SplitConformalRegressor`` around the fitted ``regressor``."""
    from mapie.regression import SplitConformalRegressor

    cp = SplitConformalRegressor(
        estimator=regressor,
        confidence_level=list(confidence_levels),
        conformity_score=conformity_score,
        prefit=True,
    )
    cp.conformalize(np.asarray(X_cal), np.asarray(y_cal))
    cp.confidence_levels_ = tuple(float(c) for c in confidence_levels)
    return cp


def interval(cp, X, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds at one of the levels the calibrator was built with."""
    levels = cp.confidence_levels_
    matches = [i for i, c in enumerate(levels) if np.isclose(c, confidence)]
    if not matches:
        from bandgaps.errors import InputError

        raise InputError(
            f"No conformal interval at {confidence:g}; this model has "
            + ", ".join(f"{c:g}" for c in levels)
        )
    _, bounds = cp.predict_interval(np.asarray(X))
    k = matches[0]
    return bounds[:, 0, k], bounds[:, 1, k]


def coverage(y, lower, upper) -> float:
    """Fraction of targets inside ``[lower, upper]``."""
    y = np.asarray(y)
    return float(np.mean((y >= lower) & (y <= upper)))
