"""Every measured gap there is: the named ``measured-gap`` model learns from all of Zhuo et al.'s
reports, not only from the compositions Matbench kept.

Matbench's ``expt_gap`` keeps one row per composition and drops the 318 compositions whose
reports spread by more than 0.1 eV, GaAs, GaN, ZnO, AlN, CdS and InP among them: the
materials users ask about first. The benchmark entries stay on Matbench's task. The product
model is trained on every composition of the source, its target the **median** of the
composition's reports (robust to a stray report), the reports' spread kept beside it.

Its gains and losses are measured on the compositions Matbench dropped, **held out by
composition**: they are split into five seeded groups, and each group is predicted by a
product model trained on everything else (its gap rows and its ``expt_is_metal`` label rows
both removed), beside the Matbench-only model. The Matbench-only model never saw their gaps;
its gate did see their metal labels, an advantage the comparison leaves to it. The held-out
predictions also join the official folds' out-of-fold predictions as the product model's
calibration rows, so its conformal sets know how noisy those compositions are.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bandgaps.analyses.matbench import TASKS
from bandgaps.analyses.measured_entries import COMMITTEE, build_model
from bandgaps.analyses.measured_inputs import (
    FEATURE_SET,
    composition_keys,
    layout,
    mp_lookup,
    pbe_reference,
    rows_outside,
    task_inputs,
)
from bandgaps.cache import Stage
from bandgaps.config import SEED

_REPORTS_HELD_OUT = Stage("measured-reports-held-out", __name__)
_PRODUCT_MODEL = Stage("measured-gap-product", __name__)

#: The catalog table of every report.
REPORTS = "zhuo2018-expt-gap-all-reports"
#: Groups the compositions Matbench dropped are split into, each predicted by a model that
#: did not see it.
HELD_OUT_GROUPS = 5
#: Materials named on the page: common semiconductors Matbench dropped.
NAMED_DROPPED = ("GaAs", "GaN", "ZnO", "AlN", "CdS", "InP")


@functools.cache
def report_rows() -> pd.DataFrame:
    """Every parsable report of Zhuo et al. (read once per process), with its composition's
    ``key`` (``composition_keys``); the unparsable ones are in ``attrs["dropped"]`` and on the
    Benchmarks page, not warned about. Callers must not modify the frame."""
    import warnings

    from bandgaps.data.tables import load_table

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*dropped unparsable formula")
        rows = load_table(REPORTS)
    return rows.assign(key=composition_keys(rows["composition"]))


@functools.cache
def report_table() -> pd.DataFrame:
    """One row per composition of Zhuo et al.'s reports: ``formula`` (its first report's),
    ``composition``, ``target`` (the median report), ``spread`` (highest − lowest report),
    ``reports`` and ``in matbench`` (whether Matbench's ``expt_gap`` kept it). Reports whose
    formula cannot be parsed are listed in ``attrs["dropped"]``; a Matbench row whose
    composition no other report has joins as one report (``attrs["from matbench"]``)."""
    rows = report_rows()
    dropped = list(rows.attrs.get("dropped", []))
    matbench = TASKS["expt_gap"].load()
    matbench = matbench.assign(key=composition_keys(matbench["composition"]))
    kept = set(matbench["key"])
    # a Matbench row whose composition no parsable report has (the typo report's) joins as
    # its own report, so that the product model learns from at least what Matbench holds
    missing = matbench[~matbench["key"].isin(set(rows["key"]))]
    rows = pd.concat([rows, missing[["formula", "composition", "target", "key"]]])
    grouped = rows.groupby("key", sort=False)
    table = pd.DataFrame(
        {
            "formula": grouped["formula"].first(),
            "composition": grouped["composition"].first(),
            "target": grouped["target"].median(),
            "spread": grouped["target"].max() - grouped["target"].min(),
            "reports": grouped["target"].size(),
        }
    )
    table["in matbench"] = [key in kept for key in table.index]
    table = table.reset_index(drop=True)
    table.attrs["dropped"] = dropped
    table.attrs["from matbench"] = list(missing["formula"])
    return table


@functools.cache
def _report_inputs() -> tuple[pd.DataFrame, np.ndarray]:
    """The report table and its feature layout (read and featurized once per process)."""
    table = report_table()
    return table, layout(table["composition"], lookup=COMMITTEE.lookup)


@functools.cache
def _metal_rows():
    """``expt_is_metal``'s rows and their layout (the gates' extra labels; built once per
    process, as every committee fit of these stages reads them)."""
    return task_inputs(TASKS["expt_is_metal"], True, COMMITTEE.lookup)


def _fit(
    table: pd.DataFrame,
    F: np.ndarray,
    rows: np.ndarray,
    seed: int = SEED,
    dropped: np.ndarray | None = None,
):
    """The committee fitted on ``rows`` of the report table (less the ``dropped`` ones), its
    gates also on the ``expt_is_metal`` rows whose composition is in none of the table's other
    (held-out) rows."""
    mframe, mF = _metal_rows()
    keep = rows_outside(mframe, table.iloc[~rows])
    model = build_model(COMMITTEE, seed=seed)
    if dropped is not None:
        rows = rows & ~dropped
    y = table["target"].to_numpy()[rows]
    return model.fit(F[rows], y, mF[keep], mframe["target"].to_numpy()[keep])


@dataclass
class HeldOut:
    """The compositions Matbench dropped, each predicted by a model that never saw it.

    Attributes:
        rows: formula, median report, spread, reports, group, the product model's prediction
            and σ (its members' spread), the Matbench-only model's prediction, and each row's
            distance to the training rows of its group's model.
        seconds: time to fit the five held-out models.
    """

    rows: pd.DataFrame
    seconds: float

    def mae(self, column: str) -> float:
        """Mean absolute error of ``column`` against the median report.

        Args:
            column: ``product`` or ``matbench-only``.

        Returns:
            The MAE (eV).
        """
        return float(np.mean(np.abs(self.rows[column] - self.rows["target"])))


def held_out_dropped() -> HeldOut:
    """Predict each composition Matbench dropped with a product model trained without its group
    (cached), beside the Matbench-only named model's prediction.

    Returns:
        The ``HeldOut`` rows.
    """
    import time

    from bandgaps.analyses.measured_model import measured_gap_model
    from bandgaps.models.domain import ApplicabilityDomain

    def compute() -> HeldOut:
        table, F = _report_inputs()
        dropped = np.flatnonzero(~table["in matbench"].to_numpy())
        order = np.random.default_rng(SEED).permutation(dropped)
        groups = np.full(len(table), -1)
        for g, part in enumerate(np.array_split(order, HELD_OUT_GROUPS)):
            groups[part] = g
        product = np.full(len(table), np.nan)
        sigma = np.full(len(table), np.nan)
        distance = np.full(len(table), np.nan)
        t0 = time.perf_counter()
        comps = list(table["composition"])
        for g in range(HELD_OUT_GROUPS):
            held = groups == g
            model = _fit(table, F, ~held, seed=SEED + g)
            gaps, spread = model.predict(F[held], return_std=True)
            product[held], sigma[held] = gaps, spread
            train = [c for c, h in zip(comps, held, strict=True) if not h]
            distance[held] = ApplicabilityDomain(SEED).fit(F[~held], train).distance(F[held])
        seconds = time.perf_counter() - t0
        baseline, _ = measured_gap_model()
        matbench_only = baseline.predict_features(F[dropped])
        rows = table.iloc[dropped][["formula", "target", "spread", "reports"]].copy()
        rows["group"] = groups[dropped]
        rows["product"] = product[dropped]
        rows["σ"] = sigma[dropped]
        rows["matbench-only"] = matbench_only
        rows["distance"] = distance[dropped]
        rows["composition"] = table["composition"].to_numpy()[dropped]
        return HeldOut(rows.reset_index(drop=True), seconds)

    key = {"groups": HELD_OUT_GROUPS, "seed": SEED, "entry": COMMITTEE.__dict__, **_data()}
    return _REPORTS_HELD_OUT(key, compute)


def product_model():
    """The named ``measured-gap`` model: the registered ``expt_gap`` entry
    (``expt-gap-cleaned``) trained on every composition of the reports (median target): the
    cleaning rule is decided on the whole table by its judges, and the committee is fitted on
    the rows kept, its gates also on every ``expt_is_metal`` row; calibrated on the official
    folds' out-of-fold predictions plus the held-out predictions of the compositions Matbench
    dropped (both of the committee without the rule): ``(MeasuredGapModel, counts, Cleaning)``,
    cached."""
    from bandgaps.analyses.expt_gap_cleaned import K_MAD, clean_table
    from bandgaps.analyses.measured_intervals import committee_out_of_fold
    from bandgaps.models.transfer import MeasuredGapModel

    def compute():
        table, F = _report_inputs()
        keep, cleaning = clean_table(table, F, metal=_metal_rows())
        model = _fit(table, F, np.ones(len(table), bool), dropped=~keep)
        measured = MeasuredGapModel(pbe_reference(), FEATURE_SET, model, mp_lookup())
        oof = committee_out_of_fold()
        held = held_out_dropped().rows
        measured.calibrate(
            table["composition"],
            F,
            np.concatenate([oof["target"], held["target"]]),
            np.concatenate([oof["prediction"], held["product"]]),
            np.concatenate([oof["σ"], held["σ"]]),
            np.concatenate([oof["distance"], held["distance"]]),
        )
        counts = {
            "compositions": len(table),
            "reports": int(table["reports"].sum()),
            "kept by matbench": int(table["in matbench"].sum()),
            "expt_is_metal rows": len(_metal_rows()[0]),
            "calibration rows": len(oof) + len(held),
            "variant": COMMITTEE.label,
            "target": "median report per composition",
            "entry": "expt-gap-cleaned",
            "flagged rows": len(cleaning.flagged),
            "dropped rows": int((~keep).sum()),
            "judges' MAE, every row": cleaning.calibration_mae["every row"],
            "judges' MAE, cleaned": cleaning.calibration_mae["cleaned"],
        }
        return measured, counts, cleaning

    key = {
        "entry": COMMITTEE.__dict__,
        "seed": SEED,
        "groups": HELD_OUT_GROUPS,
        "cleaning": K_MAD,
        **_data(),
    }
    return _PRODUCT_MODEL(key, compute)


def _data() -> dict[str, str]:
    """The checksums of the tables these stages read (part of their cache keys)."""
    from bandgaps.data import catalog

    names = (REPORTS, "matbench-expt-gap", "matbench-expt-is-metal", "matbench-mp-gap")
    return {name: catalog.get(name).sha256 for name in names}


def gains_table(held: HeldOut) -> pd.DataFrame:
    """The held-out comparison in one table: MAE against the median report, and how often
    each model is the closer one, over all dropped compositions and by how far their reports
    spread.

    Args:
        held: ``held_out_dropped()``.

    Returns:
        One row per group of compositions.
    """
    rows = held.rows
    bins = [("all dropped compositions", np.ones(len(rows), bool))]
    for low, high in ((0.1, 0.5), (0.5, 1.0), (1.0, np.inf)):
        mask = ((rows["spread"] > low) & (rows["spread"] <= high)).to_numpy()
        span = f"{low:g}–{high:g} eV" if np.isfinite(high) else f"> {low:g} eV"
        bins.append((f"reports spread {span}", mask))
    out = []
    for label, mask in bins:
        sub = rows[mask]
        if sub.empty:
            continue
        e_new = np.abs(sub["product"] - sub["target"])
        e_old = np.abs(sub["matbench-only"] - sub["target"])
        out.append(
            {
                "compositions": label,
                "n": len(sub),
                "MAE, all reports (eV)": float(e_new.mean()),
                "MAE, Matbench only (eV)": float(e_old.mean()),
                "all reports closer": float((e_new < e_old).mean()),
                "Matbench only closer": float((e_old < e_new).mean()),
            }
        )
    return pd.DataFrame(out)


__all__ = [
    "HELD_OUT_GROUPS",
    "NAMED_DROPPED",
    "REPORTS",
    "HeldOut",
    "gains_table",
    "held_out_dropped",
    "product_model",
    "report_rows",
    "report_table",
]
