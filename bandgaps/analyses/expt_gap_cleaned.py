"""The registered ``expt_gap`` entry ``expt-gap-cleaned``: the measured-gap committee refitted
without the training rows that are likely not fundamental gaps, the rule decided inside each
fold.

Some reported gaps are optical or direct gaps far above the fundamental gap (the Si–Ge rows
at 1.2–2 eV are a visible case). The rule is general: in a fold's training rows, a seeded
tenth of the distinct compositions is set aside as calibration rows; on the rest, five-fold
out-of-fold predictions of the committee (folds seeded, grouped by composition) flag a
non-metal row whose reported gap exceeds its prediction by more than ``K_MAD`` × 1.4826 × the
median absolute residual of the non-metal rows (a robust σ). Two committees fitted on the
rest, with and without the flagged rows, are scored on the calibration rows; only if the
cleaned one is better are the flagged rows dropped, and the fold's committee is refitted on
its training rows without them (the calibration rows are never flagged: they are the judges).
Otherwise the fold's answer is the plain committee's (``expt-gap-committee``).

An ``expt_is_metal`` label enters a gate only if its composition is in none of the rows that
fit is scored on (the fold's test rows; inside, the inner fold's or the calibration rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bandgaps.analyses.matbench import TASKS, BenchmarkRun, run_task
from bandgaps.analyses.measured_entries import COMMITTEE, build_model, committee_run
from bandgaps.analyses.measured_inputs import composition_keys, positions, task_inputs
from bandgaps.cache import Stage
from bandgaps.config import SEED
from bandgaps.models.calibrated import grouped_calibration_split

_MATBENCH_EXPT_GAP_CLEANED = Stage("matbench-expt-gap-cleaned", __name__)
_SI_GE_CLEANED = Stage("si-ge-cleaned", __name__)

#: The entry's label (registry id ``expt-gap-cleaned``).
CLEANED_ENTRY = "median of the gated variants, rows above the fundamental gap dropped"
#: A non-metal row is flagged above this many robust σ over its out-of-fold prediction.
K_MAD = 3.0
#: The median absolute residual times this estimates σ of a normal distribution.
MAD_TO_SIGMA = 1.4826
#: Inner folds of the out-of-fold predictions, and the share of compositions that calibrate.
INNER_FOLDS = 5
CALIBRATION_FRACTION = 0.1


def flag_rows(y, oof, k: float = K_MAD) -> tuple[np.ndarray, float]:
    """Non-metal rows whose reported gap exceeds the out-of-fold prediction by more than
    ``k`` robust σ (σ = 1.4826 × the median absolute residual of the non-metal rows).

    Args:
        y: reported gaps (0 for a metal).
        oof: their out-of-fold predictions.
        k: the limit in robust σ.

    Returns:
        ``(mask of flagged rows, the limit in eV)``.

    Examples:
        >>> y = np.array([0.0, 1.0, 1.1, 0.9, 1.0, 3.0])
        >>> mask, limit = flag_rows(y, np.array([0.0, 1.0, 1.0, 1.0, 1.1, 1.0]))
        >>> mask.tolist(), round(limit, 3)
        ([False, False, False, False, False, True], 0.445)
    """
    y, oof = np.asarray(y, float), np.asarray(oof, float)
    nonmetal = y > 0
    residual = y - oof
    limit = k * MAD_TO_SIGMA * float(np.median(np.abs(residual[nonmetal])))
    return nonmetal & (residual > limit), limit


def grouped_folds(keys, n_folds: int, seed: int) -> np.ndarray:
    """Each row's fold, every row of a composition in the same one (seeded).

    Examples:
        >>> f = grouped_folds(["a", "b", "a", "c"], 2, 0)
        >>> f[0] == f[2], sorted(set(f.tolist())) == [0, 1]
        (True, True)
    """
    keys = np.asarray(keys, dtype=object)
    groups, inverse = np.unique(keys, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(groups))
    fold_of_group = np.empty(len(groups), int)
    fold_of_group[order] = np.arange(len(groups)) % n_folds
    return fold_of_group[inverse]


@dataclass
class Cleaning:
    """What the rule decided on one set of training rows.

    Attributes:
        flagged: the flagged rows (their index in the task's table): ``formula``, ``target``,
            ``out-of-fold`` prediction and ``excess`` over it (eV).
        limit: the excess above which a row is flagged (eV).
        calibration_mae: MAE on the calibration rows, ``{"every row": …, "cleaned": …}``.
        clean: whether the flagged rows are dropped.
        calibration_rows: how many rows judged.
    """

    flagged: pd.DataFrame
    limit: float
    calibration_mae: dict[str, float]
    clean: bool
    calibration_rows: int


class _Inputs:
    """The shared feature layout of ``expt_gap`` and ``expt_is_metal`` and their keys."""

    def __init__(
        self, params: dict | None = None, table: tuple | None = None, metal: tuple | None = None
    ):
        if table is None:
            table = task_inputs(TASKS["expt_gap"], True, COMMITTEE.lookup)
        if metal is None:
            metal = task_inputs(TASKS["expt_is_metal"], True, COMMITTEE.lookup)
        self.frame, self.F = table
        self.mframe, self.mF = metal
        self.y = self.frame["target"].to_numpy(float)
        self.my = self.mframe["target"].to_numpy(float)
        self.keys = composition_keys(self.frame["composition"])
        self.mkeys = composition_keys(self.mframe["composition"])
        self.params = params

    def committee(self, rows: np.ndarray, banned: set, seed: int):
        """The committee fitted on ``rows``; its gates also learn the ``expt_is_metal`` labels
        of compositions not in ``banned``."""
        metal = np.array([k not in banned for k in self.mkeys], bool)
        model = build_model(COMMITTEE, seed=seed, params=self.params)
        return model.fit(self.F[rows], self.y[rows], self.mF[metal], self.my[metal])

    def decide(self, rows: np.ndarray, banned: set, seed: int) -> Cleaning:
        """The rule on the training rows ``rows`` (positions), none of whose fits sees a
        label of a composition in ``banned``."""
        fit_pos, cal_pos = grouped_calibration_split(self.keys[rows], CALIBRATION_FRACTION, seed)
        rest, cal = rows[fit_pos], rows[cal_pos]
        fold = grouped_folds(self.keys[rest], INNER_FOLDS, seed)
        oof = np.empty(len(rest))
        for k in range(INNER_FOLDS):
            val = fold == k
            model = self.committee(rest[~val], banned | set(self.keys[rest[val]]), seed)
            oof[val] = model.predict(self.F[rest[val]])
        mask, limit = flag_rows(self.y[rest], oof)
        flagged_rows = rest[mask]
        flagged = self.frame.iloc[flagged_rows][["formula", "target"]].assign(
            **{"out-of-fold": oof[mask], "excess": self.y[flagged_rows] - oof[mask]}
        )
        judged = banned | set(self.keys[cal])
        truth = self.y[cal]
        plain = float(
            np.abs(self.committee(rest, judged, seed).predict(self.F[cal]) - truth).mean()
        )
        cleaned = plain
        if mask.any():
            model = self.committee(rest[~mask], judged, seed)
            cleaned = float(np.abs(model.predict(self.F[cal]) - truth).mean())
        return Cleaning(
            flagged=flagged,
            limit=limit,
            calibration_mae={"every row": plain, "cleaned": cleaned},
            clean=bool(cleaned < plain),
            calibration_rows=len(cal),
        )


def clean_table(
    frame: pd.DataFrame,
    F: np.ndarray,
    params: dict | None = None,
    seed: int = SEED,
    metal: tuple | None = None,
) -> tuple[np.ndarray, Cleaning]:
    """The rule on a whole training table (every row a training row, no composition held out
    from the gates): which rows to train on, and what was decided. A named model trained from
    the registered entry uses it on all its rows.

    Args:
        frame: the table (``formula``, ``composition``, ``target``; its index as positions).
        F: its feature layout (``layout`` with the committee's lookup setting).
        params: the committee's LightGBM settings (small ones for tests).
        seed: seeds the calibration draw, the inner folds and the committees.
        metal: ``expt_is_metal``'s ``(rows, layout)`` when the caller has them already.

    Returns:
        ``(mask of rows kept, Cleaning)``: every row unless the judges chose to drop the
        flagged ones.
    """
    inputs = _Inputs(params, table=(frame, F), metal=metal)
    cleaning = inputs.decide(np.arange(len(frame)), set(), seed)
    keep = np.ones(len(frame), bool)
    if cleaning.clean:
        keep = ~frame.index.isin(cleaning.flagged.index)
    return keep, cleaning


def run_expt_gap_cleaned(folds=None, params: dict | None = None) -> tuple[BenchmarkRun, list]:
    """``expt-gap-cleaned`` on the published folds (cached), and each fold's ``Cleaning``.

    Args:
        folds: the folds to run (default all five).
        params: the committee's LightGBM settings (``None``: its defaults; small ones for
            tests, which then refit the plain committee instead of reading its cached run).

    Returns:
        ``(run, cleanings)``.
    """
    task = TASKS["expt_gap"]

    def compute():
        inputs = _Inputs(params)
        plain = committee_run(folds).predictions if params is None else None
        cleanings = []

        def fold_fit(train: pd.DataFrame, test: pd.DataFrame, fold: int):
            seed = SEED + fold
            tr, te = positions(inputs.frame, train), positions(inputs.frame, test)
            banned = set(inputs.keys[te])
            cleaning = inputs.decide(tr, banned, seed)
            cleanings.append(cleaning)
            if cleaning.clean:
                kept = ~inputs.frame.index[tr].isin(cleaning.flagged.index)
                pred = inputs.committee(tr[kept], banned, seed).predict(inputs.F[te])
            elif plain is not None:
                pred = plain.loc[test.index, "prediction"].to_numpy()
            else:
                pred = inputs.committee(tr, banned, seed).predict(inputs.F[te])
            return pred, {
                "cleaned": cleaning.clean,
                "flagged rows": len(cleaning.flagged),
                "limit (eV)": cleaning.limit,
                "calibration MAE": cleaning.calibration_mae,
            }

        run = run_task(task, fold_fit, CLEANED_ENTRY, data=inputs.frame, folds=folds)
        return run, cleanings

    key = {
        "folds": folds,
        "params": params,
        "k": K_MAD,
        "inner folds": INNER_FOLDS,
        "calibration": CALIBRATION_FRACTION,
        "seed": SEED,
    }
    return _MATBENCH_EXPT_GAP_CLEANED(key, compute)


@dataclass
class SiGeCleaned:
    """The Si–Ge sweep of the committee trained with the Si–Ge system left out, the rule
    applied to its training rows.

    Attributes:
        cleaning: what the rule decided.
        curve: ``x``, ``formula``, ``gap`` and the measured curves at 4.2 K and 300 K.
        mae_4k: MAE against the 4.2 K curve.
        mae_300k: MAE against the 300 K curve.
    """

    cleaning: Cleaning
    curve: pd.DataFrame
    mae_4k: float
    mae_300k: float


def si_ge_cleaned(n_grid: int = 101, params: dict | None = None) -> SiGeCleaned:
    """The rule on every ``expt_gap`` row not made only of Si and Ge (no Si–Ge label reaches
    the gates either), the committee refitted as decided, and its Si–Ge curve scored as
    ``bandgaps.analyses.measured_si_ge.si_ge_measured`` scores the plain one (cached).

    Args:
        n_grid: x values of the sweep.
        params: the committee's LightGBM settings (small ones for tests).

    Returns:
        The ``SiGeCleaned`` curve.
    """
    from bandgaps.analyses.measured_inputs import layout, rows_without_system
    from bandgaps.analyses.si_ge import si_ge_grid
    from bandgaps.analyses.varshni import CURVE_T, ROOM_T, curve_at

    def compute() -> SiGeCleaned:
        inputs = _Inputs(params)
        keep = rows_without_system(inputs.frame)
        banned = set(inputs.keys[~keep]) | set(inputs.mkeys[~rows_without_system(inputs.mframe)])
        rows = np.flatnonzero(keep)
        cleaning = inputs.decide(rows, banned, SEED)
        if cleaning.clean:
            rows = rows[~inputs.frame.index[rows].isin(cleaning.flagged.index)]
        model = inputs.committee(rows, banned, SEED)
        grid = si_ge_grid(n_grid)
        grid["gap"] = model.predict(layout(grid["formula"], COMMITTEE.lookup))
        grid["experiment 4.2 K"] = curve_at(grid["x"], CURVE_T)
        grid["experiment 300 K"] = curve_at(grid["x"], ROOM_T)

        def mae(t: str) -> float:
            return float(np.mean(np.abs(grid["gap"] - grid[f"experiment {t}"])))

        return SiGeCleaned(cleaning, grid, mae("4.2 K"), mae("300 K"))

    key = {"grid": n_grid, "params": params, "k": K_MAD, "seed": SEED}
    return _SI_GE_CLEANED(key, compute)


def cleaning_table(run: BenchmarkRun, cleanings: list[Cleaning]) -> pd.DataFrame:
    """Per fold: rows flagged, the limit, the calibration MAE with and without them, the
    decision and the test MAE.

    Args:
        run: the entry's run.
        cleanings: its folds' decisions.

    Returns:
        One row per fold.
    """
    rows = []
    for (_, score), c in zip(run.scores.iterrows(), cleanings, strict=True):
        rows.append(
            {
                "fold": int(score["fold"]),
                "flagged rows": len(c.flagged),
                "limit (eV)": c.limit,
                "calibration MAE, every row": c.calibration_mae["every row"],
                "calibration MAE, cleaned": c.calibration_mae["cleaned"],
                "dropped": "yes" if c.clean else "no",
                "test MAE": score["mae"],
            }
        )
    return pd.DataFrame(rows)


def flagged_rows(cleanings: list[Cleaning]) -> pd.DataFrame:
    """Every row flagged in some fold: formula, reported gap, the folds that flagged it, its
    largest excess over an out-of-fold prediction, and whether a fold dropped it.

    Args:
        cleanings: the folds' decisions.

    Returns:
        One row per flagged row, the largest excess first.
    """
    parts = [
        c.flagged.assign(fold=k, dropped=c.clean) for k, c in enumerate(cleanings) if len(c.flagged)
    ]
    if not parts:
        return pd.DataFrame(columns=["formula", "target", "folds", "excess", "dropped"])
    table = pd.concat(parts)
    grouped = table.groupby(level=0)
    out = pd.DataFrame(
        {
            "formula": grouped["formula"].first(),
            "target": grouped["target"].first(),
            "folds": grouped["fold"].apply(lambda f: ", ".join(str(v) for v in sorted(f))),
            "excess": grouped["excess"].max(),
            "dropped": grouped["dropped"].any(),
        }
    )
    return out.sort_values("excess", ascending=False)


__all__ = [
    "CALIBRATION_FRACTION",
    "CLEANED_ENTRY",
    "INNER_FOLDS",
    "K_MAD",
    "MAD_TO_SIGMA",
    "Cleaning",
    "SiGeCleaned",
    "clean_table",
    "cleaning_table",
    "flag_rows",
    "flagged_rows",
    "grouped_folds",
    "run_expt_gap_cleaned",
    "si_ge_cleaned",
]
