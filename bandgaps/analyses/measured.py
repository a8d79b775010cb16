"""Measured band gaps on the official Matbench protocol, and the Si–Ge sweep with Si–Ge left out.

Three tasks run through ``bandgaps.analyses.matbench.run_task`` (published folds, test rows
scored once):

* ``mp_gap`` — PBE gaps from composition (LightGBM on Magpie + element fractions);
* ``expt_gap`` — measured gaps, as an ablation: composition alone, plus the PBE reference's two
  columns (``bandgaps.models.transfer.PBEReference``, trained on all of ``mp_gap``: another
  quantity, which the benchmark allows), plus the metal gate, plus ``expt_is_metal`` labels
  for the gate (only rows whose composition is in none of the fold's test rows);
* ``expt_is_metal`` — the same pieces as a classifier, with ``expt_gap`` labels (gap = 0)
  filtered the same way.

Every setting is fixed in ``bandgaps.models.transfer`` before any fold is seen; the number of
trees is chosen by early stopping on a share of each fold's training rows. Results are cached
by their inputs, so a warm build reads them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bandgaps.analyses.common import digest
from bandgaps.analyses.matbench import TASKS, BenchmarkRun, MatbenchTask, run_task
from bandgaps.analyses.si_ge import BRIEF_FORMULAS, si_ge_grid, weber_alonso_gap
from bandgaps.cache import Stage
from bandgaps.config import SEED
from bandgaps.models.transfer import (
    LARGE_DATA,
    GatedCommittee,
    GatedGapModel,
    MetalClassifier,
    MPGapLookup,
    PBEReference,
    composition_key,
    only_elements,
)

_PBE_REFERENCE = Stage("pbe-reference", __name__)
_MATBENCH_EXPT_GAP = Stage("matbench-expt-gap", __name__)
_MATBENCH_EXPT_IS_METAL = Stage("matbench-expt-is-metal", __name__)
_MATBENCH_MP_GAP = Stage("matbench-mp-gap", __name__)
_MEASURED_GAP_MODEL = Stage("measured-gap-model", __name__)
_SI_GE_MEASURED = Stage("si-ge-measured", __name__)


FEATURE_SET = "magpie+fractions"

#: The alloy system the Si–Ge sweep leaves out of every measured-gap training table.
SI_GE = ("Si", "Ge")

#: Band-gap temperature dependence used to bring the 4.2 K curve to 300 K: Varshni parameters
#: Eg(T) = Eg(0) − αT²/(T + β) (Si: Thurmond 1975; Ge: Thurmond 1975, as tabulated by Sze &
#: Ng, *Physics of Semiconductor Devices*, 3rd ed., 2007): (α in eV/K, β in K).
VARSHNI = {"Si": (4.73e-4, 636.0), "Ge": (4.774e-4, 235.0)}
CURVE_T = 4.2
ROOM_T = 300.0


def varshni_shift(element: str, t_from: float = CURVE_T, t_to: float = ROOM_T) -> float:
    """Change of an element's gap from ``t_from`` to ``t_to`` (eV, negative when warming).

    Examples:
        >>> round(varshni_shift("Si"), 3), round(varshni_shift("Ge"), 3)
        (-0.045, -0.08)
    """
    alpha, beta = VARSHNI[element]
    return -alpha * t_to**2 / (t_to + beta) + alpha * t_from**2 / (t_from + beta)


def curve_at(x, temperature: float = CURVE_T) -> np.ndarray:
    """Weber & Alonso's curve (4.2 K), or brought to ``temperature`` by shifting each end by
    its measured temperature dependence and interpolating the shift linearly in x."""
    x = np.asarray(x, float)
    gap = weber_alonso_gap(x)
    if temperature == CURVE_T:
        return gap
    return (
        gap
        + (1 - x) * varshni_shift("Si", CURVE_T, temperature)
        + x * varshni_shift("Ge", CURVE_T, temperature)
    )


# ----------------------------------------------------------------------------------------------
# Inputs: features of a task's rows and the PBE reference


def _frame_digest(frame: pd.DataFrame) -> str:
    return digest(list(frame["formula"]), frame["target"].to_numpy())


def task_features(task: MatbenchTask, frame: pd.DataFrame) -> np.ndarray:
    """Composition features of every row of a task (a function of composition only)."""
    from bandgaps.features.composition import CompositionFeatures

    return CompositionFeatures(FEATURE_SET, cache=True).transform(list(frame["composition"]))


@functools.cache
def _task_frame(name: str) -> pd.DataFrame:
    """A task's table, parsed once per process (``mp_gap`` alone is 106,113 formulas)."""
    return TASKS[name].load()


