"""matbench ``mp_gap`` on the official folds: one calibrated model per fold, read by the
Benchmarks page (the five-fold score) and by the composition and uncertainty studies (σ,
conformal intervals, domain of applicability, the Si–Ge sweep). One fit per fold answers all
of them.

Inside each fold's training rows a seeded tenth of the distinct formulas (with all their
polymorphs) is set aside as calibration rows; the model trains on the rest (and stops early
on a tenth of those). The fold's test rows reach the fit without their targets
(``bandgaps.analyses.matbench.run_task``) and are scored once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bandgaps.analyses.common import subsample
from bandgaps.analyses.fits import FitResult, fit_predict
from bandgaps.analyses.matbench import TASKS, BenchmarkRun, run_task
from bandgaps.analyses.si_ge import BRIEF_FORMULAS, si_ge_grid
from bandgaps.cache import Stage
from bandgaps.config import SEED
from bandgaps.models.calibrated import grouped_calibration_split
from bandgaps.models.transfer import LARGE_DATA

_MATBENCH_MP_GAP = Stage("matbench-mp-gap", __name__)

#: The benchmark entry's name.
MP_GAP_ENTRY = "LightGBM, Magpie + fractions"
#: Model kind, feature set and parameters, fixed before any fold was seen: LightGBM with a
#: Huber loss, its trees set by early stopping, σ from two quantile boosters.
#: The quantile boosters are smaller: the band they give is recalibrated on held-out rows.
MP_GAP_MODEL = (
    "lgbm",
    "magpie+fractions",
    {
        **LARGE_DATA,
        "objectives": ("huber",),
        "clip_min": 0.0,
        "quantile_params": {"num_leaves": 31, "learning_rate": 0.1, "n_estimators": 300},
    },
)
#: Share of each fold's distinct training formulas held out to calibrate σ and the intervals.
CALIBRATION_FRACTION = 0.1


@dataclass
class MpGapStudy:
    """The ``mp_gap`` entry on the official folds and each fold's calibrated fit.

    ``fits[k]`` predicts the sets ``"val"`` (fold ``k``'s calibration rows, drawn from its
    training rows), ``"test"`` (its test rows, targets joined after scoring), ``"si-ge"`` and
    ``"brief"``.

    Attributes:
        run: the benchmark run (out-of-fold predictions, per-fold scores).
        fits: each fold's calibrated fit.
    """

    run: BenchmarkRun
    fits: list[FitResult]

    @property
    def label(self) -> str:
        return self.run.entry

    def pooled(self, name: str = "test") -> pd.DataFrame:
        """Set ``name`` of every fold in one frame, with a ``fold`` column.

        Args:
            name: the set (``val``, ``test``, ``si-ge``, ``brief``).

        Returns:
            The sets of every fold, with a ``fold`` column.
        """
        return pd.concat(
            [res.frame(name).assign(fold=k) for k, res in enumerate(self.fits)], ignore_index=True
        )

    def ensemble(self) -> FitResult:
        """The fold models' mean prediction (and mean σ) on the Si–Ge sweep and the brief's
        formulas: one result to set beside other models."""
        preds = {}
        for name in ("si-ge", "brief"):
            frames = [res.frame(name) for res in self.fits]
            preds[name] = pd.DataFrame(
                {
                    "formula": frames[0]["formula"],
                    "mean": np.mean([f["mean"] for f in frames], axis=0),
                    "std": np.mean([f["std"] for f in frames], axis=0),
                }
            )
        first = self.fits[0]
        return FitResult(
            kind=first.kind,
            feature_set=first.feature_set,
            params=first.params,
            n_train=int(np.mean([res.n_train for res in self.fits])),
            predictions=preds,
            fit_seconds=float(sum(res.fit_seconds for res in self.fits)),
        )

    def summary(self) -> pd.DataFrame:
        """Per fold: training, calibration and test rows, MAE, RMSE, R², trees and the
        interval method and σ scale chosen on the calibration rows."""
        from bandgaps.analyses.common import regression_metrics

        rows = []
        for k, res in enumerate(self.fits):
            t = res.frame("test")
            m = regression_metrics(t["target"], t["mean"])
            rows.append(
                {
                    "fold": k,
                    "train rows": res.n_train,
                    "calibration rows": len(res.frame("val")),
                    "test rows": m.pop("n"),
                    **m,
                    "trees": ", ".join(str(n) for n in res.fitted.get("trees", ())),
                    "interval method": res.interval_method,
                    "σ scale": res.sigma_scale,
                }
            )
        return pd.DataFrame(rows)


def split_calibration(train: pd.DataFrame, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(fit rows, calibration rows)`` of a fold's training rows: a seeded
    ``CALIBRATION_FRACTION`` of the distinct formulas, with all their rows, calibrates.

    Args:
        train: a fold's training rows.
        fold: the fold (it seeds the draw).

    Returns:
        ``(fit rows, calibration rows)``.
    """
    fit_rows, cal_rows = grouped_calibration_split(
        list(train["formula"]), CALIBRATION_FRACTION, SEED + fold
    )
    return train.iloc[fit_rows], train.iloc[cal_rows]


