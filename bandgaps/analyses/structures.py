"""Structure-model studies: the pretrained MEGNet models on the MP snapshot, a MEGNet trained
from scratch, and predictions across Si–Ge supercells.

Every result is cached on disk keyed by what determines it (structures, models, settings), so
a warm site build reads instead of recomputing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bandgaps.analyses.common import SEED, regression_metrics
from bandgaps.analyses.si_ge import (
    DISORDERED_CELL,
    ORDERED_CELLS,
    SiGeModel,
    mae_vs_experiment,
    weber_alonso_gap,
)
from bandgaps.cache import Stage
from bandgaps.data.tables import SNAPSHOT, structure_table
from bandgaps.models.megnet import FAMILIES, TRAINED_ON, PretrainedEnsemble, converter_key
from bandgaps.models.megnet_training import structures_digest

_MEGNET_SNAPSHOT = Stage("megnet-snapshot", __name__)
_MEGNET_TRAINING = Stage("megnet-training", __name__)
_SUPERCELL_SWEEP = Stage("supercell-sweep", __name__)


#: Labels of the two models compared on the scratch run's held-out structures.
SCRATCH_LABEL = "MEGNet trained here"
PRETRAINED_LABEL = "MEGNet 2018 (pretrained)"


def _snapshot_sha() -> str:
    """Checksum of the verified MP snapshot: the cache key, without unpickling structures."""
    from bandgaps.data import catalog

    catalog.verify(SNAPSHOT)
    return catalog.get(SNAPSHOT).sha256


def pretrained_on_snapshot() -> pd.DataFrame:
    """2018 regressor and classifier predictions for every structure of the MP snapshot
    (structures with isolated atoms dropped: a graph needs neighbours)."""

    def compute() -> pd.DataFrame:
        mp = structure_table()
        structures = list(mp["structure"])
        reg = PretrainedEnsemble("megnet-2018")
        clf = PretrainedEnsemble("megnet-2018-classifier")
        t0 = time.perf_counter()
        inputs = reg.graph_inputs(structures)
        gap = reg.predict_members(structures, inputs=inputs).mean(axis=0)
        t_reg = time.perf_counter() - t0
        t0 = time.perf_counter()
        # the classifier shares the regressor's graphs when its converter is the same
        shared = all(converter_key(m) in inputs for m in clf.members)
        p_nonmetal = clf.predict_members(structures, inputs=inputs if shared else None)
        p_nonmetal = p_nonmetal.mean(axis=0)
        t_clf = time.perf_counter() - t0
        out = pd.DataFrame(
            {
                "formula": mp["formula"].to_numpy(),
                "band_gap": mp["band_gap"].to_numpy(),
                "megnet-2018": gap,
                "p(non-metal)": p_nonmetal,
            },
            index=mp.index,
        )
        out.attrs["seconds"] = {"regressor": t_reg, "classifier": t_clf}
        return out

    families = ["megnet-2018", "megnet-2018-classifier"]
    key = {
        "snapshot": _snapshot_sha(),
        "models": families,
        "weights": {f: FAMILIES[f].checksums() for f in families},
    }
    return _MEGNET_SNAPSHOT(key, compute)


def pretrained_metrics(pred: pd.DataFrame) -> pd.DataFrame:
    """The 2018 model scored on the snapshot: non-metals alone, and all rows with the
    classifier in front (a predicted metal gets gap 0).

    Args:
        pred: the snapshot's predictions.

    Returns:
        One row per row set: MAE and more.
    """
    nm = pred["band_gap"] > 0
    gated = np.where(pred["p(non-metal)"] >= 0.5, np.clip(pred["megnet-2018"], 0, None), 0.0)
    rows = [
        {
            "evaluation": "regressor on non-metals",
            **regression_metrics(pred.loc[nm, "band_gap"], pred.loc[nm, "megnet-2018"]),
        },
        {
            "evaluation": "classifier → regressor on all rows",
            **regression_metrics(pred["band_gap"], gated),
        },
    ]
    return pd.DataFrame(rows)


def classifier_accuracy(pred: pd.DataFrame) -> dict[str, float]:
    """Share of metals and of non-metals the 2018 classifier labels correctly.

    Args:
        pred: the snapshot's predictions (with the classifier's).

    Returns:
        ``{"metals": share, "non-metals": share}``.
    """
    nm = (pred["band_gap"] > 0).to_numpy()
    says_nm = (pred["p(non-metal)"] >= 0.5).to_numpy()
    return {"metals": float(np.mean(~says_nm[~nm])), "non-metals": float(np.mean(says_nm[nm]))}


# ----------------------------------------------------------------------------------------------
# Training from scratch.


@dataclass
class TrainingRun:
    """A MEGNet trained from scratch on the snapshot's non-metals, and its comparison."""

    params: dict
    sizes: dict[str, int]
    history: pd.DataFrame
    test: pd.DataFrame  # formula, band_gap, scratch, megnet-2018
    metrics: pd.DataFrame
    fit_seconds: float
    graph_seconds: float
    best_epoch: int
    extra: dict = field(default_factory=dict)


