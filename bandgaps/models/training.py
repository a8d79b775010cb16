"""Train a composition model on any ``formula → target`` table and predict with it.

This is what ``bandgaps train`` and ``bandgaps predict`` run; any numeric column of a catalog
data set, a fetched MP snapshot or a user's CSV can be the target. The table comes from
``bandgaps.data.tables.training_table``; the model is a
``bandgaps.models.calibrated.CalibratedCompositionModel``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bandgaps.data.tables import TrainingTable, training_table
from bandgaps.errors import InputError, OptionError
from bandgaps.models.calibrated import CalibratedCompositionModel
from bandgaps.models.persist import ModelCard, load_model, save_model

#: Fewest rows a model is trained on.
MIN_ROWS = 10


def train(
    table: TrainingTable,
    kind: str = "rf",
    feature_set: str | None = None,
    calibration_fraction: float = 0.1,
    params: dict | None = None,
    seed: int = 42,
) -> tuple[CalibratedCompositionModel, ModelCard]:
    """Fit on ``1 - calibration_fraction`` of the formulas, calibrate intervals on the rest.

    Returns ``(model, card)``.
    """
    from bandgaps.features.composition import get_feature_set
    from bandgaps.models.composition import get_spec

    spec = get_spec(kind)
    fs = get_feature_set(feature_set or spec.feature_set)
    params = {"random_state": seed, **(params or {})}
    if kind == "lgbm" and "clip_min" not in params and table.y.min() >= 0:
        params["clip_min"] = 0.0  # a non-negative target (gaps, lengths) stays non-negative
    if kind == "lgbm":
        params.setdefault("early_stopping", 0.1)  # rounds (time, file size) follow the data
    if len(table.y) < MIN_ROWS:
        raise InputError(f"Need at least {MIN_ROWS} rows to train, got {len(table.y)}")
    model = CalibratedCompositionModel(
        kind,
        feature_set=fs.name,
        params=params,
        calibration_fraction=calibration_fraction,
        random_state=seed,
    ).fit(table.formulas, table.y)
    metrics = {}
    if model.calibrated:
        metrics = {"calibration MAE": model.calibration_mae_, "n_cal": model.n_calibration_}
    card = ModelCard(
        kind=kind,
        target=table.target,
        feature_set=fs.config(),
        training_data=table.source,
        n_train=model.n_train_,
        params={k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
        conformal={
            "levels": list(model.interval_levels()),
            "method": model.intervals_.label,
            "σ scale": model.sigma_scale_,
            "domain score": model.domain_.score_,
        }
        if model.calibrated
        else {},
        metrics=metrics,
    )
    return model, card


def train_to_file(out: str | Path, table: TrainingTable, **kwargs) -> ModelCard:
    model, card = train(table, **kwargs)
    save_model(out, model, card)
    return card


def check_coverage_and_risk(confidence: float | None, risk: float | None) -> None:
    """One clear error for an interval coverage or a risk outside (0, 1)."""
    for value, what in ((confidence, "coverage"), (risk, "risk")):
        if value is not None and not 0 < value < 1:
            raise OptionError(f"The {what} must be between 0 and 1, not {value:g}")


def predict_file(
    model_file: str | Path,
    formulas: list[str],
    confidence: float | None = None,
    risk: float | None = None,
) -> pd.DataFrame:
    """Predictions for formulas: the target, σ (recalibrated), the conformal interval at
    ``confidence``, the one-sided bound at ``risk`` and the domain of applicability.

    A calibrated model reports its 90 % interval unless another ``confidence`` is given.
    """
    from bandgaps.features.composition import _as_compositions

    model, card, _ = load_model(model_file)
    check_coverage_and_risk(confidence, risk)
    if (confidence is not None or risk is not None) and not model.calibrated:
        raise InputError(f"{model_file} was trained without a calibration split: no intervals")
    # one clear error naming a bad formula (counted from 1) before any work; parsed once
    comps = _as_compositions(formulas, index=range(1, len(formulas) + 1))
    F = model.transform(comps)
    # one pass of the regressor: the prediction, its σ band, and every bound built on it
    band = model.predict_band_features(F)
    mean, std = band[0], (band[2] - band[1]) / 2
    frame = pd.DataFrame({"formula": formulas, card.target: mean, "σ": model.calibrated_std(std)})
    if model.calibrated:
        level = 0.9 if confidence is None else confidence
        lo, hi = model.predict_interval_features(F, level, band)
        frame[f"lower {level:g}"] = lo
        frame[f"upper {level:g}"] = hi
        if model.intervals_.grouping_ == "label":
            # label-conditional: the set is "the minimum (a metal), if its score allows" plus
            # the interval; say which rows include the minimum
            _, _, includes = model.predict_interval_sets_features(F, level, band)
            frame[f"{model.intervals_.y_min_:g} possible {level:g}"] = includes
        if risk is not None:
            frame[f"safe upper (risk {risk:g})"] = model.predict_upper_features(F, risk, band)
        domain = model.assess_domain_features(F, comps, band)
        frame["domain score"] = domain["domain score"]
        frame["in domain"] = domain["in domain"]
        frame.attrs["unseen elements"] = domain["unseen elements"]
        frame.attrs["domain reason"] = model.domain_.reason()
        frame.attrs["interval method"] = model.intervals_.label
    frame.attrs["card"] = card
    return frame


__all__ = [
    "TrainingTable",
    "check_coverage_and_risk",
    "predict_file",
    "train",
    "train_to_file",
    "training_table",
]
