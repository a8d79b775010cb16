"""The registered ``mp_gap`` entry ``mp-gap-gated``: a metal gate in front of the Huber
regressor, with the gate and its threshold chosen inside each fold.

Each official fold's training rows are split as ``bandgaps.analyses.mp_gap`` splits them: a
seeded tenth of the distinct formulas (all their polymorphs) are calibration rows, the model
trains on the rest. On the rest a gate (``MetalClassifier``, one log-loss LightGBM booster
with the ``mp-gap-lgbm-huber`` settings, as that entry has one point booster) learns which
rows PBE calls metals, and a Huber LightGBM regressor learns the non-metal rows' gaps. On the
calibration rows the threshold with the lowest MAE is taken from ``THRESHOLDS``, and the gated
model is kept only if it beats the ungated regressor trained on the same rows (that fold's
``mp_gap_study`` fit, reused). The test rows are predicted once, by the model chosen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bandgaps.analyses.common import subsample
from bandgaps.analyses.matbench import TASKS, BenchmarkRun, run_task
from bandgaps.analyses.mp_gap import (
    CALIBRATION_FRACTION,
    MP_GAP_MODEL,
    mp_gap_study,
    split_calibration,
)
from bandgaps.cache import Stage
from bandgaps.config import SEED
from bandgaps.models.boosting import BoostedRegressor
from bandgaps.models.transfer import MetalClassifier

_MATBENCH_MP_GAP_GATED = Stage("matbench-mp-gap-gated", __name__)
_PBE_GAP_PRODUCT = Stage("pbe-gap-product", __name__)

#: The entry's label (registry id ``mp-gap-gated``).
GATED_ENTRY = "LightGBM with a metal gate"
#: Metal probabilities above which the gap is 0 eV, one chosen per fold on calibration rows.
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
#: Settings of the ungated entry that are not booster settings (its loss, clip and σ).
_NOT_BOOSTER = ("objectives", "clip_min", "quantile_params")
#: The gated entry's regressor of the non-metal rows: its loss and clip.
_GATED_REGRESSOR = {"objectives": ("huber",), "clip_min": 0.0}


def booster_settings(model: tuple[str, str, dict] = MP_GAP_MODEL) -> dict:
    """The ungated entry's LightGBM settings that gate and regressor share.

    Examples:
        >>> sorted(booster_settings())[:3]
        ['colsample_bytree', 'early_stopping', 'learning_rate']
    """
    return {k: v for k, v in model[2].items() if k not in _NOT_BOOSTER}


def fit_gated(X, y, settings: dict, seed: int) -> tuple[MetalClassifier, BoostedRegressor]:
    """The entry's two parts on training rows: the gate (one log-loss booster, metal = a gap
    of 0) and the Huber regressor of the non-metal rows.

    Args:
        X: the feature matrix.
        y: the PBE gaps (0 for a metal).
        settings: the boosters' settings (``booster_settings``).
        seed: seeds both.

    Returns:
        ``(gate, regressor)``.
    """
    gate = MetalClassifier(settings, n_boosters=1, random_state=seed)
    gate.fit(X, (y == 0).astype(float))
    regressor = BoostedRegressor(
        sigma=False, random_state=seed, **_GATED_REGRESSOR, **settings
    ).fit(X[y > 0], y[y > 0])
    return gate, regressor


def choose_gate(
    y, metal_proba, gap, ungated, thresholds=THRESHOLDS
) -> tuple[bool, float, dict[float, float], float]:
    """The choice the entry makes on a fold's calibration rows: the threshold whose gated
    predictions have the lowest MAE (the first on a tie), and whether that beats the ungated
    model.

    Args:
        y: calibration targets.
        metal_proba: the gate's metal probabilities of the calibration rows.
        gap: the non-metal regressor's gaps of the calibration rows.
        ungated: the ungated model's predictions of the calibration rows.
        thresholds: the thresholds tried.

    Returns:
        ``(gate, threshold, MAE by threshold, ungated MAE)``.

    Examples:
        >>> y = np.array([0.0, 0.0, 2.0, 3.0])
        >>> choose_gate(y, np.array([0.9, 0.45, 0.35, 0.2]), y + 0.1, y + 0.3)[:2]
        (True, 0.4)
    """
    y = np.asarray(y, float)
    maes = {
        float(t): float(np.abs(np.where(np.asarray(metal_proba) > t, 0.0, gap) - y).mean())
        for t in thresholds
    }
    best = min(maes, key=lambda t: (maes[t], thresholds.index(t)))
    plain = float(np.abs(np.asarray(ungated, float) - y).mean())
    return maes[best] < plain, best, maes, plain


def run_mp_gap_gated(
    folds=None,
    n_rows: int | None = None,
    max_train: int | None = None,
    model: tuple[str, str, dict] = MP_GAP_MODEL,
) -> BenchmarkRun:
    """``mp-gap-gated`` on the official ``mp_gap`` folds (cached).

    ``n_rows``, ``max_train`` and ``model`` are ``mp_gap_study``'s (small runs for tests); the
    ungated fits are that study's, so both see the same rows.

    Args:
        folds: the folds to run (default all five).
        n_rows: only the task's first rows (tests).
        max_train: at most this many training rows per fold (tests).
        model: the ungated entry's ``(kind, feature set, parameters)``.

    Returns:
        The ``BenchmarkRun``; each fold's parameters record the choice and its figures.
    """
    from bandgaps.analyses.measured_inputs import task_frame
    from bandgaps.features.composition import CompositionFeatures, known_features

    task = TASKS["mp_gap"]
    feature_set = model[1]
    settings = booster_settings(model)

    def compute() -> BenchmarkRun:
        study = mp_gap_study(folds, n_rows=n_rows, max_train=max_train, model=model)
        chosen = sorted(range(5) if folds is None else folds)
        ungated = dict(zip(chosen, study.fits, strict=True))
        frame = task_frame("mp_gap")
        if n_rows is not None:
            frame = frame.iloc[:n_rows]
        featurizer = CompositionFeatures(feature_set)

        def fold_fit(train: pd.DataFrame, test: pd.DataFrame, fold: int):
            fit, cal = split_calibration(subsample(train, max_train, seed=SEED + fold), fold)
            plain = ungated[fold]
            if list(plain.frame("val")["formula"]) != list(cal["formula"]):
                raise RuntimeError("the ungated fit was calibrated on other rows")
            X = featurizer.transform(list(fit["formula"]))
            y = fit["target"].to_numpy(float)
            gate, regressor = fit_gated(X, y, settings, SEED + fold)
            Xc = featurizer.transform(list(cal["formula"]))
            use_gate, threshold, maes, plain_mae = choose_gate(
                cal["target"].to_numpy(float),
                gate.predict_proba(Xc)[:, 1],
                regressor.predict(Xc),
                plain.frame("val")["mean"].to_numpy(),
            )
            if use_gate:
                Xt = featurizer.transform(list(test["formula"]))
                gaps = regressor.predict(Xt)
                pred = np.where(gate.predict_proba(Xt)[:, 1] > threshold, 0.0, gaps)
            else:
                pred = plain.frame("test")["mean"].to_numpy()
            return pred, {
                "gate": bool(use_gate),
                "threshold": threshold,
                "calibration MAE by threshold": {f"{t:g}": v for t, v in maes.items()},
                "ungated calibration MAE": plain_mae,
                "calibration rows": len(cal),
                "non-metal rows": int((y > 0).sum()),
                "trees": regressor.trees(),
                "gate trees": gate.booster_.trees(),
            }

        formulas = list(frame["formula"])
        with known_features(feature_set, formulas, featurizer.transform(formulas)):
            return run_task(task, fold_fit, GATED_ENTRY, data=frame, folds=folds)

    key = {
        "model": model,
        "thresholds": THRESHOLDS,
        "calibration": CALIBRATION_FRACTION,
        "folds": folds,
        "n_rows": n_rows,
        "max_train": max_train,
        "seed": SEED,
    }
    return _MATBENCH_MP_GAP_GATED(key, compute)


def pbe_gap_product(n_rows: int | None = None, model: tuple[str, str, dict] = MP_GAP_MODEL):
    """The named ``pbe-gap`` model: ``mp-gap-gated``'s procedure with every row of ``mp_gap``
    as the training rows (cached). A seeded tenth of the distinct formulas calibrates; the
    gate and the Huber regressor learn the rest, beside the ungated regressor of the same rows;
    the threshold and whether to gate at all are chosen on the calibration rows, as in each
    fold. Without the gate the ungated regressor answers, and the gate only gives the metal
    probability (its threshold is then 1, never reached). Its domain of applicability knows
    the fit rows' elements and a sample of their features, and flags a distance from them
    above 99 % of the calibration rows'.

    Args:
        n_rows: only the task's first rows (tests).
        model: the ungated entry's ``(kind, feature set, parameters)``.

    Returns:
        ``(PBEGapModel, card data)``: the fitted model and the counts its card records.
    """
    from bandgaps.analyses.measured_inputs import _frame_digest, task_frame
    from bandgaps.features.composition import CompositionFeatures
    from bandgaps.models.calibrated import grouped_calibration_split
    from bandgaps.models.domain import ApplicabilityDomain
    from bandgaps.models.pbe_gap import PBEGapModel
    from bandgaps.models.transfer import GatedGapModel

    frame = task_frame("mp_gap")
    if n_rows is not None:
        frame = frame.iloc[:n_rows]
    feature_set, settings = model[1], booster_settings(model)

    def compute():
        F = CompositionFeatures(feature_set, cache=True).transform(list(frame["composition"]))
        y = frame["target"].to_numpy(float)
        fit, cal = grouped_calibration_split(list(frame["formula"]), CALIBRATION_FRACTION, SEED)
        gate, regressor = fit_gated(F[fit], y[fit], settings, SEED)
        plain = {k: model[2][k] for k in ("objectives", "clip_min")}
        ungated = BoostedRegressor(sigma=False, random_state=SEED, **plain, **settings)
        ungated.fit(F[fit], y[fit])
        use_gate, threshold, maes, plain_mae = choose_gate(
            y[cal],
            gate.predict_proba(F[cal])[:, 1],
            regressor.predict(F[cal]),
            ungated.predict(F[cal]),
        )
        gated = GatedGapModel(
            threshold=threshold if use_gate else 1.0,
            regressor_params={**settings, **(_GATED_REGRESSOR if use_gate else plain)},
            gate_params=settings,
            random_state=SEED,
        )
        gated.gate_, gated.regressor_ = gate, regressor if use_gate else ungated
        gated.n_features_in_, gated.n_train_ = F.shape[1], len(fit)
        choice = {
            "gate": bool(use_gate),
            "threshold": threshold,
            "calibration MAE by threshold": {f"{t:g}": v for t, v in maes.items()},
            "ungated calibration MAE": plain_mae,
            "calibration rows": len(cal),
            "non-metal rows": int((y[fit] > 0).sum()),
        }
        domain = ApplicabilityDomain(SEED).fit(F[fit], frame["composition"].iloc[fit])
        error = np.abs(gated.predict(F[cal]) - y[cal])
        distance = domain.distance(F[cal])
        domain.calibrate_scores({"distance": distance}, error)
        beyond = distance > domain.threshold_
        product = PBEGapModel.from_parts(feature_set, gated, len(fit), choice, domain)
        data = {
            "rows": len(frame),
            "fit rows": len(fit),
            **choice,
            "domain": {
                "elements": len(domain.elements_),
                "elements per formula": domain.n_elements_,
                "distance ρ with |error|": domain.correlations_["distance"],
                "calibration rows beyond the flag": int(beyond.sum()),
                "calibration MAE beyond the flag": float(error[beyond].mean()),
                "calibration MAE within": float(error[~beyond].mean()),
                "metal share beyond the flag": float((y[cal][beyond] == 0).mean()),
                "metal share within": float((y[cal][~beyond] == 0).mean()),
            },
        }
        return product, data

    key = {
        "model": model,
        "thresholds": THRESHOLDS,
        "calibration": CALIBRATION_FRACTION,
        "data": _frame_digest(frame),
        "seed": SEED,
    }
    return _PBE_GAP_PRODUCT(key, compute)


def gate_choices(run: BenchmarkRun) -> pd.DataFrame:
    """Per fold: the choice made on the calibration rows and the test score.

    Args:
        run: ``run_mp_gap_gated``'s run.

    Returns:
        One row per fold.
    """
    rows = []
    for (_, score), p in zip(run.scores.iterrows(), run.parameters, strict=True):
        rows.append(
            {
                "fold": int(score["fold"]),
                "gate": "yes" if p["gate"] else "no",
                "threshold": p["threshold"],
                "calibration MAE, gated": p["calibration MAE by threshold"][f"{p['threshold']:g}"],
                "calibration MAE, ungated": p["ungated calibration MAE"],
                "test MAE": score["mae"],
            }
        )
    return pd.DataFrame(rows)


__all__ = [
    "GATED_ENTRY",
    "THRESHOLDS",
    "booster_settings",
    "choose_gate",
    "fit_gated",
    "gate_choices",
    "pbe_gap_product",
    "run_mp_gap_gated",
]
