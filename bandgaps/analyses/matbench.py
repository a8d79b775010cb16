"""The official Matbench v0.1 protocol for any ``formula → target`` task.

Matbench scores a task by five-fold cross-validation over its rows in Matbench's own order,
``KFold(5, shuffle=True, random_state=18012019)`` (``StratifiedKFold`` with the same arguments for
classification). Applied to the catalogued tasks this gives the published test rows exactly. The
benchmark's rule: every decision (features, hyper-parameters, candidate choice, calibration) is
made inside a fold's training rows, and the fold's test rows are scored once. ``run_task`` only
ever hands the estimator the training rows of a fold; what it returns can be written in
Matbench's ``results.json.gz`` layout (keyed by the ``mb-…`` ids) with
``bandgaps.analyses.submission``.

Examples:
    >>> task = TASKS["expt_gap"]
    >>> task.mb_id(0), task.kind, task.metric
    ('mb-expt-gap-0001', 'regression', 'mae')
    >>> [len(test) for _, test in official_folds(task, n_rows=10)]
    [2, 2, 2, 2, 2]
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bandgaps.errors import InputError

#: Matbench v0.1's seed for every task's folds.
MATBENCH_SEED = 18012019
N_FOLDS = 5


@dataclass(frozen=True)
class MatbenchTask:
    """A Matbench task: its catalog table, kind and the id pattern of its rows.

    Attributes:
        name: the task (``expt_gap``, …).
        catalog: its catalog table.
        kind: ``regression`` or ``classification``.
        id_digits: digits of its row ids.
        unit: the target's unit.
    """

    name: str
    catalog: str
    kind: str  # "regression" or "classification"
    id_digits: int
    unit: str = "eV"

    @property
    def matbench_name(self) -> str:
        return f"matbench_{self.name}"

    @property
    def metric(self) -> str:
        """The leaderboard's headline metric (``mae``, or ``rocauc`` for classification)."""
        return "mae" if self.kind == "regression" else "rocauc"

    def mb_id(self, row: int) -> str:
        """Matbench's id of row ``row`` (counted from 0): ``mb-expt-gap-0001`` for row 0.

        Args:
            row: the row, counted from 0.

        Returns:
            The id, e.g. ``mb-expt-gap-0001``.
        """
        return f"mb-{self.name.replace('_', '-')}-{row + 1:0{self.id_digits}d}"

    def load(self) -> pd.DataFrame:
        """The whole task: ``formula``, ``composition``, ``target``, indexed by ``mb_id``."""
        from bandgaps.data.tables import load_table

        frame = load_table(self.catalog).reset_index(drop=True)
        frame.index = pd.Index([self.mb_id(i) for i in range(len(frame))], name="mb_id")
        return frame


TASKS: dict[str, MatbenchTask] = {
    "mp_gap": MatbenchTask("mp_gap", "matbench-mp-gap", "regression", 6),
    "expt_gap": MatbenchTask("expt_gap", "matbench-expt-gap", "regression", 4),
    "expt_is_metal": MatbenchTask("expt_is_metal", "matbench-expt-is-metal", "classification", 4),
}


def get_task(name: str) -> MatbenchTask:
    """

    Args:
        name: ``mp_gap``, ``expt_gap`` or ``expt_is_metal``.

    Returns:
        The ``MatbenchTask``.

    Raises:
        InputError: an unknown task.
    """
    try:
        return TASKS[name.removeprefix("matbench_")]
    except KeyError:
        raise InputError(
            f"Unknown Matbench task {name!r}; choose one of {', '.join(TASKS)}"
        ) from None


