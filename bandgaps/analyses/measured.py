"""Measured band gaps on the official Matbench protocol, and the Si–Ge sweep with Si–Ge left out.

Three tasks run through ``bandgaps.analyses.matbench.run_task`` (published folds, test rows
scored once):

* ``mp_gap`` — PBE gaps from composition (LightGBM on Magpie + element fractions; its own
  module, ``bandgaps.analyses.mp_gap``, which the composition studies read as well);
* ``expt_gap`` — measured gaps, as an ablation: composition alone, plus the PBE reference's two
  columns (``bandgaps.models.transfer.PBEReference``, trained on all of ``mp_gap``: another
  quantity, which the benchmark allows), plus the metal gate, plus ``expt_is_metal`` labels
  for the gate (only rows whose composition is in none of the fold's test rows);
* ``expt_is_metal`` — the same pieces as a classifier, with ``expt_gap`` labels (gap = 0)
  filtered the same way.

Every setting is fixed in ``bandgaps.models.transfer`` before any fold is seen; the number of
trees is chosen by early stopping on a share of each fold's training rows. Results are cached
by their inputs, so a warm build reads them.

The work is split into modules with one job each (so a cached stage's code is only what it
runs): ``measured_inputs`` (features, the PBE reference and MP lookup), ``measured_entries``
(entries and their runners), ``measured_intervals`` (the committee's conformal sets),
``measured_model`` (the named model's recipe), ``measured_si_ge`` (the Si–Ge sweep),
``feature_switches`` and ``varshni``. This module gathers their public names for the pages.
"""

from __future__ import annotations

from bandgaps.analyses.feature_switches import (
    FAR_ABOVE,
    SWITCH_PAIRS,
    feature_switches,
)
from bandgaps.analyses.measured_entries import (
    COMMITTEE,
    ENTRY_PARAMS,
    EXPT_GAP_ENTRIES,
    EXPT_IS_METAL_ENTRIES,
    GATED_VARIANTS,
    MEASURED_ENTRY,
    METAL_ENTRY,
    Entry,
    ablation,
    build_model,
    committee_run,
    run_expt_gap,
    run_expt_is_metal,
)
from bandgaps.analyses.measured_inputs import (
    FEATURE_SET,
    SI_GE,
    layout,
    mp_lookup,
    n_composition_features,
    pbe_reference,
    rows_outside,
    rows_without_system,
    task_features,
)
from bandgaps.analyses.measured_intervals import (
    MeasuredIntervals,
    committee_out_of_fold,
    measured_interval_study,
)
from bandgaps.analyses.measured_model import (
    measured_gap_model,
)
from bandgaps.analyses.measured_si_ge import (
    SiGeMeasured,
    si_ge_measured,
    smooth_columns,
    switching_labels,
)
from bandgaps.analyses.varshni import (
    CURVE_T,
    ROOM_T,
    VARSHNI,
    curve_at,
    varshni_shift,
)

__all__ = [
    "COMMITTEE",
    "CURVE_T",
    "ENTRY_PARAMS",
    "EXPT_GAP_ENTRIES",
    "EXPT_IS_METAL_ENTRIES",
    "FAR_ABOVE",
    "FEATURE_SET",
    "GATED_VARIANTS",
    "MEASURED_ENTRY",
    "METAL_ENTRY",
    "ROOM_T",
    "SI_GE",
    "SWITCH_PAIRS",
    "VARSHNI",
    "Entry",
    "MeasuredIntervals",
    "SiGeMeasured",
    "ablation",
    "build_model",
    "committee_out_of_fold",
    "committee_run",
    "curve_at",
    "feature_switches",
    "layout",
    "measured_gap_model",
    "measured_interval_study",
    "mp_lookup",
    "n_composition_features",
    "pbe_reference",
    "rows_outside",
    "rows_without_system",
    "run_expt_gap",
    "run_expt_is_metal",
    "si_ge_measured",
    "smooth_columns",
    "switching_labels",
    "task_features",
    "varshni_shift",
]
