"""The Matbench-only measured-gap model: the committee fitted on every ``expt_gap`` row, its
gates also on every ``expt_is_metal`` row, calibrated from the out-of-fold predictions. The
named ``measured-gap`` model learns from every report instead
(``bandgaps.analyses.measured_reports``); this one is what it is measured against.
"""

from __future__ import annotations

from bandgaps.analyses.matbench import TASKS
from bandgaps.analyses.measured_entries import (
    COMMITTEE,
    EXPT_GAP_ENTRIES,
    MEASURED_ENTRY,
    build_model,
)
from bandgaps.analyses.measured_inputs import FEATURE_SET, mp_lookup, pbe_reference, task_inputs
from bandgaps.analyses.measured_intervals import committee_out_of_fold
from bandgaps.cache import Stage
from bandgaps.config import SEED

_MEASURED_GAP_MODEL = Stage("measured-gap-model", __name__)


def measured_gap_model():
    """The study's measured-gap model (``MEASURED_ENTRY``) trained on every ``expt_gap`` row,
    the gates also on every ``expt_is_metal`` row: ``(MeasuredGapModel, counts)``, cached."""
    from bandgaps.models.transfer import MeasuredGapModel

    entry = next(e for e in (*EXPT_GAP_ENTRIES, COMMITTEE) if e.label == MEASURED_ENTRY)

    def compute():
        frame, F = task_inputs(TASKS["expt_gap"], True, entry.lookup)
        mframe, mF = task_inputs(TASKS["expt_is_metal"], True, entry.lookup)
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


__all__ = ["measured_gap_model"]