def official_folds(
    task: MatbenchTask, target: Sequence | None = None, n_rows: int | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(train rows, test rows)]`` of the five published folds (row positions).

    Regression tasks need only the row count; classification folds are stratified on
    ``target``.

    Args:
        task: the task.
        target: its targets (stratified folds need them).
        n_rows: its rows (default the table's).

    Returns:
        Five ``(train rows, test rows)`` pairs of positions.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    if task.kind == "classification":
        if target is None:
            raise InputError(f"{task.name}: stratified folds need the target")
        y = np.asarray(target)
        splitter = StratifiedKFold(n_splits=N_FOLDS, shuffle=True, random_state=MATBENCH_SEED)
        return [(tr, te) for tr, te in splitter.split(np.zeros(len(y)), y)]
    n = len(target) if target is not None else n_rows
    if n is None:
        raise InputError("official_folds needs the target or the number of rows")
    splitter = KFold(n_splits=N_FOLDS, shuffle=True, random_state=MATBENCH_SEED)
    return list(splitter.split(np.zeros(n)))


# ----------------------------------------------------------------------------------------------
# Scores, as Matbench computes them


def score_fold(task: MatbenchTask, y, pred) -> dict[str, float]:
    """Matbench's per-fold scores. Classification takes probabilities of class 1 and adds the
    label scores at p > 0.5 (``balanced_accuracy`` is what the published ``rocauc`` of label
    submissions equals).

    Args:
        task: the task.
        y: a fold's targets.
        pred: its predictions (probabilities of class 1 for classification).

    Returns:
        The scores by name.
    """
    from sklearn import metrics

    y = np.asarray(y, float)
    pred = np.asarray(pred, float)
    if task.kind == "regression":
        err = pred - y
        nonzero = y != 0
        return {
            "mae": float(np.mean(np.abs(err))),
            "rmse": float(np.sqrt(np.mean(err**2))),
            "mape": float(np.mean(np.abs(err[nonzero] / y[nonzero]))) if nonzero.any() else np.nan,
            "max_error": float(np.max(np.abs(err))),
        }
    labels = (pred > 0.5).astype(int)
    return {
        "accuracy": float(metrics.accuracy_score(y, labels)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(y, labels)),
        "f1": float(metrics.f1_score(y, labels)),
        "rocauc": float(metrics.roc_auc_score(y, pred)),
    }


# ----------------------------------------------------------------------------------------------
# The runner


@dataclass
class BenchmarkRun:
    """Out-of-fold predictions and per-fold scores of one entry on one task.

    Attributes:
        task: the task.
        entry: the entry's name.
        predictions: out-of-fold predictions by ``mb_id``: fold, target, prediction.
        scores: one row per fold.
        parameters: each fold's chosen parameters.
        fit_seconds: each fold's fit time.
    """

    task: MatbenchTask
    entry: str
    predictions: pd.DataFrame  # mb_id index: fold, target, prediction
    scores: pd.DataFrame  # one row per fold
    parameters: list[dict] = field(default_factory=list)
    fit_seconds: list[float] = field(default_factory=list)

    def mean(self, metric: str | None = None) -> float:
        """

        Args:
            metric: the score (default the task's metric).

        Returns:
            The five-fold mean.
        """
        return float(self.scores[metric or self.task.metric].mean())


#: ``fit_predict(train frame, test frame, fold) -> (predictions, parameters)``: trains on the
#: train frame only (``formula``, ``composition``, ``target`` and any columns the caller added)
#: and predicts the test frame, which carries no target.
FoldModel = Callable[[pd.DataFrame, pd.DataFrame, int], tuple[np.ndarray, dict]]


def run_task(
    task: MatbenchTask,
    fit_predict: FoldModel,
    entry: str,
    data: pd.DataFrame | None = None,
    folds: Sequence[int] | None = None,
    progress: bool | None = None,
) -> BenchmarkRun:
    """Run ``fit_predict`` on each official fold and score its test rows once.

    The test frame handed to ``fit_predict`` has no ``target`` column, so nothing about the test
    rows' answers can reach a fit.

    Args:
        task: the task.
        fit_predict: fits on a fold's training rows and predicts its test rows (no targets).
        entry: the entry's name.
        data: the task's table (default the catalog's).
        folds: the folds to run (default all five).
        progress: draw a progress bar.

    Returns:
        The ``BenchmarkRun``.
    """
    from tqdm import tqdm

    from bandgaps.config import progress_enabled

    data = task.load() if data is None else data
    splits = official_folds(task, data["target"])
    chosen = range(N_FOLDS) if folds is None else folds
    rows, frames, params, seconds = [], [], [], []
    bar = tqdm(
        chosen,
        desc=f"{task.name}: {entry}",
        unit="fold",
        disable=not (progress_enabled() if progress is None else progress),
    )
    for k in bar:
        train_rows, test_rows = splits[k]
        train = data.iloc[train_rows]
        test = data.iloc[test_rows].drop(columns="target")
        t0 = time.perf_counter()
        pred, fold_params = fit_predict(train, test, k)
        seconds.append(time.perf_counter() - t0)
        pred = np.asarray(pred, float)
        if pred.shape != (len(test),) or not np.all(np.isfinite(pred)):
            raise InputError(f"{entry}: fold {k} returned {pred.shape} predictions for {len(test)}")
        y = data["target"].to_numpy()[test_rows]
        rows.append({"fold": k, **score_fold(task, y, pred)})
        frames.append(pd.DataFrame({"fold": k, "target": y, "prediction": pred}, index=test.index))
        params.append(fold_params)
    return BenchmarkRun(task, entry, pd.concat(frames), pd.DataFrame(rows), params, seconds)


# ----------------------------------------------------------------------------------------------
# The published entries


def leaderboard_folds() -> pd.DataFrame:
    """Published per-fold scores (``model``, ``task``, ``fold``, ``metric``, ``value``)."""
    from bandgaps.data.tables import load_table

    return load_table("matbench-leaderboard-folds")


@functools.cache
def _published_predictions() -> pd.DataFrame:
    """The 125,163 published predictions, read and checksummed once per process."""
    from bandgaps.data.tables import load_table

    return load_table("matbench-leaderboard-predictions")


def leaderboard_predictions(task: MatbenchTask, model: str | None = None) -> pd.DataFrame:
    """Published per-material test predictions of ``task`` (CrabNet, Darwin, RF).

    Args:
        task: the task.
        model: only this entry.

    Returns:
        A frame of ``mb_id``, model, fold, prediction.
    """
    frame = _published_predictions()
    frame = frame[frame["task"] == task.matbench_name]
    if model is not None:
        frame = frame[frame["model"] == model]
    frame = frame.copy()
    # label submissions (expt_is_metal) are stored as True/False text
    labels = {"True": 1.0, "False": 0.0, "true": 1.0, "false": 0.0}
    frame["prediction"] = [
        labels.get(p, p) if isinstance(p, str) else p for p in frame["prediction"]
    ]
    frame["prediction"] = frame["prediction"].astype(float)
    return frame.set_index("mb_id")


def leaderboard_means(task: MatbenchTask) -> pd.DataFrame:
    """Each published entry's mean and spread over the five folds, best first.

    Args:
        task: the task.

    Returns:
        One row per entry.
    """
    folds = leaderboard_folds()
    folds = folds[(folds["task"] == task.matbench_name) & (folds["metric"] == task.metric)]
    table = folds.groupby("model")["value"].agg(["mean", "std", "count"]).reset_index()
    return table.sort_values("mean", ascending=task.kind == "regression").reset_index(drop=True)


def fold_rule_check(
    tasks: dict[str, MatbenchTask] | None = None, data: dict[str, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """The fold rule, checked against the published per-material predictions: for each stored
    entry, whether our folds hold exactly its test rows, its re-scored per-fold figures and
    their largest difference from the leaderboard.

    Args:
        tasks: the tasks (default all).
        data: their tables (default the catalog's).

    Returns:
        One row per stored entry and fold: whether the rule gives its test rows.
    """
    tasks = tasks or TASKS
    data = data or {name: t.load() for name, t in tasks.items()}
    board = leaderboard_folds()
    rows = []
    for name, task in tasks.items():
        frame = data[name]
        folds = official_folds(task, frame["target"])
        for model, preds in leaderboard_predictions(task).groupby("model"):
            in_fold = [preds["fold"] == k for k in range(N_FOLDS)]
            same = all(
                set(preds.index[m]) == set(frame.index[folds[k][1]]) for k, m in enumerate(in_fold)
            )
            scores = [
                score_fold(task, frame.loc[preds.index[m], "target"], preds.loc[m, "prediction"])[
                    task.metric
                ]
                for m in in_fold
            ]
            listed = board[
                (board["model"] == model)
                & (board["task"] == task.matbench_name)
                & (board["metric"] == task.metric)
            ].sort_values("fold")["value"]
            rows.append(
                {
                    "task": name,
                    "published entry": model,
                    "test rows identical": same,
                    f"re-scored {task.metric}, 5 folds": " / ".join(f"{v:.4f}" for v in scores),
                    "largest difference from the leaderboard": float(
                        np.max(np.abs(np.asarray(scores) - listed.to_numpy()))
                    ),
                }
            )
    return pd.DataFrame(rows)


def published_of(task: MatbenchTask, drop=("dummy",)) -> pd.DataFrame:
    """Per-fold scores of the published entries on ``task`` in its metric (``drop`` left out).

    Args:
        task: the task.
        drop: entries left out.

    Returns:
        A frame of model, fold, value.
    """
    board = leaderboard_folds()
    rows = board[(board["task"] == task.matbench_name) & (board["metric"] == task.metric)]
    return rows[~rows["model"].isin(drop)]


def leaderboard_table(task: MatbenchTask, ours: dict[str, BenchmarkRun]) -> pd.DataFrame:
    """Published entries and ours, fold by fold, with mean and spread, best first.

    Args:
        task: the task.
        ours: our runs, by label.

    Returns:
        One row per entry.
    """
    pub = published_of(task, drop=())
    table = pub.pivot_table(index="model", columns="fold", values="value")
    for label, run in ours.items():
        table.loc[f"{label} (this study)"] = run.scores[task.metric].to_numpy()
    table.columns = [f"fold {c}" for c in table.columns]
    table["mean"] = table.mean(axis=1)
    table["std"] = table.iloc[:, :N_FOLDS].std(axis=1)
    return table.sort_values("mean", ascending=task.kind == "regression")


__all__ = [
    "MATBENCH_SEED",
    "TASKS",
    "BenchmarkRun",
    "MatbenchTask",
    "fold_rule_check",
    "get_task",
    "leaderboard_folds",
    "leaderboard_means",
    "leaderboard_predictions",
    "leaderboard_table",
    "official_folds",
    "published_of",
    "run_task",
    "score_fold",
]
