"""One calibrated composition model: features → regressor → adaptive conformal intervals.

``CalibratedCompositionModel`` takes formulas end to end. It is what ``bandgaps train`` writes
to a model file and what the site's studies fit (and cache), so "fit, then calibrate" exists
once. Calibration rows come either from an explicit calibration set (``fit(X, y, X_cal=…,
y_cal=…)``, as a benchmark's validation fold) or from ``calibration_fraction`` of the training
rows, split by formula so that no formula is in both parts.

Calibration rows also fit what the model knows about its own reliability: the interval method
(``bandgaps.models.intervals``: absolute, relative, σ-normalized or quantile-band scores, with
metal / non-metal groups where the target has a mass at zero, chosen on those rows), a fitted
scale that makes ±σ cover 68 % and the domain of applicability (``bandgaps.models.domain``).

Extra numeric columns (transfer features: another model's predictions) ride along when ``X`` is
a DataFrame with a ``formula`` column: every other column is appended to the composition
features.

Examples:
    >>> formulas = [f"Si{k}Ge{40 - k}" for k in range(1, 40)]
    >>> gaps = [0.7 + 0.01 * k for k in range(1, 40)]
    >>> m = CalibratedCompositionModel("rf", params={"n_estimators": 10},
    ...                                calibration_fraction=0.3, levels=(0.9,))
    >>> m = m.fit(formulas, gaps)
    >>> m.n_train_, m.n_calibration_
    (27, 12)
    >>> lo, hi = m.predict_interval(["SiGe"], 0.9)
    >>> bool(lo[0] <= m.predict(["SiGe"])[0] <= hi[0])
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from bandgaps.errors import InputError
from bandgaps.models.conformal import DEFAULT_LEVELS
from bandgaps.models.domain import ApplicabilityDomain
from bandgaps.models.intervals import MIN_CALIBRATION_ROWS, IntervalCalibrator


def _formulas_and_extra(X) -> tuple[list, np.ndarray | None]:
    """Split the input into formulas (or compositions) and extra numeric columns."""
    if isinstance(X, pd.DataFrame) and "formula" in X.columns:
        extra = X.drop(columns=["formula", "composition"], errors="ignore")
        cols = extra.to_numpy(float) if extra.shape[1] else None
        return list(X["formula"]), cols
    if isinstance(X, pd.Series):
        return list(X), None
    if isinstance(X, str):
        return [X], None
    return list(X), None


def grouped_calibration_split(
    formulas: Sequence, fraction: float, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(fit, calibration)``: about ``fraction`` of the distinct formulas (with all
    their rows) are held out, so a formula repeated in the data never sits on both sides.

    Args:
        formulas: each row's formula.
        fraction: the share of distinct formulas held out.
        random_state: seeds the choice.

    Returns:
        ``(fit rows, calibration rows)``.

    Examples:
        >>> fit, cal = grouped_calibration_split(["A", "B", "A", "C", "B"], 0.4, 0)
        >>> sorted(set(np.array(["A", "B", "A", "C", "B"])[cal]) & set(
        ...     np.array(["A", "B", "A", "C", "B"])[fit]))
        []
    """
    keys = np.asarray([str(f) for f in formulas], dtype=object)
    groups, inverse = np.unique(keys, return_inverse=True)
    rng = np.random.default_rng(random_state)
    n_cal = round(fraction * len(groups))
    held = np.zeros(len(groups), bool)
    held[rng.permutation(len(groups))[:n_cal]] = True
    rows = np.arange(len(keys))
    return rows[~held[inverse]], rows[held[inverse]]


