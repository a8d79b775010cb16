"""Train a composition model on any ``formula → target`` table and predict with it.

This is what ``bandgaps train`` and ``bandgaps predict`` run; any numeric column of a catalog
data set, a fetched MP snapshot or a user's CSV can be the target. The table comes from
``bandgaps.data.tables.training_table``; the model is a
``bandgaps.models.calibrated.CalibratedCompositionModel``.
"""

from __future__ import annotations

from pathlib import Path

from bandgaps.data.tables import TrainingTable, training_table
from bandgaps.errors import InputError
from bandgaps.models.calibrated import CalibratedCompositionModel
from bandgaps.models.persist import ModelCard, save_model

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

    Args:
        table: the training rows (``training_table``).
        kind: ``rf`` or ``lgbm``.
        feature_set: the feature set (default the model's own).
        calibration_fraction: formulas held out for the intervals, σ scale and domain.
        params: the regressor's parameters.
        seed: the random seed of the split and the model.

    Returns:
        ``(model, card)``.
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
    """``train`` and write the model file.

    Args:
        out: the model file to write.
        table: the training rows.
        **kwargs: as for ``train``.

    Returns:
        The card written.
    """
    model, card = train(table, **kwargs)
    save_model(out, model, card)
    return card


__all__ = [
    "TrainingTable",
    "train",
    "train_to_file",
    "training_table",
]
