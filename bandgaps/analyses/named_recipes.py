"""The recipes of the study's named models (``bandgaps.models.named``): each trains a model
from the catalogued data with the study's own analyses and returns it with its card.

The models layer is handed these by name and imports them only to train; a named model file
records the code of this module's closure, so an edit that changes what a recipe runs makes
the file stale, and a docstring does not.
"""

from __future__ import annotations

from bandgaps.models.named import card


def build_pbe_gap():
    """``pbe-gap``: the registered ``mp_gap`` entry ``mp-gap-gated``'s procedure (a metal gate
    before a Huber regressor, the gate and its threshold chosen on calibration rows) with every
    row of ``mp_gap`` as the training rows."""
    from bandgaps.analyses.mp_gap_gated import booster_settings, pbe_gap_product

    model, data = pbe_gap_product()
    data = {"source": "matbench-mp-gap", "fidelity": "PBE", "entry": "mp-gap-gated", **data}
    return model, card("pbe-gap", model.n_train_, data, booster_settings())


def build_measured_gap():
    """``measured-gap``: the study's measured-gap committee on every composition of Zhuo et
    al.'s reports (the median report of each), not only those Matbench kept."""
    from bandgaps.analyses.measured_reports import REPORTS, product_model

    model, counts, _ = product_model()
    data = {
        "source": f"{REPORTS} (median per composition) + matbench-expt-is-metal (gate labels)",
        **counts,
        "transfer": "pbe-gap (matbench-mp-gap)",
        "fidelity": "experiment",
    }
    params = {"variant": counts["variant"], "target": counts["target"]}
    return model, card("measured-gap", model.model.n_train_, data, params)


__all__ = ["build_measured_gap", "build_pbe_gap"]