def train_from_scratch(
    epochs: int = 12,
    patience: int = 5,
    max_rows: int | None = None,
    **params,
) -> TrainingRun:
    """Train MEGNet on the snapshot's non-metals (80:10:10 split, seed 42), score test rows.

    Args:
        epochs: the most epochs.
        patience: early-stopping patience.
        max_rows: at most this many rows (tests).
        **params: ``MEGNetRegressor``'s other parameters.

    Returns:
        The ``TrainingRun``: learning curve, test MAE, predictions.
    """
    from bandgaps.models.megnet_training import MEGNetRegressor

    settings = {"epochs": epochs, "patience": patience, "random_state": SEED, **params}

    def compute() -> TrainingRun:
        mp = structure_table()
        nm = mp[mp["band_gap"] > 0].sample(frac=1.0, random_state=SEED)
        if max_rows is not None:
            nm = nm.iloc[:max_rows]
        n_test = n_val = max(1, len(nm) // 10)
        test = nm.iloc[:n_test]
        val = nm.iloc[n_test : n_test + n_val]
        train = nm.iloc[n_test + n_val :]
        model = MEGNetRegressor(**settings)
        t0 = time.perf_counter()
        model.graphs(list(train["structure"]))
        graph_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.fit(
            list(train["structure"]),
            train["band_gap"],
            validation=(list(val["structure"]), val["band_gap"]),
        )
        fit_seconds = time.perf_counter() - t0
        scratch = model.predict(list(test["structure"]))
        pretrained = PretrainedEnsemble("megnet-2018").predict(list(test["structure"]))
        table = pd.DataFrame(
            {
                "formula": test["formula"].to_numpy(),
                "band_gap": test["band_gap"].to_numpy(),
                "scratch": scratch,
                "megnet-2018": pretrained,
            }
        )
        metrics = pd.DataFrame(
            [
                {"model": SCRATCH_LABEL, **regression_metrics(table["band_gap"], scratch)},
                {
                    "model": PRETRAINED_LABEL,
                    **regression_metrics(table["band_gap"], pretrained),
                },
            ]
        )
        return TrainingRun(
            params=model.get_params(),
            sizes={"train": len(train), "validation": len(val), "test": len(test)},
            history=pd.DataFrame(model.history_),
            test=table,
            metrics=metrics,
            fit_seconds=fit_seconds,
            graph_seconds=graph_seconds,
            best_epoch=model.best_epoch_,
        )

    key = {
        "snapshot": _snapshot_sha(),
        "max_rows": max_rows,
        "settings": settings,
        "weights": FAMILIES["megnet-2018"].checksums(),  # the comparison column
    }
    return _MEGNET_TRAINING(key, compute)


# ----------------------------------------------------------------------------------------------
# Si–Ge supercells.

#: (label, family, fidelity) of every model applied to the ordered cells.
SWEEP_MODELS = (
    ("MEGNet 2018 (PBE)", "megnet-2018", None),
    ("MF MEGNet, PBE fidelity", "megnet-mf", "pbe"),
    ("MF MEGNet, experimental fidelity", "megnet-mf", "exp"),
)
#: Fidelities of the disordered-cell curve.
DISORDER_FIDELITIES = ("pbe", "exp")
_TRAINING_DATA = {
    "megnet-2018": "MP 2018.6.1",
    "megnet-mf": "PBE, GLLB-SC, HSE and measured gaps",
    "megnet-mf-disorder": "PBE, GLLB-SC, HSE and measured gaps",
}


def sweep_model_identities() -> dict[str, SiGeModel]:
    """Every structure model of the sweep by label, with its input and what it learned."""
    out = {
        label: SiGeModel(label, ORDERED_CELLS, TRAINED_ON[fid], _TRAINING_DATA[family])
        for label, family, fid in SWEEP_MODELS
    }
    for fid in DISORDER_FIDELITIES:
        label = disorder_label(fid)
        out[label] = SiGeModel(
            label, DISORDERED_CELL, TRAINED_ON[fid], _TRAINING_DATA["megnet-mf-disorder"]
        )
    return out


@dataclass
class SupercellSweep:
    """Predictions of every model on every ordered cell, and the disordered-cell curve."""

    cells: pd.DataFrame  # method, x, n_atoms, seed, formula (no structures)
    predictions: pd.DataFrame  # long: cell, model, mean, std
    disorder: pd.DataFrame  # x, fidelity, mean, std
    timings: dict[str, float]


def supercell_sweep(
    max_atoms: int = 10,
    sqs_steps: int = 10_000,
    random_sizes: tuple[int, ...] = (64, 216),
    random_seeds: int = 5,
    disorder_points: int = 101,
    scale: str = "vegard",
) -> SupercellSweep:
    """Build the enumerated, SQS and random cells and predict them with every model.

    Args:
        max_atoms: the largest enumerated cell.
        sqs_steps: annealing steps per SQS.
        random_sizes: random cells' sizes (8·n³ atoms).
        random_seeds: random cells per size and x.
        disorder_points: x values of the disordered cell.
        scale: ``vegard`` or ``none``.

    Returns:
        The ``SupercellSweep``.
    """
    from bandgaps.data import catalog
    from bandgaps.structures import alloys

    catalog.verify("si-mp-149")
    settings = {
        "max_atoms": max_atoms,
        "sqs_steps": sqs_steps,
        "random_sizes": list(random_sizes),
        "random_seeds": random_seeds,
        "disorder_points": disorder_points,
        "scale": scale,
        "seed": SEED,
        "models": [list(m) for m in SWEEP_MODELS],
        "disorder fidelities": list(DISORDER_FIDELITIES),
        "weights": {f: FAMILIES[f].checksums() for f in ("megnet-2018", "megnet-mf")}
        | {"megnet-mf-disorder": FAMILIES["megnet-mf-disorder"].checksums()},
        "si-mp-149": catalog.get("si-mp-149").sha256,
    }

    def compute() -> SupercellSweep:
        timings = {}
        t0 = time.perf_counter()
        enum = alloys.enumerated_cells(max_atoms, scale=scale)
        timings["enumeration"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        sqs = alloys.sqs_cells(n_steps=sqs_steps, scale=scale, random_state=SEED)
        timings["sqs"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        rnd = alloys.random_cells(
            sizes=random_sizes, n_seeds=random_seeds, scale=scale, random_state=SEED
        )
        timings["random cells"] = time.perf_counter() - t0
        cells = pd.concat([enum, sqs, rnd], ignore_index=True)
        structures = list(cells["structure"])
        rows = []
        n_pred = 0
        t_pred = time.perf_counter()
        inputs_by_family: dict[str, dict] = {}
        ensembles: dict[str, PretrainedEnsemble] = {}  # one per family: traced functions reused
        for label, family, fidelity in SWEEP_MODELS:
            ens = ensembles.setdefault(family, PretrainedEnsemble(family))
            if family not in inputs_by_family:
                t0 = time.perf_counter()
                inputs_by_family[family] = ens.graph_inputs(structures)
                timings[f"graphs ({family})"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            members = ens.predict_members(structures, fidelity, inputs=inputs_by_family[family])
            timings[f"predict ({label})"] = time.perf_counter() - t0
            n_pred += members.size
            rows.append(
                pd.DataFrame(
                    {
                        "cell": np.arange(len(cells)),
                        "model": label,
                        "mean": members.mean(axis=0),
                        "std": members.std(axis=0),
                    }
                )
            )
        timings["all predictions"] = time.perf_counter() - t_pred
        timings["member predictions"] = float(n_pred)
        dis = PretrainedEnsemble("megnet-mf-disorder")
        xs = np.linspace(0, 1, disorder_points)
        dcells = [alloys.disordered_cell(x, scale=scale) for x in xs]
        drows = []
        t0 = time.perf_counter()
        dinputs = dis.graph_inputs(dcells)
        for fid in DISORDER_FIDELITIES:
            members = dis.predict_members(dcells, fid, inputs=dinputs)
            drows.append(
                pd.DataFrame(
                    {"x": xs, "fidelity": fid, "mean": members.mean(0), "std": members.std(0)}
                )
            )
        timings["disorder"] = time.perf_counter() - t0
        return SupercellSweep(
            cells=cells.drop(columns="structure"),
            predictions=pd.concat(rows, ignore_index=True),
            disorder=pd.concat(drows, ignore_index=True),
            timings=timings,
        )

    return _SUPERCELL_SWEEP(settings, compute)


def sweep_long(sweep: SupercellSweep) -> pd.DataFrame:
    """Predictions joined with the cells they belong to."""
    return sweep.predictions.merge(sweep.cells.reset_index(names="cell"), on="cell", how="left")


def sweep_statistics(sweep: SupercellSweep) -> pd.DataFrame:
    """Per model, method and x: number of cells, mean, spread (std, min, max) of predictions.

    Args:
        sweep: the supercell sweep.

    Returns:
        One row per model, method and x.
    """
    long = sweep_long(sweep)
    long["x"] = long["x"].round(3)
    grouped = long.groupby(["model", "method", "x"])["mean"]
    out = grouped.agg(["count", "mean", "std", "min", "max"]).reset_index()
    out["experiment"] = weber_alonso_gap(out["x"])
    return out


def ordered_curves(sweep: SupercellSweep) -> pd.DataFrame:
    """Each model's mean prediction over all ordered cells at each x (model, x, mean)."""
    long = sweep_long(sweep)
    long["x"] = long["x"].round(3)
    return long.groupby(["model", "x"], sort=False)["mean"].mean().reset_index()


def disorder_label(fidelity: str) -> str:
    """Name of the disordered-cell curve at one fidelity, as tables and plots show it."""
    return f"MF MEGNet disordered cell, {fidelity} fidelity"


def sweep_mae(sweep: SupercellSweep) -> pd.DataFrame:
    """MAE of each model's mean curve (averaged over all ordered cells at each x, and over the
    disordered-cell curve) against the experimental curve.

    Args:
        sweep: the supercell sweep.

    Returns:
        One row per model and curve temperature.
    """
    cells = sweep_long(sweep).groupby("model", sort=False).size()
    rows = []
    for model, curve in ordered_curves(sweep).groupby("model", sort=False):
        rows.append(
            {
                "model": model,
                "cells": int(cells[model]),
                "x values": len(curve),
                "MAE vs experiment (eV)": mae_vs_experiment(curve["x"], curve["mean"]),
            }
        )
    for fid, grp in sweep.disorder.groupby("fidelity", sort=False):
        rows.append(
            {
                "model": disorder_label(fid),
                "cells": len(grp),
                "x values": len(grp),
                "MAE vs experiment (eV)": mae_vs_experiment(grp["x"], grp["mean"]),
            }
        )
    return pd.DataFrame(rows)


__all__ = [
    "FAMILIES",
    "classifier_accuracy",
    "pretrained_metrics",
    "pretrained_on_snapshot",
    "structures_digest",
    "supercell_sweep",
    "sweep_mae",
    "sweep_model_identities",
    "sweep_statistics",
    "train_from_scratch",
]
