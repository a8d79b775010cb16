"""Split-conformal prediction intervals (MAPIE) around an already-fitted regressor.

Conformalization needs data the regressor never saw (a validation fold or held-out rows); the
interval then covers a new point with at least the stated probability, whatever the model.
MAPIE's absolute-residual interval is the reference the adaptive intervals of
``bandgaps.models.intervals`` reproduce as their ``absolute`` method (a test checks that they
agree).

Examples:
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(400, 1)); y = 3 * X[:, 0] + rng.normal(0, 0.2, 400)
    >>> reg = LinearRegression().fit(X[:200], y[:200])
    >>> cp = conformalize(reg, X[200:300], y[200:300], confidence_levels=(0.9,))
    >>> _, bounds = cp.predict_interval(X[300:])
    >>> lo, hi = bounds[:, 0, 0], bounds[:, 1, 0]
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
    """A MAPIE ``SplitConformalRegressor`` around the fitted ``regressor``.

    Args:
        regressor: a fitted regressor.
        X_cal: calibration rows it was not fitted on.
        y_cal: their targets.
        confidence_levels: the coverages stored.
        conformity_score: MAPIE's score (``absolute``, ``gamma``, …).

    Returns:
        The conformalized regressor.
    """
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


def coverage(y, lower, upper) -> float:
    """Fraction of targets inside ``[lower, upper]``.

    Args:
        y: the targets.
        lower: lower bounds.
        upper: upper bounds.

    Returns:
        The fraction covered.
    """
    y = np.asarray(y)
    return float(np.mean((y >= lower) & (y <= upper)))
