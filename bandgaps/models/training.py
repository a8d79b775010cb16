"""Train a composition model on any ``formula → target`` table and predict with it.

This is what ``bandgaps train`` and ``bandgaps predict`` run; any numeric column of a catalog
data set, a fetched MP snapshot or a user's CSV can be the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bandgaps.errors import InputError
from bandgaps.models.conformal import DEFAULT_LEVELS, conformalize, coverage, interval
from bandgaps.models.persist import ModelCard, load_model, save_model


@dataclass
class TrainingTable:
    """Formulas and targets to train on, with where they came from."""

    formulas: list[str]
    y: np.ndarray
    target: str
    source: dict


def read_training_table(data: str, target: str | None = None) -> TrainingTable:
    """A catalog name, a fetched ``.json.gz`` snapshot or a CSV with a ``formula`` column."""
    from bandgaps.data import catalog
    from bandgaps.data.formulas import parse_formulas, read_formula_csv
    from bandgaps.files import sha256_file

    path = Path(data)
    if data not in catalog.CATALOG and path.suffix.lower() == ".csv":
        df = read_formula_csv(path, what="Training table")
        parse_formulas(df["formula"], index=df.index + 2, on_error="raise")  # CSV line numbers
        source = {"file": str(path.resolve()), "sha256": sha256_file(path)}
    else:
        df = catalog.load(data)
        source = {"dataset": df.attrs.get("dataset", data), "sha256": df.attrs.get("sha256")}
        if "structure" in df.columns and "e_above_hull" in df.columns:
            # an MP snapshot: the composition-model table (no isolated atoms, one polymorph)
            from bandgaps.analyses.dataset import composition_model_table
            from bandgaps.data.cleaning import cleaning_report

            df = composition_model_table(df)
            source["cleaning"] = cleaning_report(df)[["rule", "before", "after"]].to_dict("records")
        if df.attrs.get("dropped"):
            source["dropped formulas"] = df.attrs["dropped"]
    if target is None:
        target = "band_gap" if "band_gap" in df.columns else "target"
    if target not in df.columns:
        raise InputError(f"No column {target!r} in {data}; columns: {list(df.columns)}")
    y = pd.to_numeric(df[target], errors="coerce")
    keep = y.notna().to_numpy()
    if not keep.any():
        raise InputError(f"Column {target!r} of {data} has no numeric values")
    source["rows"] = int(keep.sum())
    source["rows without a numeric target"] = int((~keep).sum())
    return TrainingTable(
        formulas=[str(f) for f in df.loc[keep, "formula"]],
        y=y[keep].to_numpy(float),
        target=target,
        source=source,
    )


def train(
    table: TrainingTable,
    kind: str = "rf",
    feature_set: str | None = None,
    calibration_fraction: float = 0.1,
    params: dict | None = None,
    seed: int = 42,
):
    """Fit on ``1 - calibration_fraction`` of the rows, calibrate conformal intervals on the rest.

    Returns ``(pipeline, card, conformal)``.
    """
    from bandgaps.features.composition import get_feature_set
    from bandgaps.models.composition import get_spec, make_model

    spec = get_spec(kind)
    fs = get_feature_set(feature_set or spec.feature_set)
    params = {"random_state": seed, **(params or {})}
    if kind == "lgbm" and "clip_min" not in params and table.y.min() >= 0:
        params["clip_min"] = 0.0  # a non-negative target (gaps, lengths) stays non-negative
    n = len(table.y)
    if n < 10:
        raise InputError(f"Need at least 10 rows to train, got {n}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_cal = round(calibration_fraction * n) if calibration_fraction > 0 else 0
    cal, fit = order[:n_cal], order[n_cal:]
    formulas = np.asarray(table.formulas, dtype=object)
    model = make_model(kind, feature_set=fs.name, **params)
    model.fit(list(formulas[fit]), table.y[fit])
    conformal, metrics = None, {}
    if n_cal >= 10:
        X_cal = model[:-1].transform(list(formulas[cal]))
        conformal = conformalize(model[-1], X_cal, table.y[cal])
        pred = model[-1].predict(X_cal)
        metrics = {"calibration MAE": float(np.mean(np.abs(pred - table.y[cal]))), "n_cal": n_cal}
    card = ModelCard(
        kind=kind,
        target=table.target,
        feature_set=fs.config(),
        training_data=table.source,
        n_train=len(fit),
        params={k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
        conformal={"levels": list(DEFAULT_LEVELS)} if conformal is not None else {},
        metrics=metrics,
    )
    return model, card, conformal


def train_to_file(out: str | Path, table: TrainingTable, **kwargs) -> ModelCard:
    model, card, conformal = train(table, **kwargs)
    save_model(out, model, card, {"conformal": conformal})
    return card


def predict_file(
    model_file: str | Path, formulas: list[str], confidence: float | None = None
) -> pd.DataFrame:
    """Predictions (mean, σ, and the conformal interval at ``confidence``) for formulas."""
    from bandgaps.features.composition import _as_compositions

    model, card, extras = load_model(model_file)
    # one clear error naming a bad formula (counted from 1) before any work
    _as_compositions(formulas, index=range(1, len(formulas) + 1))
    X = model[:-1].transform(list(formulas))
    mean, std = model[-1].predict(X, return_std=True)
    frame = pd.DataFrame({"formula": formulas, card.target: mean, "σ": std})
    if confidence is not None:
        cp = extras.get("conformal")
        if cp is None:
            raise InputError(f"{model_file} was trained without a calibration split")
        lo, hi = interval(cp, X, confidence)
        frame[f"lower {confidence:g}"] = lo
        frame[f"upper {confidence:g}"] = hi
    frame.attrs["card"] = card
    return frame


__all__ = ["TrainingTable", "coverage", "predict_file", "read_training_table", "train"]
