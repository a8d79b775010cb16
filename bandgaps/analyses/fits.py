"""One cached fit of a calibrated composition model, predicting several named formula sets.

``fit_predict`` is how every study trains a composition model: it builds a
``CalibratedCompositionModel``, fits it, calibrates its conformal intervals on a named set (a
validation fold) when asked, and keeps the predictions. The result is cached on disk under a
key of everything that determines it (data, model, parameters, the formulas predicted, the
code; see ``bandgaps.cache``), so a warm rebuild reads results instead of refitting.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bandgaps.analyses.common import digest
from bandgaps.cache import Stage
from bandgaps.features.composition import _as_compositions
from bandgaps.models.calibrated import CalibratedCompositionModel
from bandgaps.models.composition import get_spec
from bandgaps.models.conformal import DEFAULT_LEVELS

_COMPOSITION_FITS = Stage("composition-fits", __name__)


@dataclass
class FitResult:
    """Predictions of one fitted model on named formula sets, plus timings and intervals."""

    kind: str
    feature_set: str
    params: dict
    n_train: int
    predictions: dict[str, pd.DataFrame]
    fit_seconds: float
    predict_seconds: dict[str, float] = field(default_factory=dict)
    #: conformal bounds per set: ``{set: {level: (lower, upper)}}``, calibrated on ``calibration``
    intervals: dict[str, dict[float, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    calibration: str | None = None
    #: the model's chosen interval method, σ scale and domain score (with their calibration
    #: figures), when it was calibrated
    interval_method: str | None = None
    interval_selection: dict[str, float] = field(default_factory=dict)
    sigma_scale: float = float("nan")
    domain_score: str | None = None
    domain_correlations: dict[str, float] = field(default_factory=dict)
    #: what the fit learned that a reader may want (a booster's ``trees`` per booster)
    fitted: dict = field(default_factory=dict)

    def frame(self, name: str) -> pd.DataFrame:
        return self.predictions[name]


def _inputs(formulas: Sequence, extra: np.ndarray | None) -> pd.DataFrame | list[str]:
    """Formulas alone, or a frame of formulas and extra feature columns."""
    formulas = [str(f) for f in formulas]
    if extra is None:
        return formulas
    cols = np.asarray(extra, float).reshape(len(formulas), -1)
    frame = pd.DataFrame(cols, columns=[f"extra {i}" for i in range(cols.shape[1])])
    frame.insert(0, "formula", formulas)
    return frame


def fit_predict(
    kind: str,
    train_formulas: Sequence[str],
    train_y: Sequence[float],
    predict: dict[str, tuple[Sequence[str], Sequence[float] | None]],
    *,
    feature_set: str | None = None,
    params: dict | None = None,
    calibrate_on: str | None = None,
    extra_features: dict[str, np.ndarray] | None = None,
) -> FitResult:
    """Fit model ``kind`` and predict each named set ``{name: (formulas, targets or None)}``.

    With ``calibrate_on`` naming a set with targets, the model's adaptive conformal intervals,
    σ scale and domain of applicability are calibrated on it, and every other set gets its
    intervals and domain columns. Frames hold ``mean``, ``std`` (the raw σ) and the ±1σ band
    (``lower_band``, ``upper_band``) the interval methods use. ``extra_features``
    appends columns to the composition features: ``{"train": array, set name: array, ...}``
    (for transfer learning, the predictions of another model).
    """
    spec = get_spec(kind)
    fs = feature_set or spec.feature_set
    params = dict(params or {})
    train_formulas = [str(f) for f in train_formulas]
    train_y = np.asarray(train_y, float)
    extra = extra_features or {}
    key = {
        "kind": kind,
        "feature_set": fs,
        "params": params,
        "train": digest("\n".join(train_formulas), train_y),
        "predict": {
            name: digest("\n".join(map(str, f)), None if y is None else np.asarray(y, float))
            for name, (f, y) in predict.items()
        },
        "calibrate_on": calibrate_on,
        "levels": DEFAULT_LEVELS,
        "outputs": ("band", "domain"),
    }
    if extra:
        key["extra"] = {k: digest(np.asarray(v, float)) for k, v in extra.items()}

    def compute() -> FitResult:
        model = CalibratedCompositionModel(
            kind, feature_set=fs, params=params, calibration_fraction=0.0, levels=DEFAULT_LEVELS
        )
        cal = None
        if calibrate_on is not None:
            formulas, y = predict[calibrate_on]
            cal = (_inputs(formulas, extra.get(calibrate_on)), np.asarray(y, float))
        model.fit(
            _inputs(train_formulas, extra.get("train")),
            train_y,
            *(cal or (None, None)),
        )
        preds, timing, intervals = {}, {}, {}
        for name, (formulas, y) in predict.items():
            comps = _as_compositions([str(f) for f in formulas])
            t0 = time.perf_counter()
            F = model.transform(_inputs(formulas, extra.get(name)))
            mean, lo, hi = model.predict_band_features(F)
            timing[name] = time.perf_counter() - t0
            frame = pd.DataFrame(
                {
                    "formula": [str(f) for f in formulas],
                    "mean": mean,
                    "std": (hi - lo) / 2,
                    "lower_band": lo,
                    "upper_band": hi,
                }
            )
            if y is not None:
                frame.insert(1, "target", np.asarray(y, float))
            if model.calibrated:
                domain = model.assess_domain_features(F, comps, band=(mean, lo, hi))
                frame["domain score"] = domain["domain score"]
                frame["in domain"] = domain["in domain"]
                frame["unseen elements"] = domain["unseen elements"]
                frame["distance"] = model.domain_.distance(F)
                if name != calibrate_on:
                    intervals[name] = model.predict_intervals_features(F, band=(mean, lo, hi))
            preds[name] = frame
        calibrator, domain = model.intervals_, model.domain_
        regressor = model.pipeline_[-1]
        fitted = {}
        if hasattr(regressor, "boosters_"):
            fitted["trees"] = regressor.trees()
        return FitResult(
            kind=kind,
            feature_set=fs,
            params=params,
            n_train=len(train_formulas),
            predictions=preds,
            fit_seconds=model.fit_seconds_,
            predict_seconds=timing,
            intervals=intervals,
            calibration=calibrate_on,
            interval_method=None if calibrator is None else calibrator.label,
            interval_selection={} if calibrator is None else calibrator.selection_,
            sigma_scale=model.sigma_scale_,
            domain_score=None if domain is None else domain.score_,
            domain_correlations={} if domain is None else domain.correlations_,
            fitted=fitted,
        )

    return _COMPOSITION_FITS(key, compute, code=(spec.module,))


__all__ = ["FitResult", "fit_predict"]