def fold_rows(fold: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(fit, calibration, test)`` rows of official fold ``fold``, as ``mp_gap_study`` uses
    them (for studies that refit on part of a fold, such as held-out chemical families).

    Args:
        fold: the official fold (0–4).

    Returns:
        ``(fit, calibration, test)`` frames.
    """
    from bandgaps.analyses.matbench import official_folds
    from bandgaps.analyses.measured_inputs import task_frame

    frame = task_frame("mp_gap")
    train_rows, test_rows = official_folds(TASKS["mp_gap"], frame["target"])[fold]
    fit, cal = split_calibration(frame.iloc[train_rows], fold)
    return fit, cal, frame.iloc[test_rows]


def mp_gap_study(
    folds=None,
    n_rows: int | None = None,
    max_train: int | None = None,
    model: tuple[str, str, dict] = MP_GAP_MODEL,
) -> MpGapStudy:
    """``model`` (kind, feature set, parameters) on the official ``mp_gap`` folds, calibrated
    inside each fold (cached).

    ``n_rows`` runs on the task's first rows, ``max_train`` draws that many training rows per
    fold and ``model`` can be a smaller one: small runs for tests, not the benchmark.

    Args:
        folds: the folds to run (default all five).
        n_rows: only the task's first rows (tests).
        max_train: at most this many training rows per fold (tests).
        model: ``(kind, feature set, parameters)``.

    Returns:
        The ``MpGapStudy``.
    """
    from bandgaps.analyses.measured_inputs import task_frame

    task = TASKS["mp_gap"]
    kind, feature_set, params = model

    def compute() -> MpGapStudy:
        frame = task_frame("mp_gap")
        if n_rows is not None:
            frame = frame.iloc[:n_rows]
        grid = si_ge_grid()
        side = {"si-ge": (list(grid["formula"]), None), "brief": (list(BRIEF_FORMULAS), None)}
        fits: dict[int, FitResult] = {}

        def fold_fit(train: pd.DataFrame, test: pd.DataFrame, fold: int):
            fit, cal = split_calibration(subsample(train, max_train, seed=SEED + fold), fold)
            res = fit_predict(
                kind,
                fit["formula"],
                fit["target"],
                {
                    "val": (list(cal["formula"]), cal["target"].to_numpy()),
                    "test": (list(test["formula"]), None),
                    **side,
                },
                feature_set=feature_set,
                params={**params, "random_state": SEED + fold},
                calibrate_on="val",
            )
            fits[fold] = res
            return res.frame("test")["mean"].to_numpy(), {
                "trees": list(res.fitted.get("trees", ())),
                "calibration rows": len(cal),
            }

        from bandgaps.features.composition import CompositionFeatures, known_features

        formulas = list(frame["formula"])
        # every fold's rows are rows of this table: their features are computed once
        with known_features(
            feature_set, formulas, CompositionFeatures(feature_set).transform(formulas)
        ):
            run = run_task(task, fold_fit, MP_GAP_ENTRY, data=frame, folds=folds)
        ordered = []
        for k in sorted(fits):
            res = fits[k]
            target = run.predictions.loc[run.predictions["fold"] == k, "target"].to_numpy()
            res.predictions["test"] = res.frame("test").assign(target=target)
            ordered.append(res)
        return MpGapStudy(run, ordered)

    key = {
        "model": model,
        "calibration": CALIBRATION_FRACTION,
        "folds": folds,
        "n_rows": n_rows,
        "max_train": max_train,
        "seed": SEED,
    }
    return _MATBENCH_MP_GAP(key, compute)


def run_mp_gap(folds=None) -> BenchmarkRun:
    """The ``mp_gap`` benchmark entry on the official folds (``mp_gap_study``'s run).

    Args:
        folds: the folds to run (default all five).

    Returns:
        The ``BenchmarkRun``.
    """
    return mp_gap_study(folds).run


__all__ = [
    "CALIBRATION_FRACTION",
    "MP_GAP_ENTRY",
    "MP_GAP_MODEL",
    "MpGapStudy",
    "fold_rows",
    "mp_gap_study",
    "run_mp_gap",
    "split_calibration",
]
