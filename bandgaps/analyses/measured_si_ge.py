"""The Si–Ge sweep of the measured-gap model with the Si–Ge system left out of every training
table."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bandgaps.analyses.feature_switches import FAR_ABOVE, feature_switches
from bandgaps.analyses.matbench import TASKS
from bandgaps.analyses.measured_entries import (
    COMMITTEE,
    EXPT_GAP_ENTRIES,
    MEASURED_ENTRY,
    build_model,
)
from bandgaps.analyses.measured_inputs import FEATURE_SET, layout, rows_without_system, task_inputs
from bandgaps.analyses.si_ge import BRIEF_FORMULAS, si_ge_grid
from bandgaps.analyses.varshni import CURVE_T, ROOM_T, curve_at
from bandgaps.cache import Stage
from bandgaps.config import SEED

_SI_GE_MEASURED = Stage("si-ge-measured", __name__)


@dataclass
class SiGeMeasured:
    """The measured-gap model's Si–Ge curve, trained without any Si–Ge row.

    Attributes:
        curve: x, formula, gap, metal probability, the measured curves at 4.2 K and 300 K.
        rows: the ``expt_gap`` Si–Ge rows: formula, x, target.
        mae_4k: MAE against the 4.2 K curve.
        mae_300k: MAE against the 300 K curve.
        removed: rows left out, by reason.
        switches: columns that switch discretely along the sweep.
        mae_smooth: MAE without the switching columns, by curve temperature.
        entry: the entry trained.
        brief: predictions at Si, Ge and Si49Ge51.
    """

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
    curve against Weber & Alonso at 4.2 K and brought to 300 K.

    Args:
        n_grid: x values of the sweep.

    Returns:
        The ``SiGeMeasured`` curve.
    """
    from pymatgen.core import Composition

    entry = next(e for e in (*EXPT_GAP_ENTRIES, COMMITTEE) if e.label == MEASURED_ENTRY)

    def compute():
        frame, F = task_inputs(TASKS["expt_gap"], True, entry.lookup)
        mframe, mF = task_inputs(TASKS["expt_is_metal"], True, entry.lookup)
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


__all__ = ["SiGeMeasured", "si_ge_measured", "smooth_columns", "switching_labels"]
