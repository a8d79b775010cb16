"""Composition-model studies: the reference protocol, mp_gap beside the published entries,
σ calibration, conformal intervals.

Every function here returns numbers computed from the snapshots; the site pages only plot
and narrate them. Fits are cached on disk keyed by the training data, the model and its
parameters, and the formulas predicted, so a warm rebuild reads results instead of refitting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from bandgaps.analyses.common import SEED, metal_stratified_split, regression_metrics, subsample
from bandgaps.analyses.fits import FitResult, fit_predict
from bandgaps.analyses.mp_gap import MpGapStudy
from bandgaps.analyses.si_ge import (
    BRIEF_FORMULAS,
    COMPOSITION,
    SiGeModel,
    mae_vs_experiment,
    si_ge_grid,
    weber_alonso_gap,
)
from bandgaps.analyses.targets import PUBLISHED as _P
from bandgaps.models.conformal import coverage

#: Figures published by others on the same data, for side-by-side tables (not our results).
REFERENCE_FIGURES = {
    _P["reference-rf-all"].label: {
        "MAE": _P["reference-rf-all"].value,
        "RMSE": _P["reference-rf-all-rmse"].value,
        "R2": _P["reference-rf-all-r2"].value,
    },
    _P["reference-rf-nonmetal"].label: {"MAE": _P["reference-rf-nonmetal"].value},
}
#: Published Matbench v0.1 entries on mp_gap the study compares with: our label → the entry's
#: name in ``leaderboard_folds.csv``.
MATBENCH_ENTRIES = {
    "RF (Magpie)": "rf",
    "CrabNet": "CrabNet",
    "Finder (composition)": "Finder_v1.2_composition",
}


def matbench_published() -> dict[str, float]:
    """Five-fold mean MAEs (eV) of ``MATBENCH_ENTRIES`` on mp_gap, read from the leaderboard."""
    from bandgaps.analyses.matbench import TASKS, leaderboard_means

    means = leaderboard_means(TASKS["mp_gap"]).set_index("model")["mean"]
    return {label: float(means[name]) for label, name in MATBENCH_ENTRIES.items()}


# ----------------------------------------------------------------------------------------------
# σ calibration.


def sigma_coverage(y, mean, std, ks: Sequence[float] = (1.0, 2.0)) -> dict[str, float]:
    """Fraction of targets within ±kσ of the prediction (a Gaussian gives 68.3 % and 95.4 %).

    Args:
        y: the targets.
        mean: the predictions.
        std: their σ.
        ks: the band half-widths, in σ.

    Returns:
        ``{"±kσ": share covered}``.
    """
    y, mean, std = (np.asarray(a, float) for a in (y, mean, std))
    return {f"±{k:g}σ": float(np.mean(np.abs(y - mean) <= k * std)) for k in ks}


def calibration_curve(y, mean, std, levels: Sequence[float] | None = None) -> pd.DataFrame:
    """Expected vs observed coverage of the Gaussian intervals mean ± z(p)·σ.

    Args:
        y: the targets.
        mean: the predictions.
        std: their σ.
        levels: the expected coverages (default 5 % to 95 %).

    Returns:
        A frame of ``expected`` and ``observed`` coverage.
    """
    levels = np.linspace(0.05, 0.95, 19) if levels is None else np.asarray(levels)
    y, mean, std = (np.asarray(a, float) for a in (y, mean, std))
    observed = []
    for p in levels:
        z = NormalDist().inv_cdf(0.5 + p / 2)
        observed.append(float(np.mean(np.abs(y - mean) <= z * std)))
    return pd.DataFrame({"expected": levels, "observed": observed})


def interval_table(result: FitResult, name: str) -> pd.DataFrame:
    """Empirical coverage and mean width of the conformal intervals on set ``name``.

    Args:
        result: a fit's result (``FitResult``): its sets' predictions.
        name: the set (``val``, ``test``, …).

    Returns:
        One row per level: coverage and mean width.
    """
    y = result.frame(name)["target"].to_numpy()
    rows = []
    for level, (lo, hi) in result.intervals[name].items():
        rows.append(
            {
                "nominal coverage": level,
                "empirical coverage": coverage(y, lo, hi),
                "mean width": float(np.mean(hi - lo)),
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# The two band-gap protocols.


def _side_sets(extra: dict | None = None) -> dict:
    grid = si_ge_grid()
    sets = {"si-ge": (list(grid["formula"]), None), "brief": (list(BRIEF_FORMULAS), None)}
    sets.update(extra or {})
    return sets


@dataclass
class ReferenceProtocol:
    """The reference solution's protocol on the cleaned MP band-structure snapshot.

    Attributes:
        train: the training rows.
        test: the test rows.
        results: each model's fit, by name.
        metrics: each model's test MAE, R² and more.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    results: dict[str, FitResult]
    metrics: pd.DataFrame


