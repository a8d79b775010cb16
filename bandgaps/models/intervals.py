"""Adaptive split-conformal intervals: one score family, a choice made on calibration rows.

Every score here measures a held-out error in units of a per-material scale, separately below
and above the prediction ŷ::

    s = max((ŷ - y) / w_lo, (y - ŷ) / w_hi)        interval: [ŷ - q·w_lo, ŷ + q·w_hi]

with q the conformal quantile of the calibration scores. The methods differ only in the scale:

* ``absolute`` — w = 1: today's constant half-width;
* ``relative`` — w = |ŷ|: a margin proportional to the prediction, for positive targets
  (lengths; "auto" skips it when a target can be 0, where every such score would be 1);
* ``normalized`` — w = σ, the model's own spread (σ-scaled conformal scores);
* ``quantile`` — w_lo = ŷ − q₁₅.₉, w_hi = q₈₄.₁ − ŷ, from the model's quantile band: an
  asymmetric, conformalized quantile regression (CQR in its scaled form).

Scales get a floor (a tenth of the calibration MAE) so a zero σ never makes a zero-width
interval. For targets with a mass at their minimum (band gaps: metals at 0 eV) the calibration
can also be **Mondrian**: one quantile for materials predicted at the minimum (ŷ ≤ a threshold
chosen on the calibration rows) and one for the rest, so each group gets its stated coverage
instead of sharing one.

``IntervalCalibrator(method="auto")`` keeps the calibration rows (plain numbers, so any level
or risk can be asked for later) and picks the method and grouping with the lowest interval
score (Winkler, 90 %) in a two-fold cross-fit over the calibration rows alone.

Examples:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(0, 1, 2000); sigma = 0.05 + x
    >>> y = rng.normal(0, sigma)
    >>> pred = np.zeros_like(y)
    >>> cal = IntervalCalibrator().fit(y[:1000], pred[:1000], -sigma[:1000], sigma[:1000])
    >>> cal.method_
    'normalized'
    >>> lo, hi = cal.interval(pred[1000:], -sigma[1000:], sigma[1000:], 0.9)
    >>> bool(0.87 < np.mean((y[1000:] >= lo) & (y[1000:] <= hi)) < 0.93)
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import spearmanr

from bandgaps.errors import InputError

METHODS = ("absolute", "relative", "normalized", "quantile")
#: Level the automatic choice is scored at, and the levels reported by default.
SELECTION_LEVEL = 0.9
#: Fewest rows a Mondrian group needs (a 95 % quantile needs 19).
MIN_GROUP_ROWS = 30


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ⌈(n+1)·level⌉-th smallest score: split conformal's finite-sample quantile (``inf``
    when there are too few scores for the level).

    Examples:
        >>> conformal_quantile(np.arange(1.0, 10.0), 0.9)
        9.0
        >>> conformal_quantile(np.arange(1.0, 5.0), 0.9)
        inf
    """
    s = np.sort(np.asarray(scores, float))
    k = math.ceil((len(s) + 1) * level - 1e-9)
    return float(s[k - 1]) if 1 <= k <= len(s) else math.inf


def winkler(y, lower, upper, level: float) -> float:
    """Mean interval score: width plus 2/α times the distance by which ``y`` misses."""
    y, lower, upper = (np.asarray(a, float) for a in (y, lower, upper))
    alpha = 1 - level
    miss = np.maximum(lower - y, 0) + np.maximum(y - upper, 0)
    return float(np.mean(upper - lower + 2 / alpha * miss))


def interval_quality(y, pred, lower, upper) -> dict[str, float]:
    """Coverage, mean width and the Spearman ρ between width and absolute error."""
    y, pred, lower, upper = (np.asarray(a, float) for a in (y, pred, lower, upper))
    width = upper - lower
    rho = spearmanr(width, np.abs(y - pred)).statistic if np.ptp(width) > 0 else 0.0
    return {
        "coverage": float(np.mean((y >= lower) & (y <= upper))),
        "mean width": float(np.mean(width)),
        "width–error ρ": float(rho),
        "n": len(y),
    }


