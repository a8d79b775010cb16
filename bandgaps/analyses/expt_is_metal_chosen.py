"""The registered ``expt_is_metal`` entry ``expt-is-metal-chosen``: the metal classifier with
its optional pieces and its decision threshold chosen inside each fold.

The classifier is ``expt-is-metal-gap-labels``'s (a ``MetalClassifier`` on the composition
features and the PBE reference's two columns, also learning from ``expt_gap`` rows of
compositions outside the test fold). Inside a fold's training rows five inner folds,
stratified and grouped by composition, give out-of-fold probabilities of each configuration;
a piece (the MP lookup's three columns, or every report of Zhuo et al. 2018 as majority
labels) is taken if it raises the inner balanced accuracy over the classifier without it, and
the threshold in ``THRESHOLDS`` with the highest inner balanced accuracy of the chosen
configuration is taken (the one nearest 0.5 on a tie). The fold's model is then fitted on
all its training rows, and its probabilities are mapped monotonically so that the chosen
threshold falls at 0.5 (``move_threshold``): the labels at 0.5 are the labels at the
threshold, and the ROC-AUC is unchanged.

Every extra row (``expt_gap`` rows, reports) enters a fit only if its composition is in none
of the rows that fit is scored on: the fold's test rows, and inside, the inner fold's rows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bandgaps.analyses.matbench import TASKS, BenchmarkRun, run_task
from bandgaps.analyses.measured_inputs import (
    composition_keys,
    n_composition_features,
    positions,
    task_inputs,
)
from bandgaps.cache import Stage
from bandgaps.config import SEED
from bandgaps.models.transfer import MetalClassifier

_MATBENCH_EXPT_IS_METAL_CHOSEN = Stage("matbench-expt-is-metal-chosen", __name__)

#: The entry's label (registry id ``expt-is-metal-chosen``).
CHOSEN_ENTRY = "pieces and threshold chosen inside the fold"
#: Decision thresholds tried: 0.30, 0.35, …, 0.70.
THRESHOLDS = tuple(round(0.30 + 0.05 * i, 2) for i in range(9))
#: Inner folds.
INNER_FOLDS = 5


@dataclass(frozen=True)
class Config:
    """Which optional pieces a classifier uses."""

    lookup: bool = False
    reports: bool = False

    @property
    def name(self) -> str:
        parts = [p for p, on in (("MP lookup", self.lookup), ("reports", self.reports)) if on]
        return " + ".join(parts) or "base"


def move_threshold(p, threshold: float) -> np.ndarray:
    """Map probabilities monotonically (piecewise linearly) so that ``threshold`` goes to 0.5,
    0 to 0 and 1 to 1: the same ranking (ROC-AUC), and labels at 0.5 equal labels at
    ``threshold``.

    Examples:
        >>> move_threshold([0.0, 0.2, 0.4, 0.7, 1.0], 0.4).round(3).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    p = np.asarray(p, float)
    low = 0.5 * p / threshold
    high = 0.5 + 0.5 * (p - threshold) / (1.0 - threshold)
    return np.where(p <= threshold, low, high)


def best_threshold(y, p, thresholds=THRESHOLDS) -> tuple[float, dict[float, float]]:
    """The threshold with the highest balanced accuracy of ``p > threshold`` (nearest 0.5 on
    a tie), and the balanced accuracy at each.

    Examples:
        >>> best_threshold([0, 0, 1, 1], [0.1, 0.45, 0.42, 0.9], (0.4, 0.5))
        (0.5, {0.4: 0.75, 0.5: 0.75})
    """
    from sklearn.metrics import balanced_accuracy_score

    y = np.asarray(y, int)
    scores = {
        float(t): float(balanced_accuracy_score(y, (np.asarray(p) > t).astype(int)))
        for t in thresholds
    }
    best = max(scores, key=lambda t: (scores[t], -abs(t - 0.5), -t))
    return best, scores


@functools.cache
def report_labels() -> pd.DataFrame:
    """Zhuo et al.'s reports as one metal label per composition, the majority of its reports
    (a composition whose reports split evenly has no majority and is left out, counted in
    ``attrs["ties"]``): ``composition``, ``key``, ``target`` (1 for a metal), ``reports``."""
    from bandgaps.analyses.measured_reports import report_rows

    rows = report_rows()
    rows = rows.assign(metal=(rows["target"] == 0).astype(float))
    grouped = rows.groupby("key", sort=False)
    share = grouped["metal"].mean()
    table = pd.DataFrame(
        {
            "composition": grouped["composition"].first(),
            "share": share,
            "reports": grouped["metal"].size(),
        }
    )
    ties = int((table["share"] == 0.5).sum())
    table = table[table["share"] != 0.5]
    table = table.assign(target=(table["share"] > 0.5).astype(float)).drop(columns="share")
    table = table.rename_axis("key").reset_index()
    table.attrs["ties"] = ties
    return table