def reference_protocol(n_estimators: int = 100, max_train: int | None = None) -> ReferenceProtocol:
    """RF on Magpie trained on (a) all and (b) non-metal rows of an 80:20 metal-stratified split.

    Scored on all test rows and on the non-metal test rows, as the reference solution did.

    Args:
        n_estimators: the forests' trees.
        max_train: at most this many training rows (tests use few).

    Returns:
        The ``ReferenceProtocol``.
    """
    from bandgaps.data.tables import snapshot_composition_table

    table = snapshot_composition_table()
    train, test = metal_stratified_split(table)
    train = subsample(train, max_train)
    sets = _side_sets({"test": (list(test["formula"]), test["band_gap"].to_numpy())})
    params = {"n_estimators": n_estimators, "random_state": SEED}
    nonmetal_train = train[train["band_gap"] > 0]
    results = {
        "all": fit_predict("rf", train["formula"], train["band_gap"], sets, params=params),
        "non-metal": fit_predict(
            "rf",
            nonmetal_train["formula"],
            nonmetal_train["band_gap"],
            sets,
            params=params,
        ),
    }
    rows = []
    nonmetal_test = (test["band_gap"] > 0).to_numpy()
    for model, res in results.items():
        pred = res.frame("test")
        for subset, mask in (("all", np.ones(len(test), bool)), ("non-metal", nonmetal_test)):
            m = regression_metrics(pred["target"][mask], pred["mean"][mask])
            rows.append({"trained on": model, "scored on": subset, **m})
    return ReferenceProtocol(train, test, results, pd.DataFrame(rows))


def matbench_comparison(study: MpGapStudy) -> pd.DataFrame:
    """Our five-fold mean MAE on mp_gap (and its spread over the folds) beside the published
    composition entries' (``MATBENCH_ENTRIES``), best first.

    Args:
        study: the ``mp_gap`` study on the official folds.

    Returns:
        Our entry beside the published ones.
    """
    from bandgaps.analyses.matbench import TASKS, leaderboard_means

    scores = study.run.scores["mae"]
    rows = [
        {
            "model": f"{study.label} (this study)",
            "MAE (5-fold mean)": float(scores.mean()),
            "spread over folds": float(scores.std()),
        }
    ]
    means = leaderboard_means(TASKS["mp_gap"]).set_index("model")
    for label, name in MATBENCH_ENTRIES.items():
        rows.append(
            {
                "model": f"{label} (published)",
                "MAE (5-fold mean)": float(means.loc[name, "mean"]),
                "spread over folds": float(means.loc[name, "std"]),
            }
        )
    return pd.DataFrame(rows).sort_values("MAE (5-fold mean)").reset_index(drop=True)


def pooled_interval_table(study: MpGapStudy, name: str = "test") -> pd.DataFrame:
    """Coverage and mean width of each fold's conformal intervals on its set ``name``, pooled
    over the folds (each fold calibrated on its own calibration rows).

    Args:
        study: the ``mp_gap`` study.
        name: the set.

    Returns:
        One row per level: coverage and mean width over the pooled folds.
    """
    rows = []
    for level in study.fits[0].intervals[name]:
        y, lo, hi = (
            np.concatenate(parts)
            for parts in zip(
                *(
                    (res.frame(name)["target"].to_numpy(), *res.intervals[name][level])
                    for res in study.fits
                ),
                strict=True,
            )
        )
        rows.append(
            {
                "nominal coverage": level,
                "empirical coverage": coverage(y, lo, hi),
                "mean width": float(np.mean(hi - lo)),
            }
        )
    return pd.DataFrame(rows)


def sigma_verdict(coverage: float, k: float) -> str:
    """How a ±kσ band's coverage compares with a Gaussian's (within 3 points: about right).

    Args:
        coverage: the band's observed coverage.
        k: its half-width in σ.

    Returns:
        A few words.

    Examples:
        >>> sigma_verdict(0.70, 1), sigma_verdict(0.99, 2)
        ('about right', 'too wide (under-confident)')
    """
    from scipy.stats import norm

    nominal = float(norm.cdf(k) - norm.cdf(-k))
    if abs(coverage - nominal) < 0.03:
        return "about right"
    return "too wide (under-confident)" if coverage > nominal else "too narrow (over-confident)"