@functools.cache
def pbe_reference() -> PBEReference:
    """The PBE-side models, trained on every row of ``mp_gap`` (cached on disk, and read once
    per process)."""
    task = TASKS["mp_gap"]
    frame = _task_frame("mp_gap")

    def compute():
        F = task_features(task, frame)
        return PBEReference(FEATURE_SET, random_state=SEED).fit_features(F, frame["target"])

    key = {"data": _frame_digest(frame), "params": LARGE_DATA, "features": FEATURE_SET}
    return _PBE_REFERENCE(key, compute)


def n_composition_features() -> int:
    from bandgaps.features.composition import CompositionFeatures

    return len(CompositionFeatures(FEATURE_SET, cache=False).feature_labels())


def rows_outside(frame: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Mask of ``frame`` rows whose composition is in none of ``test``'s rows (the filter that
    keeps a related task's labels of test compositions out of a fold's training).

    Examples:
        >>> from pymatgen.core import Composition
        >>> f = pd.DataFrame({"composition": [Composition("SiGe"), Composition("GaAs")]})
        >>> t = pd.DataFrame({"composition": [Composition("Si0.5Ge0.5")]})
        >>> rows_outside(f, t).tolist()
        [False, True]
    """
    banned = {composition_key(c) for c in test["composition"]}
    return np.array([composition_key(c) not in banned for c in frame["composition"]], bool)


def _outside(frame: pd.DataFrame, F: np.ndarray, test: pd.DataFrame):
    """A related task's feature rows and targets whose compositions are in none of ``test``'s
    rows, and how many there are."""
    keep = rows_outside(frame, test)
    return F[keep], frame["target"].to_numpy()[keep], int(keep.sum())


def rows_without_system(frame: pd.DataFrame, elements=SI_GE) -> np.ndarray:
    """Mask of rows *not* made only of ``elements`` (leave the system out)."""
    return np.array([not only_elements(c, elements) for c in frame["composition"]], bool)


# ----------------------------------------------------------------------------------------------
# Entries


@dataclass(frozen=True)
class Entry:
    """One benchmark entry: which pieces of the measured-gap model it uses."""

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
MP_GAP_ENTRY = "LightGBM, Magpie + fractions"
MP_GAP_PARAMS = {**LARGE_DATA, "objectives": ("huber",), "clip_min": 0.0}


@functools.cache
def mp_lookup() -> MPGapLookup:
    """The PBE gaps of ``mp_gap`` by composition (a lookup, built once per process)."""
    frame = _task_frame("mp_gap")
    return MPGapLookup().fit(frame["composition"], frame["target"])


def _inputs(
    task: MatbenchTask, transfer: bool, lookup: bool = False
) -> tuple[pd.DataFrame, np.ndarray]:
    """A task's rows and feature matrix: composition features, then (with ``transfer``) the PBE
    reference's two columns, then (with ``lookup``) the three MP lookup columns — the layout
    every entry shares, so an entry that ignores the lookup drops the last three columns."""
    frame = _task_frame(task.name)
    F = task_features(task, frame)
    if transfer:
        F = np.hstack([F, pbe_reference().transform_features(F)])
    if lookup:
        F = np.hstack([F, mp_lookup().featurize_many(frame["composition"])])
    return frame, F


def _positions(frame: pd.DataFrame, sub: pd.DataFrame) -> np.ndarray:
    return frame.index.get_indexer(sub.index)


#: LightGBM settings of every ``expt_gap`` entry's gate and regressor (``None``: the models'
#: small-data defaults). Part of each entry run's cache key.
ENTRY_PARAMS: dict | None = None


def build_model(entry: Entry, columns=None, seed: int = SEED, params: dict | None = None):
    """The unfitted model of an ``expt_gap`` entry on the shared feature layout: a
    ``GatedGapModel`` reading the entry's columns, or for ``COMMITTEE`` the median of the
    gated variants. ``columns`` restricts the composition columns read (default all);
    ``params`` defaults to ``ENTRY_PARAMS``."""

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
    members' runs (``committee_run``)."""
    task = TASKS["expt_gap"]
    if entry.label == COMMITTEE.label:
        return committee_run(folds)

    def compute():
        frame, F = _inputs(task, entry.transfer, entry.lookup)
        metal_frame = metal_F = None
        if entry.related_labels:
            metal_frame, metal_F = _inputs(TASKS["expt_is_metal"], entry.transfer, entry.lookup)

        def fit_predict(train, test, fold):
            tr, te = _positions(frame, train), _positions(frame, test)
            Xm = ym = None
            params: dict = {}
            if metal_frame is not None:
                Xm, ym, params["metal label rows"] = _outside(metal_frame, metal_F, test)
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
    combined instead of the four variants being fitted a second time."""
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
    """One ``expt_is_metal`` entry on the published (stratified) folds (cached)."""
    task = TASKS["expt_is_metal"]

    def compute():
        frame, F = _inputs(task, entry.transfer, entry.lookup)
        gap_frame = gap_F = None
        if entry.related_labels:
            gap_frame, gap_F = _inputs(TASKS["expt_gap"], entry.transfer, entry.lookup)

        def fit_predict(train, test, fold):
            tr, te = _positions(frame, train), _positions(frame, test)
            X, y = F[tr], train["target"].to_numpy(float)
            extra = 0
            if gap_frame is not None:
                Xg, gaps, extra = _outside(gap_frame, gap_F, test)
                X = np.vstack([X, Xg])
                y = np.concatenate([y, (gaps == 0).astype(float)])
            model = MetalClassifier(random_state=SEED + fold).fit(X, y)
            return model.predict_proba(F[te])[:, 1], {"gap label rows": extra}

        return run_task(task, fit_predict, entry.label, data=frame, folds=folds)

    key = {"entry": entry.__dict__, "folds": folds, "seed": SEED}
    return _MATBENCH_EXPT_IS_METAL(key, compute)


def run_mp_gap(folds=None) -> BenchmarkRun:
    """``mp_gap`` from composition only: LightGBM (Huber loss) on Magpie + fractions (cached)."""
    from bandgaps.models.boosting import BoostedRegressor

    task = TASKS["mp_gap"]

    def compute():
        frame = _task_frame("mp_gap")
        F = task_features(task, frame)

        def fit_predict(train, test, fold):
            tr, te = _positions(frame, train), _positions(frame, test)
            model = BoostedRegressor(sigma=False, random_state=SEED + fold, **MP_GAP_PARAMS)
            model.fit(F[tr], frame["target"].to_numpy()[tr])
            rounds = [int(b.best_iteration_ or b.n_estimators) for b in model.boosters_]
            return model.predict(F[te]), {"trees": rounds}

        return run_task(task, fit_predict, MP_GAP_ENTRY, data=frame, folds=folds)

    key = {"params": MP_GAP_PARAMS, "folds": folds, "seed": SEED}
    return _MATBENCH_MP_GAP(key, compute)


def layout(compositions, lookup: bool = False) -> np.ndarray:
    """The shared feature layout for any compositions: composition features, the PBE
    reference's two columns, and (with ``lookup``) the three MP lookup columns."""
    from bandgaps.features.composition import CompositionFeatures

    comps = list(compositions)
    F = CompositionFeatures(FEATURE_SET, cache=True).transform(comps)
    parts = [F, pbe_reference().transform_features(F)]
    if lookup:
        parts.append(mp_lookup().featurize_many(comps))
    return np.hstack(parts)


