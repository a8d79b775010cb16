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
can also be **Mondrian**, one conformal quantile per group:

* ``predicted`` groups — materials predicted at the minimum (ŷ ≤ a threshold chosen on the
  calibration rows) and the rest: coverage is promised within each *predicted* group;
* ``label``-conditional — metals (y at the minimum) and non-metals calibrated separately.
  The group depends on the label, so the prediction set is "0 eV, if the metal score is
  small enough" plus an interval for the gap if it is not a metal; coverage is promised
  within metals and within non-metals (Vovk's label-conditional Mondrian predictors).

``IntervalCalibrator(method="auto")`` keeps the calibration rows (plain numbers, so any level
or risk can be asked for later) and picks, in a two-fold cross-fit over the calibration rows
alone, the method and grouping that holds 90 % within each group (±1 point, where the target
has groups) with the lowest interval score (Winkler).

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

import numpy as np
from scipy.stats import spearmanr

from bandgaps.errors import InputError

METHODS = ("absolute", "relative", "normalized", "quantile")
#: Level the automatic choice is scored at, and the levels reported by default.
SELECTION_LEVEL = 0.9
#: Fewest calibration rows for which intervals are calibrated at all.
MIN_CALIBRATION_ROWS = 10
#: Fewest rows a Mondrian group needs (a 95 % quantile needs 19).
MIN_GROUP_ROWS = 30
#: Mondrian groupings: none; by the prediction (ŷ at or below a threshold: "predicted
#: metal"); or by the label (y at its minimum or not: label-conditional).
GROUPINGS = ("none", "predicted", "label")
GROUPING_NAMES = {"predicted": "predicted groups", "label": "label-conditional"}


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ⌈(n+1)·level⌉-th smallest score: split conformal's finite-sample quantile.

    Args:
        scores: the calibration rows' nonconformity scores.
        level: the coverage.

    Returns:
        The quantile (``inf`` when there are too few scores for the level).

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
    """Mean interval score: width plus 2/α times the distance by which ``y`` misses.

    Args:
        y: the targets.
        lower: the intervals' lower bounds.
        upper: their upper bounds.
        level: the intervals' coverage (α = 1 − level).

    Returns:
        The mean score (lower is better).
    """
    y, lower, upper = (np.asarray(a, float) for a in (y, lower, upper))
    alpha = 1 - level
    miss = np.maximum(lower - y, 0) + np.maximum(y - upper, 0)
    return float(np.mean(upper - lower + 2 / alpha * miss))


def interval_quality(y, pred, lower, upper) -> dict[str, float]:
    """Coverage, mean width and the Spearman ρ between width and absolute error.

    Args:
        y: the targets.
        pred: the predictions.
        lower: the intervals' lower bounds.
        upper: their upper bounds.

    Returns:
        ``{"coverage", "mean width", "width–error ρ", "n"}``.
    """
    y, pred, lower, upper = (np.asarray(a, float) for a in (y, pred, lower, upper))
    width = upper - lower
    return {
        "coverage": float(np.mean((y >= lower) & (y <= upper))),
        "mean width": float(np.mean(width)),
        "width–error ρ": width_error_rho(width, np.abs(y - pred)),
        "n": len(y),
    }


def width_error_rho(width, abs_error) -> float:
    """Spearman ρ between interval width and absolute error (0 for a constant width: widths
    are rounded so that floating-point noise has no rank order).

    Args:
        width: the intervals' widths.
        abs_error: the absolute errors.

    Returns:
        ρ.
    """
    ranked = np.round(np.asarray(width, float), 9)
    if np.ptp(ranked) == 0:
        return 0.0
    return float(spearmanr(ranked, np.asarray(abs_error, float)).statistic)


class IntervalCalibrator:
    """Split-conformal intervals and one-sided bounds from held-out rows.

    The band ``(lower_band, upper_band)`` is the model's ±1σ range (quantiles 15.9/84.1 %, or
    ŷ ∓ σ); ``absolute`` and ``relative`` ignore it.

    Args:
        method: one of ``METHODS`` or ``"auto"`` (chosen by a cross-fitted interval score).
        groups: one of ``GROUPINGS`` or ``"auto"`` (all that apply; groups need a target with
            a mass at its minimum).
        random_state: seeds the halves of the cross-fit.
    """

    def __init__(self, method: str = "auto", groups: str = "auto", random_state: int = 0):
        if method not in (*METHODS, "auto"):
            raise InputError(
                f"Unknown interval method {method!r}; use auto or {', '.join(METHODS)}"
            )
        if groups not in (*GROUPINGS, "auto"):
            raise InputError(f"Unknown grouping {groups!r}; use auto or {', '.join(GROUPINGS)}")
        self.method = method
        self.groups = groups
        self.random_state = random_state

    # ------------------------------------------------------------------------------------
    def fit(self, y, pred, lower_band, upper_band) -> IntervalCalibrator:
        """Keep the calibration rows, then choose the method and grouping.

        Args:
            y: the calibration rows' targets.
            pred: the predictions.
            lower_band: the model's −1σ side (quantile 15.9 % or ŷ − σ).
            upper_band: its +1σ side.

        Returns:
            ``self``.
        """
        arrays = [np.asarray(a, float).ravel() for a in (y, pred, lower_band, upper_band)]
        if len({len(a) for a in arrays}) != 1 or not len(arrays[0]):
            raise InputError("Calibration needs the same, non-zero number of rows in every column")
        self.y_, self.pred_, self.lower_band_, self.upper_band_ = arrays
        self.floor_ = max(0.1 * float(np.mean(np.abs(self.y_ - self.pred_))), 1e-9)
        at_min = self.y_ <= self.y_.min() + 1e-12
        self.y_min_ = float(self.y_.min()) if 0.1 <= at_min.mean() <= 0.9 else None
        self.threshold_ = self._zero_threshold()
        methods = METHODS if self.method == "auto" else (self.method,)
        if self.method == "auto" and self.y_.min() <= 0:
            # a ratio scale only for positive targets: at y = 0 every relative score is 1
            methods = tuple(m for m in methods if m != "relative")
        if not (np.isfinite(self.lower_band_).all() and np.isfinite(self.upper_band_).all()):
            methods = tuple(m for m in methods if m in ("absolute", "relative"))
            if not methods:
                raise InputError(f"The {self.method} method needs the model's σ, which it lacks")
        groupings = GROUPINGS if self.groups == "auto" else (self.groups,)
        groupings = tuple(
            g
            for g in groupings
            if g == "none"
            or (g == "predicted" and self.threshold_ is not None)
            or (g == "label" and self.y_min_ is not None and self._label_rows_ok())
        ) or ("none",)
        candidates = [(m, g) for m in methods for g in groupings]
        results = {_label(m, g): self._cross_fit(m, g) for m, g in candidates}
        self.selection_ = {k: v[0] for k, v in results.items()}
        self.selection_coverage_ = {k: v[1] for k, v in results.items()}
        self.method_, self.grouping_ = min(candidates, key=lambda c: self._rank(c, candidates))
        return self

    def _rank(self, candidate, candidates) -> tuple:
        """Calibrated first (cross-fitted coverage within each group, where the target has
        groups, within 1 point of nominal), then the interval score, then simplicity (the
        forest's symmetric band makes quantile ≡ normalized)."""
        name = _label(*candidate)
        groups = self.selection_coverage_[name]
        calibrated = all(abs(c - SELECTION_LEVEL) <= 0.01 for c in groups.values())
        return (not calibrated, round(self.selection_[name], 9), candidates.index(candidate))

    def _label_rows_ok(self) -> bool:
        at_min = self.y_ <= self.y_min_ + 1e-12
        return min(at_min.sum(), (~at_min).sum()) >= 2 * MIN_GROUP_ROWS

    def _zero_threshold(self) -> float | None:
        """For a target with ≥ 10 % of rows at its minimum: the prediction threshold that best
        separates those rows (balanced accuracy), else ``None``."""
        if self.y_min_ is None:
            return None
        at_min = self.y_ <= self.y_min_ + 1e-12
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
        return (
            np.maximum(pred - lower_band, self.floor_),
            np.maximum(upper_band - pred, self.floor_),
        )

    def _scores(self, method, y, pred, lower_band, upper_band, one_sided=False):
        w_lo, w_hi = self._scales(method, pred, lower_band, upper_band)
        if one_sided:
            return (y - pred) / w_hi
        return np.maximum((pred - y) / w_lo, (y - pred) / w_hi)

    def _quantiles(self, method, grouping, rows, level, one_sided=False) -> dict:
        """Conformal quantile per group, from calibration ``rows``: keys are the predicted
        group (0/1), or ``"min"`` / ``"rest"`` for the label-conditional calibration."""
        y, pred = self.y_[rows], self.pred_[rows]
        s = self._scores(method, y, pred, self.lower_band_[rows], self.upper_band_[rows], one_sided)
        if grouping == "label" and not one_sided:
            at_min = y <= self.y_min_ + 1e-12
            return {
                "min": conformal_quantile(s[at_min], level),
                "rest": conformal_quantile(s[~at_min], level),
            }
        g = self._group(grouping, pred)
        return {int(k): conformal_quantile(s[g == k], level) for k in np.unique(g)}

    def _group(self, grouping: str, pred) -> np.ndarray:
        pred = np.asarray(pred, float)
        if grouping != "predicted":
            return np.zeros(len(pred), int)
        return (pred > self.threshold_).astype(int)

    def _bounds(self, method, grouping, quantiles, pred, lower_band, upper_band):
        """``(lower, upper, includes_min)``: the interval, and whether the target's minimum
        (0 eV: a metal) belongs to the prediction set."""
        pred = np.asarray(pred, float)
        w_lo, w_hi = self._scales(method, pred, lower_band, upper_band)
        if "rest" in quantiles:
            q = np.full(len(pred), quantiles["rest"])
            at_min = np.full(len(pred), self.y_min_)
            s_min = self._scores(method, at_min, pred, lower_band, upper_band)
            includes = s_min <= quantiles["min"]
        else:
            g = self._group(grouping, pred)
            q = np.array([quantiles.get(k, quantiles[max(quantiles)]) for k in g], float)
            includes = None
        lo, hi = pred - q * w_lo, pred + q * w_hi
        if includes is None:
            y_min = -np.inf if self.y_min_ is None else self.y_min_
            includes = (lo <= y_min) & (y_min <= hi)
        return lo, hi, includes

    def covered(self, y, lower, upper, includes_min) -> np.ndarray:
        """Whether each target is in its prediction set (at the minimum: ``includes_min``).

        Args:
            y: the targets.
            lower: the sets' lower bounds.
            upper: their upper bounds.
            includes_min: whether each set holds the target's minimum.

        Returns:
            A boolean array.
        """
        y = np.asarray(y, float)
        inside = (y >= lower) & (y <= upper)
        if self.y_min_ is None:
            return inside
        at_min = y <= self.y_min_ + 1e-12
        return np.where(at_min, includes_min, inside)

    def _cross_fit(self, method: str, grouping: str) -> tuple[float, dict[str, float]]:
        """Interval score at ``SELECTION_LEVEL`` and coverage within the target's groups:
        calibrate on one half of the calibration rows, score the other, and swap."""
        n = len(self.y_)
        order = np.random.default_rng(self.random_state).permutation(n)
        halves = (order[: n // 2], order[n // 2 :])
        score, hits = 0.0, []
        for a, b in (halves, halves[::-1]):
            q = self._quantiles(method, grouping, a, SELECTION_LEVEL)
            if not all(np.isfinite(list(q.values()))):
                return math.inf, {}
            lo, hi, inc = self._bounds(
                method, grouping, q, self.pred_[b], self.lower_band_[b], self.upper_band_[b]
            )
            y = self.y_[b]
            covered = self.covered(y, lo, hi, inc)
            miss = np.maximum(lo - y, 0) + np.maximum(y - hi, 0)
            miss = np.where(covered, 0.0, np.maximum(miss, 0.0))
            alpha = 1 - SELECTION_LEVEL
            score += float(np.sum(hi - lo + 2 / alpha * miss))
            hits.append((y, covered))
        groups = {}
        if self.y_min_ is not None:
            y = np.concatenate([h[0] for h in hits])
            c = np.concatenate([h[1] for h in hits])
            at_min = y <= self.y_min_ + 1e-12
            groups = {"at minimum": float(c[at_min].mean()), "above": float(c[~at_min].mean())}
        return score / n, groups

    # ------------------------------------------------------------------------------------
    @property
    def label(self) -> str:
        """The chosen method, e.g. ``"normalized + label-conditional"``."""
        return _label(self.method_, self.grouping_)

    def interval_set(self, pred, lower_band, upper_band, level: float):
        """The set covering a new row with probability ≥ ``level``: [lower, upper], plus the
        target's minimum where ``includes_min``.

        Args:
            pred: the predictions.
            lower_band: the model's −1σ side (quantile 15.9 % or ŷ − σ).
            upper_band: its +1σ side.
            level: the coverage.

        Returns:
            ``(lower, upper, includes_min)``.
        """
        _check_level(level)
        rows = np.arange(len(self.y_))
        q = self._quantiles(self.method_, self.grouping_, rows, level)
        _check_finite(q, level, len(rows))
        return self._bounds(self.method_, self.grouping_, q, pred, lower_band, upper_band)

    def interval(self, pred, lower_band, upper_band, level: float):
        """``(lower, upper)`` of ``interval_set`` (without the minimum's membership).

        Args:
            pred: the predictions.
            lower_band: the model's −1σ side (quantile 15.9 % or ŷ − σ).
            upper_band: its +1σ side.
            level: the coverage.

        Returns:
            ``(lower, upper)``.
        """
        return self.interval_set(pred, lower_band, upper_band, level)[:2]

    def reach_minimum(self, lower, includes_min) -> np.ndarray:
        """``lower`` brought down to the target's minimum (0 eV) where the set includes it, and
        never below it elsewhere: the one interval per row that holds the whole set.

        Args:
            lower: the sets' lower bounds.
            includes_min: whether each set holds the minimum.

        Returns:
            The lower bounds.
        """
        if self.y_min_ is None:
            return np.asarray(lower, float)
        # never below the minimum itself: a band gap's interval stops at 0 eV
        return np.where(includes_min, self.y_min_, np.maximum(lower, self.y_min_))

    def upper(self, pred, lower_band, upper_band, risk: float, method: str | None = None):
        """One-sided bound above the truth with probability ≥ 1 − ``risk`` (a safe k-point
        length, an upper gap).

        Args:
            pred: the predictions.
            lower_band: the model's −1σ side (quantile 15.9 % or ŷ − σ).
            upper_band: its +1σ side.
            risk: the probability the truth exceeds the bound.
            method: another scale than the chosen one (no groups then).

        Returns:
            The bounds.
        """
        _check_level(1 - risk, what="risk", value=risk)
        method = method or self.method_
        grouping = self.grouping_ if method == self.method_ else "none"
        rows = np.arange(len(self.y_))
        q = self._quantiles(method, grouping, rows, 1 - risk, one_sided=True)
        _check_finite(q, 1 - risk, len(rows))
        return self._bounds(method, grouping, q, pred, lower_band, upper_band)[1]

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
            "grouping_": self.grouping_,
            "floor_": self.floor_,
            "threshold_": self.threshold_,
            "y_min_": self.y_min_,
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
        """Rebuild from ``state()``; shapes, names and values are checked.

        Args:
            fields: the plain JSON fields of ``state()``.
            arrays: its arrays (``y``, ``pred``, ``lower_band``, ``upper_band``).

        Returns:
            The calibrator.

        Raises:
            InputError: a malformed, empty or non-finite calibration.
        """
        cal = cls(fields["method"], fields["groups"], int(fields["random_state"]))
        cols = [
            np.asarray(arrays[k], float).ravel() for k in ("y", "pred", "lower_band", "upper_band")
        ]
        if (
            len({len(c) for c in cols}) != 1
            or len(cols[0]) < MIN_CALIBRATION_ROWS
            or not all(np.isfinite(c).all() for c in cols)
            or fields["method_"] not in METHODS
            or fields["grouping_"] not in GROUPINGS
        ):
            raise InputError("the interval calibration is malformed")
        cal.y_, cal.pred_, cal.lower_band_, cal.upper_band_ = cols
        cal.method_, cal.grouping_ = fields["method_"], fields["grouping_"]
        cal.floor_ = float(fields["floor_"])
        t, m = fields["threshold_"], fields["y_min_"]
        cal.threshold_ = None if t is None else float(t)
        cal.y_min_ = None if m is None else float(m)
        if (cal.grouping_ == "predicted" and cal.threshold_ is None) or (
            cal.grouping_ == "label" and cal.y_min_ is None
        ):
            raise InputError("the interval calibration is malformed")
        cal.selection_ = {str(k): float(v) for k, v in fields["selection_"].items()}
        cal.selection_coverage_ = {}
        return cal


def _label(method: str, grouping: str) -> str:
    return method if grouping == "none" else f"{method} + {GROUPING_NAMES[grouping]}"


def parse_label(label: str) -> tuple[str, str]:
    """Split a method's label.

    Args:
        label: such as ``"normalized + label-conditional"``.

    Returns:
        ``(method, grouping)``.
    """
    method, _, name = label.partition(" + ")
    grouping = next((g for g, n in GROUPING_NAMES.items() if n == name), "none")
    return method, grouping


def _check_level(level: float, what: str = "coverage", value: float | None = None) -> None:
    if not 0 < level < 1:
        value = level if value is None else value
        raise InputError(f"The {what} must be between 0 and 1, not {value}")


def _check_finite(q: dict, level: float, n: int) -> None:
    if not all(np.isfinite(list(q.values()))):
        raise InputError(
            f"{n} calibration rows are too few for a {level:.3g} bound; ask for a lower level"
        )


__all__ = [
    "GROUPINGS",
    "METHODS",
    "IntervalCalibrator",
    "conformal_quantile",
    "interval_quality",
    "parse_label",
    "width_error_rho",
    "winkler",
]
