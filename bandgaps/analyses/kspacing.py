"""A second target: the converged k-point length of JARVIS-DFT, predicted from composition.

Nothing here is specific to k-points except the choice of data and the safety analysis: the
models, features, caching and conformal machinery are those of the band-gap study, configured
for another table. Transfer learning enters as extra feature columns — the predictions of
models trained on other targets (formation energy; band gap and metallicity) — never fitted on
the k-point test split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bandgaps.analyses.common import SEED, regression_metrics, subsample
from bandgaps.analyses.fits import FitResult, fit_predict
from bandgaps.analyses.targets import PUBLISHED as _P
from bandgaps.data.tables import load_table

#: The published forest and leaderboard entries of ``PUBLISHED`` (pages look them up by name).
PUBLISHED_FOREST = _P["kspacing-rf"].label
PUBLISHED_LEADERBOARD = _P["jarvis-leaderboard"].label
#: The k-spacing study's test-set figures and the JARVIS leaderboard best (Å), from the
#: registry (``bandgaps.analyses.targets``).
PUBLISHED = {
    PUBLISHED_FOREST: {"MAE": _P["kspacing-rf"].value, "R2": _P["kspacing-rf-r2"].value},
    _P["kspacing-crabnet"].label: {
        "MAE": _P["kspacing-crabnet"].value,
        "R2": _P["kspacing-crabnet-r2"].value,
    },
    PUBLISHED_LEADERBOARD: {"MAE": _P["jarvis-leaderboard"].value},
}

#: Boosting settings of the auxiliary (transfer) models: one booster, point predictions only,
#: stopped once a tenth of its training rows (held out inside them) stop improving (about
#: 900 trees for formation energy, where a fixed 1,500 took twice the time).
AUX_PARAMS = {
    "objectives": ("l2",),
    "sigma": False,
    "n_estimators": 3000,
    "learning_rate": 0.1,
    "early_stopping": 0.1,
}


@dataclass
class KSpacingData:
    """

    Attributes:
        train: JARVIS's training rows (cleaned).
        val: its validation rows.
        test: its test rows.
        dropped: the rows dropped and why.
        dropped_columns: the columns dropped.
    """

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    dropped: list
    dropped_columns: list


def load_data() -> KSpacingData:
    """The three JARVIS splits, with what the loader dropped from train."""
    train = load_table("jarvis-kpoint-length-train")
    return KSpacingData(
        train=train,
        val=load_table("jarvis-kpoint-length-val"),
        test=load_table("jarvis-kpoint-length-test"),
        dropped=train.attrs.get("dropped", []),
        dropped_columns=train.attrs.get("dropped_columns", []),
    )


def _sets(data: KSpacingData) -> dict:
    return {
        "val": (list(data.val["formula"]), data.val["target"].to_numpy()),
        "test": (list(data.test["formula"]), data.test["target"].to_numpy()),
    }


def _aux_sets(data: KSpacingData) -> dict:
    return {
        "train": (list(data.train["formula"]), None),
        "val": (list(data.val["formula"]), None),
        "test": (list(data.test["formula"]), None),
    }


def transfer_features(data: KSpacingData, reference=None) -> dict[str, pd.DataFrame]:
    """Predictions of auxiliary models for every k-point formula, as feature columns.

    * formation energy per atom — LightGBM trained on matbench ``mp_e_form`` train0;
    * band gap and metal probability — the study's PBE reference
      (``bandgaps.analyses.measured_inputs.pbe_reference``: LightGBM and a metal classifier
      trained on every row of matbench ``mp_gap``), the same models the measured-gap entries
      use, so the study fits no model of its own for them.

    ``reference`` replaces the PBE reference (a fitted ``PBEReference``: a smaller one for
    tests).

    Args:
        data: the k-point data.
        reference: a fitted PBE reference (default the study's).

    Returns:
        ``{split: frame of transfer columns}``.
    """
    from bandgaps.analyses.measured_inputs import FEATURE_SET, pbe_reference
    from bandgaps.features.composition import CompositionFeatures

    eform = load_table("matbench-mp-e-form-train")
    sets = _aux_sets(data)
    formation = fit_predict(
        "lgbm",
        eform["formula"],
        eform["target"],
        sets,
        params=AUX_PARAMS,
        feature_set="magpie+fractions",
    )
    reference = pbe_reference() if reference is None else reference
    out = {}
    for split in ("train", "val", "test"):
        F = CompositionFeatures(FEATURE_SET).transform(list(sets[split][0]))
        gap, metal = reference.transform_features(F).T
        out[split] = pd.DataFrame(
            {
                "predicted formation energy (eV/atom)": formation.frame(split)["mean"].to_numpy(),
                "predicted band gap (eV)": gap,
                "predicted metal probability": np.clip(metal, 0.0, 1.0),
            }
        )
    return out


#: The safe prediction uses conformal margins, not σ: skip the quantile boosters, and fit one
#: squared-error booster instead of two (a second seed only averages out seed noise, and it
#: doubled the cost of the four LightGBM candidates in a cold build). Each booster stops once
#: 10 % of the training rows (held out inside train) stop improving, as the matbench
#: candidates do, instead of always growing 3,000 trees.
_POINT = {"sigma": False, "objectives": ("l2",), "early_stopping": 0.1}

#: (label, kind, feature set, parameters, transfer columns) of each candidate.
CANDIDATES = (
    ("RF, study features", "rf", "kspacing-study", {"n_estimators": 100}, ()),
    ("LightGBM", "lgbm", "magpie+fractions", _POINT, ()),
    (
        "LightGBM + formation-energy transfer",
        "lgbm",
        "magpie+fractions",
        _POINT,
        ("predicted formation energy (eV/atom)",),
    ),
    (
        "LightGBM + gap/metal transfer",
        "lgbm",
        "magpie+fractions",
        _POINT,
        ("predicted band gap (eV)", "predicted metal probability"),
    ),
    (
        "LightGBM + both transfers",
        "lgbm",
        "magpie+fractions",
        _POINT,
        (
            "predicted formation energy (eV/atom)",
            "predicted band gap (eV)",
            "predicted metal probability",
        ),
    ),
)


def _fit_candidate(data, transfer, candidate, param_overrides=None, **extra_params):
    """One candidate fitted on train, calibrated on val, predicting val and test."""
    _, kind, fs, params, extra = candidate
    params = {**params, "random_state": SEED, **(param_overrides or {}).get(kind, {})}
    params.update(extra_params)
    extra_features = (
        {split: transfer[split][list(extra)].to_numpy() for split in ("train", "val", "test")}
        if extra
        else None
    )
    return fit_predict(
        kind,
        data.train["formula"],
        data.train["target"],
        _sets(data),
        feature_set=fs,
        params=params,
        calibrate_on="val",
        extra_features=extra_features,
    )


@dataclass
class KSpacingStudy:
    """

    Attributes:
        data: the k-point data.
        results: each candidate's fit.
        validation: the candidates' validation scores.
        chosen: the candidate chosen on validation.
        test: the baseline's and the chosen model's test scores.
        baseline: the baseline every table reports beside the chosen model.
        candidates: ``(label, kind, feature set, parameters, transfer columns)``.
        transfer: the transfer columns, by split.
        param_overrides: parameters changed for a quick run.
    """

    data: KSpacingData
    results: dict[str, FitResult]
    validation: pd.DataFrame
    chosen: str
    test: pd.DataFrame
    #: the baseline every table reports beside the chosen model (the forest)
    baseline: str = CANDIDATES[0][0]
    candidates: tuple = CANDIDATES
    transfer: dict | None = None
    param_overrides: dict | None = None

    def with_band(self, label: str | None = None) -> FitResult:
        """Candidate ``label`` (default: the chosen one) with its ±1σ band: refitted with the
        quantile boosters when it was fitted for point predictions only.

        Args:
            label: the candidate (default the chosen one).

        Returns:
            Its fit with the ±1σ band.
        """
        label = label or self.chosen
        result = self.results[label]
        if np.isfinite(result.frame("val")["std"]).all():
            return result
        candidate = next(c for c in self.candidates if c[0] == label)
        return _fit_candidate(self.data, self.transfer, candidate, self.param_overrides, sigma=True)


def kspacing_study(
    candidates=CANDIDATES,
    max_train: int | None = None,
    param_overrides: dict | None = None,
    reference=None,
) -> KSpacingStudy:
    """Fit every candidate on train, choose on val, score the RF baseline and the choice on
    test. ``reference`` replaces the PBE reference of the transfer columns (for tests).

    Args:
        candidates: ``(label, kind, feature set, parameters, transfer columns)``.
        max_train: at most this many training rows (tests).
        param_overrides: parameters changed for a quick run.
        reference: a fitted PBE reference for the transfer columns.

    Returns:
        The ``KSpacingStudy``.
    """
    data = load_data()
    data.train = subsample(data.train, max_train)
    transfer = None
    if any(extra for *_, extra in candidates):
        transfer = transfer_features(data, reference)
    results, rows = {}, []
    for candidate in candidates:
        label = candidate[0]
        res = _fit_candidate(data, transfer, candidate, param_overrides)
        results[label] = res
        v = res.frame("val")
        m = regression_metrics(v["target"], v["mean"])
        rows.append(
            {"model": label, "val MAE": m["MAE"], "val R2": m["R2"], "fit (s)": res.fit_seconds}
        )
    validation = pd.DataFrame(rows)
    chosen = validation.loc[validation["val MAE"].idxmin(), "model"]
    reported = [candidates[0][0]] + ([chosen] if chosen != candidates[0][0] else [])
    test_rows = []
    for label in reported:
        t = results[label].frame("test")
        test_rows.append(
            {
                "model": label,
                **regression_metrics(t["target"], t["mean"]),
                "unsafe (predicted < converged)": float(np.mean(t["mean"] < t["target"])),
            }
        )
    return KSpacingStudy(
        data,
        results,
        validation,
        chosen,
        pd.DataFrame(test_rows),
        baseline=candidates[0][0],
        candidates=tuple(candidates),
        transfer=transfer,
        param_overrides=param_overrides,
    )


# ----------------------------------------------------------------------------------------------
# Safe (conservative) predictions.


def one_sided_offset(y_cal, pred_cal, coverage: float) -> float:
    """Split-conformal one-sided margin: ``pred + offset`` ≥ the truth with probability
    ≥ ``coverage`` for a new exchangeable point.

    Args:
        y_cal: calibration targets.
        pred_cal: their predictions.
        coverage: the probability the bound holds.

    Returns:
        The offset (Å).

    Examples:
        >>> one_sided_offset([10, 20, 30, 40], [10, 20, 30, 40], 0.5)
        0.0
    """
    r = np.sort(np.asarray(y_cal, float) - np.asarray(pred_cal, float))
    n = len(r)
    k = int(np.ceil((n + 1) * coverage)) - 1
    return float(r[min(max(k, 0), n - 1)])


#: One-sided margins compared: a constant one and three that adapt to each material.
SAFE_METHODS = ("absolute", "relative", "normalized", "quantile")
SAFE_LABELS = {
    "absolute": "constant margin (Å)",
    "relative": "relative margin (× prediction)",
    "normalized": "σ-scaled margin",
    "quantile": "conformalized upper quantile",
}


def extra_kpoints(bound, converged) -> float:
    """Mean (L′/L)³ − 1: the extra k-points of length L′ over the converged length L.

    Args:
        bound: the lengths used.
        converged: the converged lengths.

    Returns:
        The mean extra share (0.5 is 50 % more k-points).
    """
    return float(np.mean((np.asarray(bound) / np.asarray(converged)) ** 3 - 1))


def _safe_bound(cal_rows, test_rows, method: str, risk: float) -> np.ndarray:
    from bandgaps.models.intervals import IntervalCalibrator

    c = IntervalCalibrator(method, groups="none").fit(*cal_rows)
    return c.upper(*test_rows[1:], risk)


def choose_safe_method(result: FitResult, risk: float = 0.05, methods=SAFE_METHODS) -> str:
    """The margin with the fewest extra k-points at ``risk``, by a two-fold cross-fit over the
    validation rows alone (each half calibrates, the other is scored).

    Args:
        result: a fit's result (``FitResult``): its sets' predictions.
        risk: the share allowed under-converged.
        methods: the margins compared.

    Returns:
        The method's name.
    """
    from bandgaps.analyses.uncertainty import band_rows

    rows = band_rows(result.frame("val"))
    order = np.random.default_rng(SEED).permutation(len(rows[0]))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    cost = {}
    for method in methods:
        total = 0.0
        for a, b in (halves, halves[::-1]):
            bound = _safe_bound([r[a] for r in rows], [r[b] for r in rows], method, risk)
            total += extra_kpoints(bound, rows[0][b]) * len(b)
        cost[method] = total / len(order)
    return min(methods, key=cost.get)


def safe_tradeoff(result: FitResult, risks=None, methods=SAFE_METHODS) -> pd.DataFrame:
    """Per margin method and risk: the share of test materials still under-converged and the
    mean extra k-points — the trade-off curve a user picks a point from.

    Args:
        result: a fit's result (``FitResult``): its sets' predictions.
        risks: the risks (default 1 % to 20 %).
        methods: the margins compared.

    Returns:
        One row per method and risk.
    """
    from bandgaps.analyses.uncertainty import band_rows

    risks = np.linspace(0.01, 0.5, 50) if risks is None else risks
    cal, test = band_rows(result.frame("val")), band_rows(result.frame("test"))
    rows = []
    for method in methods:
        for risk in risks:
            bound = _safe_bound(cal, test, method, float(risk))
            rows.append(
                {
                    "method": SAFE_LABELS[method],
                    "risk": float(risk),
                    "unsafe on test": float(np.mean(bound < test[0])),
                    "mean extra k-points": extra_kpoints(bound, test[0]),
                    "median extra k-points": float(np.median((bound / test[0]) ** 3 - 1)),
                }
            )
    return pd.DataFrame(rows)


def safety_table(result: FitResult, levels=(0.5, 0.8, 0.9, 0.95, 0.99)) -> pd.DataFrame:
    """For each target coverage: the margin (Å, from val), the share of test materials still
    predicted below their converged length, and the average k-point cost.

    A length L gives about (L·|b|)³ k-points in total, so the cost of predicting L' for a
    material converged at L is (L'/L)³ − 1 extra k-points, relative to the converged grid.

    Args:
        result: a fit's result (``FitResult``): its sets' predictions.
        levels: the target coverages.

    Returns:
        One row per coverage.
    """
    v, t = result.frame("val"), result.frame("test")
    rows = [
        {
            "target coverage": "point prediction",
            "margin (Å)": 0.0,
            "unsafe on test": float(np.mean(t["mean"] < t["target"])),
            "mean extra k-points": float(np.mean((t["mean"] / t["target"]) ** 3 - 1)),
        }
    ]
    for level in levels:
        off = one_sided_offset(v["target"], v["mean"], level)
        bound = t["mean"] + off
        rows.append(
            {
                "target coverage": level,
                "margin (Å)": off,
                "unsafe on test": float(np.mean(bound < t["target"])),
                "mean extra k-points": float(np.mean((bound / t["target"]) ** 3 - 1)),
            }
        )
    return pd.DataFrame(rows)