def committee_out_of_fold() -> pd.DataFrame:
    """The measured-gap committee's out-of-fold predictions of ``expt_gap`` on the official
    folds (from the benchmark run, not refitted): target, prediction, σ (the members' spread)
    and each row's distance to its fold's training rows (``bandgaps.models.domain``), in the
    task's row order."""
    from bandgaps.models.domain import ApplicabilityDomain

    frame, F = _inputs(TASKS["expt_gap"], True, COMMITTEE.lookup)
    oof = run_expt_gap(COMMITTEE).predictions.loc[frame.index]
    folds = oof["fold"].to_numpy()
    distance = np.empty(len(frame))
    comps = list(frame["composition"])
    for k in np.unique(folds):
        held = folds == k
        train_comps = [c for c, h in zip(comps, held, strict=True) if not h]
        distance[held] = ApplicabilityDomain(SEED).fit(F[~held], train_comps).distance(F[held])
    out = oof[["fold", "target", "prediction", "σ"]].copy()
    out.insert(0, "formula", frame["formula"].to_numpy())
    out["distance"] = distance
    return out


@dataclass
class MeasuredIntervals:
    """Constant vs adaptive conformal sets of the measured-gap committee, each fold's rows
    scored by a calibration fitted on the other four folds' out-of-fold predictions."""

    summary: pd.DataFrame  # method, level, group, coverage, mean width, n
    rho: dict[str, float]  # width–error ρ at 90 % per method
    chosen: list[str]  # the adaptive method each fold's calibration chose


