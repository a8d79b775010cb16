"""How sure is a measured gap? Cross-conformal intervals of the committee from its out-of-fold
predictions on the official ``expt_gap`` folds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bandgaps.analyses.matbench import TASKS
from bandgaps.analyses.measured_entries import COMMITTEE, run_expt_gap
from bandgaps.analyses.measured_inputs import task_inputs
from bandgaps.config import SEED


def committee_out_of_fold() -> pd.DataFrame:
    """The measured-gap committee's out-of-fold predictions of ``expt_gap`` on the official
    folds (from the benchmark run, not refitted): target, prediction, σ (the members' spread)
    and each row's distance to its fold's training rows (``bandgaps.models.domain``), in the
    task's row order."""
    from bandgaps.models.domain import ApplicabilityDomain

    frame, F = task_inputs(TASKS["expt_gap"], True, COMMITTEE.lookup)
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
    scored by a calibration fitted on the other four folds' out-of-fold predictions.

    Attributes:
        summary: method, level, group, coverage, mean width, n.
        rho: the width–error ρ at 90 % per method.
        chosen: the adaptive method each fold's calibration chose.
    """

    summary: pd.DataFrame  # method, level, group, coverage, mean width, n
    rho: dict[str, float]  # width–error ρ at 90 % per method
    chosen: list[str]  # the adaptive method each fold's calibration chose


def measured_interval_study(levels: tuple[float, ...] = (0.68, 0.9, 0.95)) -> MeasuredIntervals:
    """Coverage within metals and non-metals of the committee's conformal sets, fold by fold
    (no row calibrates its own set; nothing is refitted).

    Args:
        levels: the coverages.

    Returns:
        The ``MeasuredIntervals``.
    """
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


__all__ = ["MeasuredIntervals", "committee_out_of_fold", "measured_interval_study"]
