"""The measured-gap benchmark entries and their runners on the official Matbench folds
(``expt_gap``, ``expt_is_metal``), each cached as a stage; ``mp_gap`` is
``bandgaps.analyses.mp_gap``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bandgaps.analyses.matbench import TASKS, BenchmarkRun, run_task
from bandgaps.analyses.measured_inputs import (
    n_composition_features,
    outside_test,
    positions,
    task_inputs,
)
from bandgaps.cache import Stage
from bandgaps.config import SEED
from bandgaps.models.transfer import (
    GatedCommittee,
    GatedGapModel,
    MetalClassifier,
)

_MATBENCH_EXPT_GAP = Stage("matbench-expt-gap", __name__)

_MATBENCH_EXPT_IS_METAL = Stage("matbench-expt-is-metal", __name__)


@dataclass(frozen=True)
class Entry:
    """One benchmark entry: which pieces of the measured-gap model it uses.

    Attributes:
        label: the entry's name.
        transfer: add the PBE reference's columns.
        gate: gate metals (0 eV) with a classifier.
        related_labels: the gate also learns from ``expt_is_metal``'s labels.
        residual: correct the predicted PBE gap instead of predicting from scratch.
        lookup: add the MP lookup's columns.
        note: one line for the page.
    """

    label: str
    transfer: bool = False
    gate: bool = False
    related_labels: bool = False
    residual: bool = False
    lookup: bool = False
    note: str = ""


EXPT_GAP_ENTRIES = (
    Entry("composition only", note="LightGBM on Magpie + element fractions, every row"),
    Entry("+ PBE reference", transfer=True, note="plus predicted PBE gap and PBE metallicity"),
    Entry("+ metal gate", transfer=True, gate=True, note="metals → 0 eV; regressor on non-metals"),
    Entry(
        "+ expt_is_metal labels",
        transfer=True,
        gate=True,
        related_labels=True,
        note="the gate also learns from expt_is_metal rows outside the test fold",
    ),
    Entry(
        "+ residual on PBE",
        transfer=True,
        gate=True,
        related_labels=True,
        residual=True,
        note="the regressor corrects the predicted PBE gap instead of predicting the gap",
    ),
    Entry(
        "+ MP gaps of the composition",
        transfer=True,
        gate=True,
        lookup=True,
        note="plus the PBE gaps MP lists for exactly this composition (mean, lowest, count)",
    ),
)


EXPT_IS_METAL_ENTRIES = (
    Entry("composition only", note="LightGBM classifier on Magpie + element fractions"),
    Entry("+ PBE reference", transfer=True, note="plus predicted PBE gap and PBE metallicity"),
    Entry(
        "+ expt_gap labels",
        transfer=True,
        related_labels=True,
        note="also learns from expt_gap rows (gap = 0 is a metal) outside the test fold",
    ),
    Entry(
        "+ MP gaps of the composition",
        transfer=True,
        related_labels=True,
        lookup=True,
        note="plus the PBE gaps MP lists for exactly this composition (mean, lowest, count)",
    ),
)


#: The gated variants; the study's measured-gap model is their median (``COMMITTEE``).
GATED_VARIANTS = tuple(e for e in EXPT_GAP_ENTRIES if e.gate)


COMMITTEE = Entry(
    "median of the gated variants",
    transfer=True,
    gate=True,
    related_labels=True,
    lookup=True,
    note="the median prediction of the four gated variants above, each fitted on the fold",
)


#: The entry the study calls its measured-gap model.
MEASURED_ENTRY = COMMITTEE.label


METAL_ENTRY = "+ expt_gap labels"


#: LightGBM settings of every ``expt_gap`` entry's gate and regressor (``None``: the models'
#: small-data defaults). Part of each entry run's cache key.
ENTRY_PARAMS: dict | None = None


def build_model(entry: Entry, columns=None, seed: int = SEED, params: dict | None = None):
    """The unfitted model of an ``expt_gap`` entry on the shared feature layout: a
    ``GatedGapModel`` reading the entry's columns, or for ``COMMITTEE`` the median of the
    gated variants. ``columns`` restricts the composition columns read (default all);
    ``params`` defaults to ``ENTRY_PARAMS``.

    Args:
        entry: the entry.
        columns: the layout's columns it reads (default its own).
        seed: the random seed.
        params: the gap regressor's parameters.

    Returns:
        The unfitted model.
    """

    params = ENTRY_PARAMS if params is None else params
    if entry.label == COMMITTEE.label:
        return GatedCommittee([build_model(e, columns, seed, params) for e in GATED_VARIANTS])
    n_comp = n_composition_features()
    comp = np.arange(n_comp) if columns is None else np.asarray(columns)
    extra = np.arange(n_comp, n_comp + (2 if entry.transfer else 0) + (3 if entry.lookup else 0))
    return GatedGapModel(
        gate=entry.gate,
        residual_column=n_comp if entry.residual else None,
        columns=[int(c) for c in np.concatenate([comp, extra])],
        extra_labels=entry.related_labels,
        regressor_params=params,
        gate_params=params,
        random_state=seed,
    )


def run_expt_gap(entry: Entry, folds=None) -> BenchmarkRun:
    """One ``expt_gap`` entry on the published folds (cached). ``COMMITTEE`` is read from its
    members' runs (``committee_run``).

    Args:
        entry: the entry.
        folds: the folds to run (default all five).

    Returns:
        The ``BenchmarkRun``.
    """
    task = TASKS["expt_gap"]
    if entry.label == COMMITTEE.label:
        return committee_run(folds)

    def compute():
        frame, F = task_inputs(task, entry.transfer, entry.lookup)
        metal_frame = metal_F = None
        if entry.related_labels:
            metal_frame, metal_F = task_inputs(TASKS["expt_is_metal"], entry.transfer, entry.lookup)

        def fit_predict(train, test, fold):
            tr, te = positions(frame, train), positions(frame, test)
            Xm = ym = None
            params: dict = {}
            if metal_frame is not None:
                Xm, ym, params["metal label rows"] = outside_test(metal_frame, metal_F, test)
            model = build_model(entry, seed=SEED + fold)
            model.fit(F[tr], train["target"].to_numpy(), Xm, ym)
            return model.predict(F[te]), params

        return run_task(task, fit_predict, entry.label, data=frame, folds=folds)

    key = {"entry": entry.__dict__, "folds": folds, "seed": SEED, "params": ENTRY_PARAMS}
    return _MATBENCH_EXPT_GAP(key, compute)


def committee_run(folds=None) -> BenchmarkRun:
    """``COMMITTEE`` on the published folds: on each fold, the median of the gated variants'
    predictions and their spread (σ, the members' standard deviation). A committee member is
    the same model, with the same seed and rows, as that variant's own entry (a member reads
    its entry's columns of the shared layout), so the members' cached fold predictions are
    combined instead of the four variants being fitted a second time.

    Args:
        folds: the folds to run (default all five).

    Returns:
        The ``BenchmarkRun``.
    """
    from bandgaps.analyses.matbench import score_fold

    task = TASKS["expt_gap"]
    runs = [run_expt_gap(e, folds) for e in GATED_VARIANTS]
    first = runs[0].predictions
    for run in runs[1:]:
        if not run.predictions.index.equals(first.index):
            raise RuntimeError("the committee's members predicted different rows")
    gaps = np.array([run.predictions["prediction"].to_numpy() for run in runs])
    predictions = first[["fold", "target"]].copy()
    predictions["prediction"] = np.median(gaps, axis=0)
    predictions["σ"] = gaps.std(axis=0)
    scores, params = [], []
    for i, (k, fold) in enumerate(predictions.groupby("fold", sort=True)):
        scores.append({"fold": k, **score_fold(task, fold["target"], fold["prediction"])})
        params.append({key: v for run in runs for key, v in run.parameters[i].items()})
    seconds = [float(sum(s)) for s in zip(*(run.fit_seconds for run in runs), strict=True)]
    return BenchmarkRun(task, COMMITTEE.label, predictions, pd.DataFrame(scores), params, seconds)


def run_expt_is_metal(entry: Entry, folds=None) -> BenchmarkRun:
    """One ``expt_is_metal`` entry on the published (stratified) folds (cached).

    Args:
        entry: the entry.
        folds: the folds to run (default all five).

    Returns:
        The ``BenchmarkRun``.
    """
    task = TASKS["expt_is_metal"]

    def compute():
        frame, F = task_inputs(task, entry.transfer, entry.lookup)
        gap_frame = gap_F = None
        if entry.related_labels:
            gap_frame, gap_F = task_inputs(TASKS["expt_gap"], entry.transfer, entry.lookup)

        def fit_predict(train, test, fold):
            tr, te = positions(frame, train), positions(frame, test)
            X, y = F[tr], train["target"].to_numpy(float)
            extra = 0
            if gap_frame is not None:
                Xg, gaps, extra = outside_test(gap_frame, gap_F, test)
                X = np.vstack([X, Xg])
                y = np.concatenate([y, (gaps == 0).astype(float)])
            model = MetalClassifier(random_state=SEED + fold).fit(X, y)
            return model.predict_proba(F[te])[:, 1], {"gap label rows": extra}

        return run_task(task, fit_predict, entry.label, data=frame, folds=folds)

    key = {"entry": entry.__dict__, "folds": folds, "seed": SEED}
    return _MATBENCH_EXPT_IS_METAL(key, compute)


def ablation(runs: dict[str, BenchmarkRun], entries) -> pd.DataFrame:
    """Mean ± spread over the folds of each entry, with what it adds over the one before.

    Args:
        runs: runs by label.
        entries: the entries, in order.

    Returns:
        One row per entry.
    """
    rows = []
    for e in entries:
        run = runs[e.label]
        s = run.scores
        rows.append(
            {
                "entry": e.label,
                "what it adds": e.note,
                **{f"{m} (mean)": s[m].mean() for m in s.columns if m != "fold"},
                f"{run.task.metric} (std)": s[run.task.metric].std(),
            }
        )
    table = pd.DataFrame(rows)
    col = f"{runs[entries[0].label].task.metric} (mean)"
    table["change"] = table[col].diff()
    return table


__all__ = [
    "COMMITTEE",
    "ENTRY_PARAMS",
    "EXPT_GAP_ENTRIES",
    "EXPT_IS_METAL_ENTRIES",
    "GATED_VARIANTS",
    "MEASURED_ENTRY",
    "METAL_ENTRY",
    "Entry",
    "ablation",
    "build_model",
    "committee_run",
    "run_expt_gap",
    "run_expt_is_metal",
]