def measured_interval_study(levels: tuple[float, ...] = (0.68, 0.9, 0.95)) -> MeasuredIntervals:
    """Coverage within metals and non-metals of the committee's conformal sets, fold by fold
    (no row calibrates its own set; nothing is refitted)."""
    from bandgaps.models.intervals import IntervalCalibrator, width_error_rho

    oof = committee_out_of_fold()
    y, pred, sigma = (oof[c].to_numpy(float) for c in ("target", "prediction", "σ"))
    band = (pred, pred - sigma, pred + sigma)
    folds = oof["fold"].to_numpy()
    parts, chosen = [], []
    for k in np.unique(folds):
        cal, held = folds != k, folds == k
        methods = {
            "constant (absolute)": IntervalCalibrator("absolute", groups="none"),
            "adaptive": IntervalCalibrator(random_state=SEED),
        }
        for name, c in methods.items():
            c.fit(y[cal], *(b[cal] for b in band))
            if name == "adaptive":
                chosen.append(c.label)
            for level in levels:
                lo, hi, includes = c.interval_set(*(b[held] for b in band), level)
                parts.append(
                    pd.DataFrame(
                        {
                            "method": name,
                            "level": level,
                            "metal": y[held] == 0,
                            "covered": c.covered(y[held], lo, hi, includes),
                            "width": hi - lo,
                            "|error|": np.abs(y[held] - pred[held]),
                        }
                    )
                )
    rows = pd.concat(parts, ignore_index=True)
    summary = []
    for (name, level), grp in rows.groupby(["method", "level"], sort=False):
        for group, mask in (
            ("all", np.ones(len(grp), bool)),
            ("metals", grp["metal"].to_numpy()),
            ("non-metals", ~grp["metal"].to_numpy()),
        ):
            summary.append(
                {
                    "method": name,
                    "level": level,
                    "group": group,
                    "coverage": float(grp["covered"].to_numpy()[mask].mean()),
                    "mean width": float(grp["width"].to_numpy()[mask].mean()),
                    "n": int(mask.sum()),
                }
            )
    at90 = rows[rows["level"] == 0.9]
    rho = {
        name: width_error_rho(g["width"], g["|error|"])
        for name, g in at90.groupby("method", sort=False)
    }
    return MeasuredIntervals(pd.DataFrame(summary), rho, chosen)


def measured_gap_model():
    """The study's measured-gap model (``MEASURED_ENTRY``) trained on every ``expt_gap`` row,
    the gates also on every ``expt_is_metal`` row: ``(MeasuredGapModel, counts)``, cached."""
    from bandgaps.models.transfer import MeasuredGapModel

    entry = next(e for e in (*EXPT_GAP_ENTRIES, COMMITTEE) if e.label == MEASURED_ENTRY)

    def compute():
        frame, F = _inputs(TASKS["expt_gap"], True, entry.lookup)
        mframe, mF = _inputs(TASKS["expt_is_metal"], True, entry.lookup)
        model = build_model(entry).fit(
            F, frame["target"].to_numpy(), mF, mframe["target"].to_numpy()
        )
        measured = MeasuredGapModel(
            pbe_reference(), FEATURE_SET, model, mp_lookup() if entry.lookup else None
        )
        if entry.label == COMMITTEE.label:
            # cross-conformal: the official folds' out-of-fold predictions calibrate the
            # all-rows model (trained on a quarter more rows, so slightly conservative)
            oof = committee_out_of_fold()
            measured.calibrate(
                frame["composition"],
                F,
                oof["target"],
                oof["prediction"],
                oof["σ"],
                oof["distance"],
            )
        counts = {"expt_gap rows": len(frame), "variant": entry.label}
        if entry.related_labels:
            counts["expt_is_metal rows"] = len(mframe)
        return measured, counts

    key = {"entry": entry.__dict__, "seed": SEED}
    return _MEASURED_GAP_MODEL(key, compute)