class CalibratedCompositionModel(RegressorMixin, BaseEstimator):
    """A named composition model (``rf`` or ``lgbm``) with split-conformal intervals.

    Args:
        kind: ``rf`` (random forest on Magpie features) or ``lgbm`` (LightGBM).
        feature_set: the composition feature set (default the kind's own).
        params: the regressor's parameters.
        calibration_fraction: formulas held out (every row of a formula on one side) to
            calibrate the intervals, the σ scale and the domain; 0 for none.
        levels: the interval coverages reported by default (any level can be asked for).
        random_state: seeds the calibration split.
        cache: cache the features in the result cache.
        interval_method: ``"auto"`` or one of the interval methods (``METHODS`` of
            ``bandgaps.models.intervals``).
    """

    def __init__(
        self,
        kind: str = "rf",
        feature_set: str | None = None,
        params: dict | None = None,
        calibration_fraction: float = 0.1,
        levels: Sequence[float] = DEFAULT_LEVELS,
        random_state: int = 42,
        cache: bool = True,
        interval_method: str = "auto",
    ):
        self.kind = kind
        self.feature_set = feature_set
        self.params = params
        self.calibration_fraction = calibration_fraction
        self.levels = levels
        self.random_state = random_state
        self.cache = cache
        self.interval_method = interval_method

    # ------------------------------------------------------------------------------------
    def fit(self, X, y, X_cal=None, y_cal=None):
        """Fit on ``X, y``; calibrate on ``X_cal, y_cal`` or on a grouped share of ``X``.

        Args:
            X: formulas or compositions (a frame may add numeric columns after a
                ``formula`` column).
            y: the targets.
            X_cal: calibration rows, instead of a share of ``X``.
            y_cal: their targets.

        Returns:
            ``self``.
        """
        from bandgaps.models.composition import make_model

        formulas, extra = _formulas_and_extra(X)
        y = np.asarray(y, float)
        if len(formulas) != len(y):
            raise InputError(f"{len(formulas)} formulas but {len(y)} targets")
        if not 0 <= self.calibration_fraction < 1:
            raise InputError(
                f"calibration_fraction must be in [0, 1), not {self.calibration_fraction}"
            )
        self.pipeline_ = make_model(
            self.kind, feature_set=self.feature_set, cache=self.cache, **dict(self.params or {})
        )
        if X_cal is None and self.calibration_fraction > 0:
            fit_rows, cal_rows = grouped_calibration_split(
                formulas, self.calibration_fraction, self.random_state
            )
            cal_formulas = [formulas[i] for i in cal_rows]
            cal_extra = None if extra is None else extra[cal_rows]
            y_cal = y[cal_rows]
            formulas = [formulas[i] for i in fit_rows]
            extra = None if extra is None else extra[fit_rows]
            y = y[fit_rows]
        elif X_cal is not None:
            cal_formulas, cal_extra = _formulas_and_extra(X_cal)
            y_cal = np.asarray(y_cal, float)
        else:
            cal_formulas, cal_extra = [], None
        from bandgaps.features.composition import _as_compositions

        t0 = time.perf_counter()
        F = self._features(formulas, extra, fit=True)
        self.pipeline_[-1].fit(F, y)
        self.fit_seconds_ = time.perf_counter() - t0
        self.n_train_ = len(y)
        self.n_calibration_ = len(cal_formulas)
        self.intervals_ = None
        self.sigma_scale_ = float("nan")
        self.calibration_mae_ = float("nan")
        self.domain_ = ApplicabilityDomain(self.random_state).fit(F, _as_compositions(formulas))
        if len(cal_formulas) >= self.min_calibration_rows():
            F_cal = self._features(cal_formulas, cal_extra)
            pred, lo, hi = self.predict_band_features(F_cal)
            self.intervals_ = IntervalCalibrator(
                self.interval_method, random_state=self.random_state
            ).fit(y_cal, pred, lo, hi)
            if np.isfinite(hi - lo).all():
                self.sigma_scale_ = self.intervals_.sigma_scale()
            self.calibration_mae_ = float(np.mean(np.abs(pred - y_cal)))
            self.domain_.calibrate(F_cal, (hi - lo) / 2, np.abs(pred - y_cal))
        else:
            self.domain_ = None
        return self

    def min_calibration_rows(self) -> int:
        """Fewest calibration rows that give every stored level a finite interval (a 95 %
        interval needs 19 scores), and never fewer than ``MIN_CALIBRATION_ROWS``."""
        top = max(float(c) for c in self.levels)
        return max(MIN_CALIBRATION_ROWS, math.ceil(top / (1 - top) - 1e-9))

    # ------------------------------------------------------------------------------------
    def _features(self, formulas, extra, fit: bool = False) -> np.ndarray:
        features = self.pipeline_[0]
        if fit:
            features.fit(formulas)
        F = features.transform(formulas)
        if extra is not None:
            F = np.hstack([F, np.asarray(extra, float).reshape(len(F), -1)])
        return F

    def transform(self, X) -> np.ndarray:
        """The feature matrix the regressor sees (composition features plus extra columns).

        Args:
            X: formulas or compositions, as for ``fit``.

        Returns:
            The feature matrix.
        """
        check_is_fitted(self, "pipeline_")
        return self._features(*_formulas_and_extra(X))

    def predict(self, X, return_std: bool = False):
        """Predicted target, and the regressor's σ.

        Args:
            X: formulas or compositions, as for ``fit``.
            return_std: also return σ (not yet scaled: see ``calibrated_std``).

        Returns:
            The predictions, or ``(predictions, σ)``.
        """
        return self.predict_features(self.transform(X), return_std=return_std)

    def predict_features(self, F: np.ndarray, return_std: bool = False):
        """``predict`` on a matrix from ``transform`` (to reuse one featurization).

        Args:
            F: the feature matrix from ``transform``.
            return_std: also return σ.

        Returns:
            The predictions, or ``(predictions, σ)``.
        """
        check_is_fitted(self, "pipeline_")
        return self.pipeline_[-1].predict(F, return_std=return_std)

    def predict_band_features(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The regressor's own ±1σ band: the 15.9/84.1 % quantile boosters, or the forest's
        mean ∓ σ (NaN where the regressor has no σ).

        Args:
            F: the feature matrix from ``transform``.

        Returns:
            ``(prediction, lower, upper)``.
        """
        check_is_fitted(self, "pipeline_")
        regressor = self.pipeline_[-1]
        if hasattr(regressor, "predict_band"):
            return regressor.predict_band(np.asarray(F))
        mean, std = regressor.predict(np.asarray(F), return_std=True)
        return mean, mean - std, mean + std

    @property
    def calibrated(self) -> bool:
        """Whether the model has conformal intervals."""
        return getattr(self, "intervals_", None) is not None

    def _require_calibration(self) -> IntervalCalibrator:
        if not self.calibrated:
            raise InputError("This model was trained without a calibration split: no intervals")
        return self.intervals_

    def interval_levels(self) -> tuple[float, ...]:
        return tuple(float(c) for c in self.levels)

    def _clip(self, values: np.ndarray) -> np.ndarray:
        floor = getattr(self.pipeline_[-1], "clip_min", None)
        return values if floor is None else np.maximum(values, floor)

    def predict_interval_sets_features(self, F: np.ndarray, level: float, band=None) -> tuple:
        """The conformal set at ``level``: [lower, upper] plus, where ``includes_min``, the
        target's minimum (0 eV: "may be a metal").

        Args:
            F: the feature matrix from ``transform``.
            level: the coverage.
            band: ``predict_band_features(F)`` when the caller has it already.

        Returns:
            ``(lower, upper, includes_min)``.
        """
        calibrator = self._require_calibration()
        band = self.predict_band_features(F) if band is None else band
        lo, hi, includes = calibrator.interval_set(*band, float(level))
        return self._clip(lo), hi, includes

    def predict_intervals_features(
        self, F: np.ndarray, levels=None, band=None
    ) -> dict[float, tuple]:
        """Conformal intervals from features: one per row, reaching down to the target's
        minimum where the set includes it.

        Args:
            F: the feature matrix from ``transform``.
            levels: the coverages (default the stored ``levels``).
            band: ``predict_band_features(F)`` when the caller has it already.

        Returns:
            ``{level: (lower, upper)}``.
        """
        band = self.predict_band_features(F) if band is None else band
        out = {}
        for level in levels or self.interval_levels():
            lo, hi, includes = self.predict_interval_sets_features(F, level, band)
            out[float(level)] = (self.intervals_.reach_minimum(lo, includes), hi)
        return out

    def predict_interval_features(self, F: np.ndarray, level: float, band=None) -> tuple:
        """The conformal interval at one coverage, from a feature matrix.

        Args:
            F: the feature matrix from ``transform``.
            level: the coverage.
            band: ``predict_band_features(F)`` when the caller has it already.

        Returns:
            ``(lower, upper)``.
        """
        return self.predict_intervals_features(F, [level], band)[float(level)]

    def predict_upper_features(self, F: np.ndarray, risk: float, band=None) -> np.ndarray:
        """A bound above the truth with probability ≥ 1 − ``risk`` (one-sided, conformal).

        Args:
            F: the feature matrix from ``transform``.
            risk: the probability the truth exceeds the bound.
            band: ``predict_band_features(F)`` when the caller has it already.

        Returns:
            The bounds.
        """
        band = self.predict_band_features(F) if band is None else band
        return self._require_calibration().upper(*band, risk)

    def calibrated_std(self, std: np.ndarray) -> np.ndarray:
        """σ times the fitted scale that makes ±σ cover 68 % of calibration rows.

        Args:
            std: the regressor's σ.

        Returns:
            The scaled σ (unchanged for a model without calibration rows).
        """
        scale = getattr(self, "sigma_scale_", float("nan"))
        return np.asarray(std, float) * (scale if np.isfinite(scale) else 1.0)

    def assess_domain_features(self, F: np.ndarray, compositions, band=None) -> dict[str, object]:
        """Domain score, unseen elements and the in-domain flag (see ``ApplicabilityDomain``).

        Args:
            F: the feature matrix from ``transform``.
            compositions: the rows' compositions (for their elements).
            band: ``predict_band_features(F)`` when the caller has it already.

        Returns:
            ``{"domain score", "in domain", "unseen elements"}``.
        """
        if getattr(self, "domain_", None) is None:
            raise InputError("This model was trained without a calibration split: no domain")
        _, lo, hi = self.predict_band_features(F) if band is None else band
        return self.domain_.assess(F, compositions, (hi - lo) / 2)

    def predict_interval(self, X, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the conformal interval at coverage ``level``.

        Args:
            X: formulas or compositions.
            level: the coverage.

        Returns:
            ``(lower, upper)``.
        """
        return self.predict_interval_features(self.transform(X), level)

    # model files ------------------------------------------------------------------------
    def state(self) -> tuple[dict, dict[str, bytes]]:
        """Plain data of the fitted model: parameters, row counts, σ scale, the regressor's
        own state, the conformal calibration and the domain.

        Returns:
            ``(fields, files)`` for ``bandgaps.models.persist``.
        """
        from bandgaps.models.persist import calibration_state, jsonable

        check_is_fitted(self, "pipeline_")
        regressor, files = self.pipeline_[-1].state()
        fields = {
            "class": type(self).__name__,
            "params": jsonable(self.get_params()),
            "n_train": int(self.n_train_),
            "n_calibration": int(self.n_calibration_),
            "calibration_mae": float(self.calibration_mae_),
            "sigma_scale": float(self.sigma_scale_),
            "regressor": regressor,
        }
        parts, part_files = calibration_state(self)
        return {**fields, **parts}, {**files, **part_files}

    @classmethod
    def from_state(cls, fields: dict, archive) -> CalibratedCompositionModel:
        """Rebuild the fitted model from ``state()``'s data: counts and scales checked, the
        regressor rebuilt by its own ``from_state`` (a forest bounded by the training rows).

        Args:
            fields: the description ``state()`` wrote.
            archive: the model file's ``bandgaps.models.persist.Archive``.

        Returns:
            The fitted ``CalibratedCompositionModel``.
        """
        from bandgaps.models.composition import make_model

        model = cls(**fields["params"])
        n_train, n_calibration = fields["n_train"], fields["n_calibration"]
        if not all(
            isinstance(n, int) and not isinstance(n, bool) for n in (n_train, n_calibration)
        ):
            raise archive.refuse("its row counts are malformed")
        if n_train < 1 or n_calibration < 0:
            raise archive.refuse("its row counts are malformed")
        pipeline = make_model(model.kind, feature_set=model.feature_set, cache=model.cache)
        # only the regressor class its kind names (a forest for "rf"): a file whose card says
        # one kind must not predict with another
        expected = type(pipeline.steps[-1][1]).__name__
        forest = expected == "UncertainForestRegressor"
        regressor = archive.estimator(
            fields["regressor"], expected, **({"rows": n_train} if forest else {})
        )
        model.n_train_, model.n_calibration_ = n_train, n_calibration
        model.calibration_mae_ = float(fields["calibration_mae"])
        model.sigma_scale_ = float(fields["sigma_scale"])
        # NaN: trained without calibration rows; otherwise a positive, finite scale and MAE
        for name, least in (("sigma_scale_", 1e-12), ("calibration_mae_", 0.0)):
            value = getattr(model, name)
            if not np.isnan(value) and not (np.isfinite(value) and value >= least):
                raise archive.refuse(f"its {name[:-1]} is {value}")
        model.intervals_ = archive.part(IntervalCalibrator, fields["intervals"], "intervals")
        model.domain_ = archive.part(ApplicabilityDomain, fields["domain"], "domain")
        pipeline.steps[-1] = ("regressor", regressor)
        pipeline[0].fit()
        model.pipeline_ = pipeline
        return model


__all__ = ["CalibratedCompositionModel", "grouped_calibration_split"]