class IntervalCalibrator:
    """Split-conformal intervals and one-sided bounds from held-out rows.

    ``method`` is one of ``METHODS`` or ``"auto"``; ``groups`` is ``"auto"`` (Mondrian where
    the target has a mass at its minimum and the choice prefers it), ``True`` or ``False``.
    The band ``(lower_band, upper_band)`` is the model's ±1σ range (quantiles 15.9/84.1 %, or
    ŷ ∓ σ); ``absolute`` and ``relative`` ignore it.
    """

    def __init__(self, method: str = "auto", groups: str | bool = "auto", random_state: int = 0):
        if method not in (*METHODS, "auto"):
            raise InputError(
                f"Unknown interval method {method!r}; use auto or {', '.join(METHODS)}"
            )
        self.method = method
        self.groups = groups
        self.random_state = random_state

    # ------------------------------------------------------------------------------------
    def fit(self, y, pred, lower_band, upper_band) -> IntervalCalibrator:
        """Keep the calibration rows, then choose the method and grouping."""
        arrays = [np.asarray(a, float).ravel() for a in (y, pred, lower_band, upper_band)]
        if len({len(a) for a in arrays}) != 1 or not len(arrays[0]):
            raise InputError("Calibration needs the same, non-zero number of rows in every column")
        self.y_, self.pred_, self.lower_band_, self.upper_band_ = arrays
        self.floor_ = max(0.1 * float(np.mean(np.abs(self.y_ - self.pred_))), 1e-9)
        self.threshold_ = self._zero_threshold()
        methods = METHODS if self.method == "auto" else (self.method,)
        if self.method == "auto" and self.y_.min() <= 0:
            # a ratio scale only for positive targets: at y = 0 every relative score is 1
            methods = tuple(m for m in methods if m != "relative")
        if not (np.isfinite(self.lower_band_).all() and np.isfinite(self.upper_band_).all()):
            methods = tuple(m for m in methods if m in ("absolute", "relative"))
            if not methods:
                raise InputError(f"The {self.method} method needs the model's σ, which it lacks")
        grouped = {"auto": (False, True), True: (True,), False: (False,)}[self.groups]
        grouped = tuple(g for g in grouped if not g or self.threshold_ is not None)
        candidates = [(m, g) for m in methods for g in grouped] or [(methods[0], False)]
        self.selection_ = {
            f"{m}{' + groups' if g else ''}": self._cross_fit(m, g) for m, g in candidates
        }
        best = min(
            candidates, key=lambda c: self.selection_[f"{c[0]}{' + groups' if c[1] else ''}"]
        )
        self.method_, self.grouped_ = best
        return self

    def _zero_threshold(self) -> float | None:
        """For a target with ≥ 10 % of rows at its minimum: the prediction threshold that best
        separates those rows (balanced accuracy), else ``None``."""
        at_min = self.y_ <= self.y_.min() + 1e-12
        if at_min.mean() < 0.1 or at_min.mean() > 0.9:
            return None
        candidates = np.unique(np.quantile(self.pred_, np.linspace(0.05, 0.95, 37)))
        best, best_acc = None, -1.0
        for t in candidates:
            low = self.pred_ <= t
            if min(low.sum(), (~low).sum()) < MIN_GROUP_ROWS:
                continue
            acc = 0.5 * (np.mean(low[at_min]) + np.mean(~low[~at_min]))
            if acc > best_acc:
                best, best_acc = float(t), acc
        return best

    def _scales(self, method, pred, lower_band, upper_band):
        pred = np.asarray(pred, float)
        if method == "absolute":
            ones = np.ones_like(pred)
            return ones, ones
        if method == "relative":
            w = np.maximum(np.abs(pred), self.floor_)
            return w, w
        lower_band, upper_band = np.asarray(lower_band, float), np.asarray(upper_band, float)
        if method == "normalized":
            w = np.maximum((upper_band - lower_band) / 2, self.floor_)
            return w, w
        return np.maximum(pred - lower_band, self.floor_), np.maximum(
            upper_band - pred, self.floor_
        )

    def _group(self, grouped: bool, pred) -> np.ndarray:
        pred = np.asarray(pred, float)
        if not grouped:
            return np.zeros(len(pred), int)
        return (pred > self.threshold_).astype(int)

    def _quantiles(self, method, grouped, rows, level, one_sided=False) -> dict[int, float]:
        """Conformal quantile per group, from calibration ``rows``."""
        y, pred = self.y_[rows], self.pred_[rows]
        w_lo, w_hi = self._scales(method, pred, self.lower_band_[rows], self.upper_band_[rows])
        s = (y - pred) / w_hi if one_sided else np.maximum((pred - y) / w_lo, (y - pred) / w_hi)
        g = self._group(grouped, pred)
        return {k: conformal_quantile(s[g == k], level) for k in np.unique(g)}

    def _bounds(self, method, grouped, quantiles, pred, lower_band, upper_band):
        w_lo, w_hi = self._scales(method, pred, lower_band, upper_band)
        g = self._group(grouped, pred)
        q = np.array([quantiles.get(k, quantiles[max(quantiles)]) for k in g], float)
        pred = np.asarray(pred, float)
        return pred - q * w_lo, pred + q * w_hi

    def _cross_fit(self, method: str, grouped: bool) -> float:
        """Winkler score at ``SELECTION_LEVEL``: calibrate on one half, score the other."""
        n = len(self.y_)
        order = np.random.default_rng(self.random_state).permutation(n)
        halves = (order[: n // 2], order[n // 2 :])
        total = 0.0
        for a, b in (halves, halves[::-1]):
            q = self._quantiles(method, grouped, a, SELECTION_LEVEL)
            if not all(np.isfinite(list(q.values()))):
                return math.inf
            lo, hi = self._bounds(
                method, grouped, q, self.pred_[b], self.lower_band_[b], self.upper_band_[b]
            )
            total += winkler(self.y_[b], lo, hi, SELECTION_LEVEL) * len(b)
        return total / n

    # ------------------------------------------------------------------------------------
    @property
    def label(self) -> str:
        """The chosen method, e.g. ``"normalized + groups"``."""
        return _label(self.method_, self.grouped_)

    def interval(self, pred, lower_band, upper_band, level: float):
        """``(lower, upper)`` covering a new row with probability ≥ ``level``."""
        _check_level(level)
        rows = np.arange(len(self.y_))
        q = self._quantiles(self.method_, self.grouped_, rows, level)
        _check_finite(q, level, len(rows))
        return self._bounds(self.method_, self.grouped_, q, pred, lower_band, upper_band)

    def upper(self, pred, lower_band, upper_band, risk: float, method: str | None = None):
        """One-sided bound above the truth with probability ≥ 1 − ``risk`` (a safe k-point
        length, an upper gap). ``method`` overrides the chosen scale (no groups then)."""
        _check_level(1 - risk, what="risk", value=risk)
        method = method or self.method_
        grouped = self.grouped_ and method == self.method_
        rows = np.arange(len(self.y_))
        q = self._quantiles(method, grouped, rows, 1 - risk, one_sided=True)
        _check_finite(q, 1 - risk, len(rows))
        return self._bounds(method, grouped, q, pred, lower_band, upper_band)[1]

    def sigma_scale(self) -> float:
        """The factor that makes ŷ ± factor·σ cover 68.27 % of calibration rows (a fitted
        recalibration of the model's σ)."""
        sigma = np.maximum((self.upper_band_ - self.lower_band_) / 2, 1e-12)
        return conformal_quantile(np.abs(self.y_ - self.pred_) / sigma, 0.6827)

    # ------------------------------------------------------------------------------------
    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Plain JSON fields and arrays, for a model file."""
        fields = {
            "method": self.method,
            "groups": self.groups,
            "random_state": self.random_state,
            "method_": self.method_,
            "grouped_": bool(self.grouped_),
            "floor_": self.floor_,
            "threshold_": self.threshold_,
            "selection_": self.selection_,
        }
        arrays = {
            "y": self.y_,
            "pred": self.pred_,
            "lower_band": self.lower_band_,
            "upper_band": self.upper_band_,
        }
        return fields, arrays

    @classmethod
    def from_state(cls, fields: dict, arrays) -> IntervalCalibrator:
        """Rebuild from ``state()``; shapes and names are checked."""
        cal = cls(fields["method"], fields["groups"], int(fields["random_state"]))
        cols = [
            np.asarray(arrays[k], float).ravel() for k in ("y", "pred", "lower_band", "upper_band")
        ]
        if len({len(c) for c in cols}) != 1 or fields["method_"] not in METHODS:
            raise InputError("the interval calibration is malformed")
        cal.y_, cal.pred_, cal.lower_band_, cal.upper_band_ = cols
        cal.method_, cal.grouped_ = fields["method_"], bool(fields["grouped_"])
        cal.floor_ = float(fields["floor_"])
        t = fields["threshold_"]
        cal.threshold_ = None if t is None else float(t)
        if cal.grouped_ and cal.threshold_ is None:
            raise InputError("the interval calibration is malformed")
        cal.selection_ = {str(k): float(v) for k, v in fields["selection_"].items()}
        return cal


def _label(method: str, grouped: bool) -> str:
    return f"{method} + groups" if grouped else method


def _check_level(level: float, what: str = "coverage", value: float | None = None) -> None:
    if not 0 < level < 1:
        value = level if value is None else value
        raise InputError(f"The {what} must be between 0 and 1, not {value}")


def _check_finite(q: dict, level: float, n: int) -> None:
    if not all(np.isfinite(list(q.values()))):
        raise InputError(
            f"{n} calibration rows are too few for a {level:.3g} bound; ask for a lower level"
        )


def compare_methods(
    cal_rows: Sequence, test_rows: Sequence, levels: Sequence[float], candidates=None
) -> list[dict]:
    """Coverage, width and width–error ρ on test rows for each ``(method, grouped)`` calibrated
    on ``cal_rows``; rows are ``(y, pred, lower_band, upper_band)``."""
    candidates = candidates or [(m, g) for m in METHODS for g in (False, True)]
    out = []
    y, pred, lo_b, hi_b = (np.asarray(a, float) for a in test_rows)
    for method, grouped in candidates:
        cal = IntervalCalibrator(method, grouped).fit(*cal_rows)
        if grouped and not cal.grouped_:
            continue
        for level in levels:
            lo, hi = cal.interval(pred, lo_b, hi_b, level)
            out.append({"method": cal.label, "level": level, **interval_quality(y, pred, lo, hi)})
    return out


__all__ = [
    "METHODS",
    "IntervalCalibrator",
    "compare_methods",
    "conformal_quantile",
    "interval_quality",
    "winkler",
]