# ----------------------------------------------------------------------------------------------
# The study's summary tables


def ablation(runs: dict[str, BenchmarkRun], entries) -> pd.DataFrame:
    """Mean ± spread over the folds of each entry, with what it adds over the one before."""
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


# ----------------------------------------------------------------------------------------------
# Si–Ge with the system left out


@dataclass
class SiGeMeasured:
    """The measured-gap model's Si–Ge curve, trained without any Si–Ge row."""

    curve: pd.DataFrame  # x, formula, gap, metal probability, experiment 4.2 K / 300 K
    rows: pd.DataFrame  # the expt_gap Si–Ge rows: formula, x, target, far above the curve
    mae_4k: float
    mae_300k: float
    removed: dict[str, int]
    switches: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: MAE of the curve without the discretely switching columns, vs each curve temperature
    mae_smooth: dict[str, float] = field(default_factory=dict)
    entry: str = ""
    #: predictions at ``BRIEF_FORMULAS`` (Si, Ge, Si49Ge51)
    brief: pd.DataFrame = field(default_factory=pd.DataFrame)

    def sweep_model(self):
        """This curve as a ``(SiGeModel, FitResult)`` pair for the cross-model Si–Ge tables."""
        from bandgaps.analyses.fits import FitResult
        from bandgaps.analyses.si_ge import COMPOSITION, SiGeModel

        model = SiGeModel(
            "measured-gap model, Si–Ge left out", COMPOSITION, "experiment", "matbench expt_gap"
        )
        si_ge = self.curve[["formula"]].assign(mean=self.curve["gap"], std=np.nan)
        result = FitResult(
            kind="measured-gap",
            feature_set=FEATURE_SET,
            params={"variant": self.entry},
            n_train=0,
            predictions={"si-ge": si_ge, "brief": self.brief},
            fit_seconds=float("nan"),
        )
        return model, result


#: Columns that jump when the majority element changes (the ``mode`` statistics) or when a
#: charge-balanced formula becomes possible (``compound possible``).
def switching_labels() -> list[str]:
    from bandgaps.features.composition import CompositionFeatures

    labels = CompositionFeatures(FEATURE_SET, cache=False).feature_labels()
    return [label for label in labels if " mode " in label or label == "compound possible"]


def smooth_columns() -> np.ndarray:
    """Indices of the composition columns that do not switch discretely."""
    from bandgaps.features.composition import CompositionFeatures

    labels = CompositionFeatures(FEATURE_SET, cache=False).feature_labels()
    drop = set(switching_labels())
    return np.array([i for i, label in enumerate(labels) if label not in drop])


def _x_ge(comp) -> float:
    return float(comp.get_atomic_fraction("Ge"))