def run_expt_is_metal_chosen(folds=None, params: dict | None = None) -> BenchmarkRun:
    """``expt-is-metal-chosen`` on the published (stratified) folds (cached).

    Args:
        folds: the folds to run (default all five).
        params: the classifier's LightGBM settings (``None``: its defaults; small ones for
            tests).

    Returns:
        The ``BenchmarkRun``: probabilities with the chosen threshold at 0.5; each fold's
        parameters record the inner scores and the choices.
    """
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedGroupKFold

    from bandgaps.analyses.measured_inputs import layout

    task = TASKS["expt_is_metal"]

    def compute() -> BenchmarkRun:
        frame, F = task_inputs(task, True, True)
        gap_frame, gap_F = task_inputs(TASKS["expt_gap"], True, True)
        reports = report_labels()
        report_F = layout(reports["composition"], lookup=True)
        n_base = n_composition_features() + 2
        keys = composition_keys(frame["composition"])
        gap_keys = composition_keys(gap_frame["composition"])
        report_keys = reports["key"].to_numpy(dtype=object)
        y_all = frame["target"].to_numpy(float)
        gap_y = (gap_frame["target"].to_numpy() == 0).astype(float)
        report_y = reports["target"].to_numpy(float)

        def fit(config: Config, rows: np.ndarray, banned: set, seed: int) -> MetalClassifier:
            cols = slice(None) if config.lookup else slice(0, n_base)
            gap_rows = np.array([k not in banned for k in gap_keys], bool)
            X = [F[rows][:, cols], gap_F[gap_rows][:, cols]]
            y = [y_all[rows], gap_y[gap_rows]]
            if config.reports:
                report_rows = np.array([k not in banned for k in report_keys], bool)
                X.append(report_F[report_rows][:, cols])
                y.append(report_y[report_rows])
            model = MetalClassifier(params, random_state=seed)
            return model.fit(np.vstack(X), np.concatenate(y))

        def proba(model: MetalClassifier, config: Config, rows: np.ndarray) -> np.ndarray:
            cols = slice(None) if config.lookup else slice(0, n_base)
            return model.predict_proba(F[rows][:, cols])[:, 1]

        def fold_fit(train: pd.DataFrame, test: pd.DataFrame, fold: int):
            seed = SEED + fold
            tr, te = positions(frame, train), positions(frame, test)
            test_keys = set(keys[te])
            y = frame["target"].to_numpy(int)[tr]
            inner = StratifiedGroupKFold(INNER_FOLDS, shuffle=True, random_state=seed)
            splits = list(inner.split(tr, y, groups=keys[tr]))

            def out_of_fold(config: Config) -> np.ndarray:
                oof = np.empty(len(tr))
                for fit_rows, val_rows in splits:
                    banned = test_keys | set(keys[tr[val_rows]])
                    model = fit(config, tr[fit_rows], banned, seed)
                    oof[val_rows] = proba(model, config, tr[val_rows])
                return oof

            def score(p: np.ndarray) -> float:
                return float(balanced_accuracy_score(y, (p > 0.5).astype(int)))

            oof = {Config(): out_of_fold(Config())}
            for piece in (Config(lookup=True), Config(reports=True)):
                oof[piece] = out_of_fold(piece)
            inner_scores = {c.name: score(p) for c, p in oof.items()}
            base = inner_scores["base"]
            chosen = Config(
                lookup=inner_scores["MP lookup"] > base,
                reports=inner_scores["reports"] > base,
            )
            if chosen not in oof:
                oof[chosen] = out_of_fold(chosen)
                inner_scores[chosen.name] = score(oof[chosen])
            threshold, by_threshold = best_threshold(y, oof[chosen])
            model = fit(chosen, tr, test_keys, seed)
            p = move_threshold(proba(model, chosen, te), threshold)
            return p, {
                "inner balanced accuracy": inner_scores,
                "pieces": chosen.name,
                "threshold": threshold,
                "inner balanced accuracy by threshold": {
                    f"{t:.2f}": v for t, v in by_threshold.items()
                },
                "trees": model.booster_.trees(),
            }

        return run_task(task, fold_fit, CHOSEN_ENTRY, data=frame, folds=folds)

    key = {
        "folds": folds,
        "params": params,
        "thresholds": THRESHOLDS,
        "inner folds": INNER_FOLDS,
        "seed": SEED,
    }
    return _MATBENCH_EXPT_IS_METAL_CHOSEN(key, compute)


def choices_table(run: BenchmarkRun) -> pd.DataFrame:
    """Per fold: the inner balanced accuracy of each configuration, what was taken, the
    threshold, and the test scores.

    Args:
        run: ``run_expt_is_metal_chosen``'s run.

    Returns:
        One row per fold.
    """
    rows = []
    for (_, score), p in zip(run.scores.iterrows(), run.parameters, strict=True):
        inner = p["inner balanced accuracy"]
        rows.append(
            {
                "fold": int(score["fold"]),
                "inner: base": inner["base"],
                "inner: + MP lookup": inner["MP lookup"],
                "inner: + reports": inner["reports"],
                "taken": p["pieces"],
                "threshold": p["threshold"],
                "test balanced accuracy": score["balanced_accuracy"],
                "test ROC-AUC": score["rocauc"],
            }
        )
    return pd.DataFrame(rows)


__all__ = [
    "CHOSEN_ENTRY",
    "INNER_FOLDS",
    "THRESHOLDS",
    "Config",
    "best_threshold",
    "choices_table",
    "move_threshold",
    "report_labels",
    "run_expt_is_metal_chosen",
]