def sigma_calibration(
    ref: ReferenceProtocol, study: MpGapStudy
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """±1σ and ±2σ coverage of every composition model's raw σ on its test rows (the mp_gap
    model on every fold's test rows; the non-metal forest on non-metal rows), and each one's
    calibration curve.

    Args:
        ref: the reference protocol.
        study: the ``mp_gap`` study.

    Returns:
        ``(table, calibration curves by model)``.
    """
    t = study.pooled("test")
    rows = [
        {
            "model": study.label,
            "set": "mp_gap, 5 test folds",
            **sigma_coverage(t["target"], t["mean"], t["std"]),
        }
    ]
    curves = {f"{study.label} (mp_gap)": calibration_curve(t["target"], t["mean"], t["std"])}
    for label, res in ref.results.items():
        t = res.frame("test")
        if label == "non-metal":
            t = t[t["target"] > 0]
        rows.append(
            {
                "model": f"RF trained on {label}",
                "set": "MP snapshot test",
                **sigma_coverage(t["target"], t["mean"], t["std"]),
            }
        )
        curves[f"RF {label} (MP snapshot)"] = calibration_curve(t["target"], t["mean"], t["std"])
    return pd.DataFrame(rows), curves


def sweep_models(ref: ReferenceProtocol, study: MpGapStudy) -> dict[SiGeModel, FitResult]:
    """The composition models compared across Si–Ge: both snapshot forests and the mp_gap
    model (the mean of its five fold models), each with its identity.

    Args:
        ref: the reference protocol.
        study: the ``mp_gap`` study.

    Returns:
        ``{model: fit}`` with each fit's Si–Ge predictions.
    """
    return {
        SiGeModel("RF, MP snapshot, all rows", COMPOSITION, "PBE", "MP snapshot"): ref.results[
            "all"
        ],
        SiGeModel("RF, MP snapshot, non-metals", COMPOSITION, "PBE", "MP snapshot"): ref.results[
            "non-metal"
        ],
        SiGeModel(
            f"{study.label}, matbench", COMPOSITION, "PBE", "matbench mp_gap"
        ): study.ensemble(),
    }


def sweep_frame(models: dict[SiGeModel, FitResult]) -> pd.DataFrame:
    """Long table of Si–Ge sweep predictions: x, model (and its identity), mean, σ, experiment.

    Args:
        models: ``sweep_models``'s result.

    Returns:
        The long table.
    """
    grid = si_ge_grid()
    frames = []
    for model, res in models.items():
        p = res.frame("si-ge")
        frames.append(
            pd.DataFrame(
                {
                    "x": grid["x"].to_numpy(),
                    "model": model.label,
                    "trained on": model.trained_on,
                    "training data": model.training_data,
                    "mean": p["mean"].to_numpy(),
                    "std": p["std"].to_numpy(),
                    "experiment": weber_alonso_gap(grid["x"]),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def sweep_summary(models: dict[SiGeModel, FitResult]) -> pd.DataFrame:
    """Per model: predicted Si, Ge, Si49Ge51 (± σ), whether the alloy falls between Si and Ge,
    MAE vs the experimental curve over the sweep.

    Args:
        models: ``sweep_models``'s result.

    Returns:
        One row per model.
    """
    rows = []
    grid = si_ge_grid()
    for model, res in models.items():
        b = res.frame("brief").set_index("formula")
        si, ge, alloy = (b.loc[f, "mean"] for f in BRIEF_FORMULAS)
        rows.append(
            {
                "model": model.label,
                "training data": model.training_data,
                **{f"{f} (eV)": b.loc[f, "mean"] for f in BRIEF_FORMULAS},
                **{f"{f} σ": b.loc[f, "std"] for f in BRIEF_FORMULAS},
                "Si49Ge51 between Si and Ge": bool(min(si, ge) <= alloy <= max(si, ge)),
                "MAE vs experiment (eV)": mae_vs_experiment(grid["x"], res.frame("si-ge")["mean"]),
            }
        )
    return pd.DataFrame(rows)


def _range_text(values) -> str:
    """``"n rows, 0.39–1.36 eV"`` (one value when they agree; ``"none"`` when empty)."""
    values = np.asarray(values, float)
    if not len(values):
        return "none"
    lo, hi = f"{values.min():.2f}", f"{values.max():.2f}"
    rows = "1 row" if len(values) == 1 else f"{len(values)} rows"
    return f"{rows}, {lo} eV" if lo == hi else f"{rows}, {lo}–{hi} eV"


def element_context(
    df: pd.DataFrame, elements: Sequence[str] = ("Si", "Ge"), target: str = "target"
) -> pd.DataFrame:
    """What a training table says about some elements: the pure-element rows it holds and the
    gaps of the compounds containing each element.

    Args:
        df: a training table (``formula``, ``composition`` and the target).
        elements: the elements asked about.
        target: its target column.

    Returns:
        One row per element.

    Examples:
        >>> import pandas as pd
        >>> from pymatgen.core import Composition
        >>> df = pd.DataFrame({"formula": ["Si8", "SiO2", "Mg2Si"], "target": [0.6, 5.6, 0.0]})
        >>> df["composition"] = [Composition(f) for f in df["formula"]]
        >>> element_context(df, ["Si"]).iloc[0].to_dict()["elemental rows"]
        'Si8 (0.60)'
    """
    rows = []
    for el in elements:
        has = df["composition"].map(lambda c, el=el: el in {e.symbol for e in c.elements})
        pure = has & df["composition"].map(lambda c: len(c.elements) == 1)
        compounds = df.loc[has & ~pure, target]
        rows.append(
            {
                "element": el,
                "elemental rows": ", ".join(
                    f"{f} ({g:.2f})"
                    for f, g in zip(df.loc[pure, "formula"], df.loc[pure, target], strict=True)
                )
                or "none",
                "elemental gaps": _range_text(df.loc[pure, target]),
                "compounds containing it": len(compounds),
                "of which non-metals": float((compounds > 0).mean()) if len(compounds) else np.nan,
                "median gap of those compounds": float(compounds.median())
                if len(compounds)
                else np.nan,
            }
        )
    return pd.DataFrame(rows)