def si_ge_measured(n_grid: int = 101) -> SiGeMeasured:
    """Train the measured-gap model (``MEASURED_ENTRY``) on every ``expt_gap`` /
    ``expt_is_metal`` row not made only of Si and Ge, predict Si(1-x)Ge(x), and score the
    curve against Weber & Alonso at 4.2 K and brought to 300 K."""
    from pymatgen.core import Composition

    entry = next(e for e in (*EXPT_GAP_ENTRIES, COMMITTEE) if e.label == MEASURED_ENTRY)

    def compute():
        frame, F = _inputs(TASKS["expt_gap"], True, entry.lookup)
        mframe, mF = _inputs(TASKS["expt_is_metal"], True, entry.lookup)
        keep, mkeep = rows_without_system(frame), rows_without_system(mframe)
        y, my = frame["target"].to_numpy(), mframe["target"].to_numpy()
        model = build_model(entry).fit(F[keep], y[keep], mF[mkeep], my[mkeep])
        grid = si_ge_grid(n_grid)
        G = layout(grid["formula"], entry.lookup)
        grid["gap"] = model.predict(G)
        grid["metal probability"] = model.predict_metal_proba(G)
        # the same model without the composition columns that switch discretely across Si–Ge
        model_s = build_model(entry, columns=smooth_columns()).fit(
            F[keep], y[keep], mF[mkeep], my[mkeep]
        )
        grid["gap, no switching features"] = model_s.predict(G)
        brief = pd.DataFrame({"formula": list(BRIEF_FORMULAS)})
        brief["mean"] = model.predict(layout(brief["formula"], entry.lookup))
        brief["std"] = np.nan
        grid["experiment 4.2 K"] = curve_at(grid["x"], CURVE_T)
        grid["experiment 300 K"] = curve_at(grid["x"], ROOM_T)
        rows = frame.loc[~keep, ["formula", "target"]].copy()
        rows["x"] = [_x_ge(Composition(f)) for f in rows["formula"]]
        rows["above curve (eV)"] = rows["target"] - curve_at(rows["x"], ROOM_T)
        rows["far above"] = rows["above curve (eV)"] > FAR_ABOVE
        switches = feature_switches(
            lambda comps: model.predict(layout(comps, entry.lookup)),
            lambda comps: layout(comps, entry.lookup),
            entry.lookup,
        )

        def mae(col, t):
            return float(np.mean(np.abs(grid[col] - grid[f"experiment {t}"])))

        return SiGeMeasured(
            curve=grid,
            rows=rows.sort_values("x").reset_index(drop=True),
            mae_4k=mae("gap", "4.2 K"),
            mae_300k=mae("gap", "300 K"),
            removed={"expt_gap": int((~keep).sum()), "expt_is_metal": int((~mkeep).sum())},
            switches=switches,
            mae_smooth={t: mae("gap, no switching features", t) for t in ("4.2 K", "300 K")},
            entry=entry.label,
            brief=brief,
        )

    key = {"entry": entry.__dict__, "grid": n_grid, "seed": SEED}
    return _SI_GE_MEASURED(key, compute)


#: A Si–Ge row this far above the 300 K curve (eV) is not a fundamental-gap measurement.
FAR_ABOVE = 0.25


#: Near-identical compositions a new user tried, and their neighbours.
SWITCH_PAIRS = (("SiGe", "Si49Ge51"), ("Si51Ge49", "SiGe"), ("Si0.5Ge0.5", "Si0.505Ge0.495"))


def feature_switches(predict, features, lookup: bool) -> pd.DataFrame:
    """Columns that change discretely between near-identical Si–Ge compositions, and the
    predicted gaps of both (``predict`` and ``features`` take formulas)."""
    from bandgaps.features.composition import CompositionFeatures
    from bandgaps.models.transfer import LOOKUP_LABELS, TRANSFER_LABELS

    labels = CompositionFeatures(FEATURE_SET, cache=False).feature_labels()
    labels = np.array([*labels, *TRANSFER_LABELS, *(LOOKUP_LABELS if lookup else ())])
    rows = []
    for a, b in SWITCH_PAIRS:
        X = features([a, b])
        gaps = predict([a, b])
        X = np.nan_to_num(X, nan=-1.0)
        diff = np.abs(X[0] - X[1])
        scale = np.maximum((np.abs(X[0]) + np.abs(X[1])) / 2, 1e-12)
        # a change far larger than the ≤ 2 % change of composition that caused it
        jumps = [str(labels[i]) for i in np.flatnonzero(diff / scale > 0.5)]
        rows.append(
            {
                "a": a,
                "b": b,
                "gap a (eV)": float(gaps[0]),
                "gap b (eV)": float(gaps[1]),
                "columns that jump": ", ".join(jumps) or "none",
            }
        )
    return pd.DataFrame(rows)


__all__ = [
    "COMMITTEE",
    "CURVE_T",
    "EXPT_GAP_ENTRIES",
    "EXPT_IS_METAL_ENTRIES",
    "GATED_VARIANTS",
    "MEASURED_ENTRY",
    "ROOM_T",
    "VARSHNI",
    "Entry",
    "MeasuredIntervals",
    "SiGeMeasured",
    "ablation",
    "committee_out_of_fold",
    "curve_at",
    "layout",
    "measured_gap_model",
    "measured_interval_study",
    "pbe_reference",
    "rows_outside",
    "rows_without_system",
    "run_expt_gap",
    "run_expt_is_metal",
    "run_mp_gap",
    "si_ge_measured",
    "varshni_shift",
]
