"""The discussion's tables: our results beside the published figures, and every model's verdict
on Si–Ge, assembled from the same cached computations the other pages show.

Each table is a pure function of the results handed to it, so the discussion cannot drift from
the pages: change the data or a model and its numbers change with them. ``collect`` runs
(or reads from the cache) every study the discussion draws on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bandgaps.analyses import composition as C
from bandgaps.analyses import kspacing as K
from bandgaps.analyses import structures as S
from bandgaps.analyses.mp_gap import MpGapStudy, mp_gap_study
from bandgaps.analyses.si_ge import ALLOY_X, COMPOSITION, experiment_row, mae_vs_experiment
from bandgaps.analyses.targets import PUBLISHED

#: Row keys of ``composition_benchmarks`` (pages look rows up by these, never by position).
REF_ALL, REF_NONMETAL = "reference, all rows", "reference, non-metals"
#: Published composition-only networks on matbench mp_gap, compared with our mp_gap model.
PUBLISHED_NETWORKS = ("CrabNet", "Finder (composition)")
#: Row keys of ``structure_benchmarks``.
MEGNET_SNAPSHOT, MEGNET_HELD_OUT, MEGNET_SCRATCH = (
    "pretrained, snapshot",
    "pretrained, held-out",
    "scratch, held-out",
)


@dataclass
class StudyResults:
    """Everything the discussion draws on, each computed by its own (cached) analysis.

    Attributes:
        reference: the reference protocol.
        matbench: the ``mp_gap`` study.
        megnet: the pretrained MEGNet metrics.
        scratch: the MEGNet trained here.
        sweep: the supercell sweep.
        kspacing: the k-point study.
    """

    reference: C.ReferenceProtocol
    matbench: MpGapStudy
    megnet: pd.DataFrame
    scratch: S.TrainingRun
    sweep: S.SupercellSweep
    kspacing: K.KSpacingStudy


def collect() -> StudyResults:
    """Run every study of the site with its default (published) settings, from the cache when
    it holds them."""
    return StudyResults(
        reference=C.reference_protocol(),
        matbench=mp_gap_study(),
        megnet=S.pretrained_on_snapshot(),
        scratch=S.train_from_scratch(),
        sweep=S.supercell_sweep(),
        kspacing=K.kspacing_study(),
    )


def composition_benchmarks(ref: C.ReferenceProtocol, study: MpGapStudy) -> pd.DataFrame:
    """Our composition-model MAEs beside the published ones on the same (or the parent) data.

    One row per comparison: the setting, our model and MAE, and the published model and MAE.

    Args:
        ref: the reference protocol.
        study: the ``mp_gap`` study.

    Returns:
        One row per comparison.
    """
    pub_all = C.REFERENCE_FIGURES[PUBLISHED["reference-rf-all"].label]
    pub_nm = C.REFERENCE_FIGURES[PUBLISHED["reference-rf-nonmetal"].label]
    published = C.matbench_published()
    m = ref.metrics.set_index(["trained on", "scored on"])["MAE"]
    rows = [
        (
            REF_ALL,
            "MP band-structure gaps, all test rows",
            "RF + Magpie",
            m.loc[("all", "all")],
            "reference solution RF + Magpie (75,067 entries)",
            pub_all["MAE"],
        ),
        (
            REF_NONMETAL,
            "MP band-structure gaps, non-metal test rows",
            "RF + Magpie on non-metals",
            m.loc[("non-metal", "non-metal")],
            "reference solution RF, non-metal model",
            pub_nm["MAE"],
        ),
    ]
    for name in PUBLISHED_NETWORKS:
        rows.append(
            (
                f"matbench {name}",
                "matbench mp_gap, 5 official folds",
                study.label,
                study.run.mean(),
                name,
                published[name],
            )
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "key",
            "benchmark",
            "our model",
            "our MAE (eV)",
            "published",
            "published MAE (eV)",
        ],
    ).set_index("key")
    out["difference (eV)"] = out["our MAE (eV)"] - out["published MAE (eV)"]
    out["published network"] = [
        k.removeprefix("matbench ") in PUBLISHED_NETWORKS for k in out.index
    ]
    return out


def structure_benchmarks(megnet: pd.DataFrame, scratch: S.TrainingRun) -> pd.DataFrame:
    """The 2018 MEGNet model and the one trained here, beside the paper's MAE.

    Args:
        megnet: the pretrained model's metrics.
        scratch: the MEGNet trained here.

    Returns:
        One row per comparison.
    """
    metrics = S.pretrained_metrics(megnet).set_index("evaluation")
    paper_label, paper = PUBLISHED["megnet-2018"].label, PUBLISHED["megnet-2018"].value
    sm = scratch.metrics.set_index("model")["MAE"]
    n_nonmetals = int(metrics.loc["regressor on non-metals", "n"])
    rows = [
        {
            "key": MEGNET_SNAPSHOT,
            "model": "MEGNet 2018, pretrained",
            "scored on": f"snapshot non-metals ({n_nonmetals:,})",
            "our MAE (eV)": metrics.loc["regressor on non-metals", "MAE"],
            "published MAE (eV)": paper,
        }
    ]
    for model, mae in sm.items():
        pretrained = model == S.PRETRAINED_LABEL
        rows.append(
            {
                "key": MEGNET_HELD_OUT if pretrained else MEGNET_SCRATCH,
                "model": model,
                "scored on": f"held-out non-metals ({scratch.sizes['test']:,})",
                "our MAE (eV)": mae,
                "published MAE (eV)": paper if pretrained else np.nan,
            }
        )
    out = pd.DataFrame(rows).set_index("key")
    out.attrs["published"] = paper_label
    return out


def _at(curve: pd.DataFrame, x: float) -> float:
    """Value of a (x, mean) curve at the grid point nearest to ``x``."""
    return float(curve.loc[(curve["x"] - x).abs().idxmin(), "mean"])


def si_ge_curves(
    composition: dict[C.SiGeModel, C.FitResult], sweep: S.SupercellSweep
) -> pd.DataFrame:
    """Every model's predicted gap against x, as one long table (input, model, trained on,
    training data, x, mean).

    Ordered-cell curves average all cells at each x; the disordered cell and the composition
    models give one value per x.

    Args:
        composition: the composition models' fits.
        sweep: the supercell sweep.

    Returns:
        The long table.
    """
    identity = S.sweep_model_identities()
    structure = pd.concat(
        [
            S.ordered_curves(sweep),
            sweep.disorder.assign(model=sweep.disorder["fidelity"].map(S.disorder_label))[
                ["model", "x", "mean"]
            ],
        ],
        ignore_index=True,
    )
    structure["input"] = structure["model"].map(lambda m: identity[m].input)
    structure["trained on"] = structure["model"].map(lambda m: identity[m].trained_on)
    structure["training data"] = structure["model"].map(lambda m: identity[m].training_data)
    comp = C.sweep_frame(composition).assign(input=COMPOSITION)
    cols = ["input", "model", "trained on", "training data", "x", "mean"]
    return pd.concat([comp[cols], structure[cols]], ignore_index=True)


def si_ge_verdicts(
    composition: dict[C.SiGeModel, C.FitResult],
    sweep: S.SupercellSweep,
    alloy_x: float = ALLOY_X,
) -> pd.DataFrame:
    """Every model's Si, Ge and near-equiatomic alloy gap, whether the alloy falls between the
    ends (the brief's expectation), and the MAE of its curve against experiment.

    Composition models are read at Si, Ge and Si49Ge51 (x = 0.51); structure models at the
    points of their curve (``si_ge_curves``) nearest x = 0, 1 and ``alloy_x``.

    Args:
        composition: the composition models' fits.
        sweep: the supercell sweep.
        alloy_x: the alloy's Ge fraction.

    Returns:
        One row per model.
    """
    mae = pd.concat(
        [
            C.sweep_summary(composition).set_index("model")["MAE vs experiment (eV)"],
            S.sweep_mae(sweep).set_index("model")["MAE vs experiment (eV)"],
        ]
    )
    rows = []
    for (kind, model, trained, data), curve in si_ge_curves(composition, sweep).groupby(
        ["input", "model", "trained on", "training data"], sort=False
    ):
        rows.append(
            {
                "input": kind,
                "model": model,
                "trained on": trained,
                "training data": data,
                "Si (eV)": _at(curve, 0.0),
                "Ge (eV)": _at(curve, 1.0),
                "alloy (eV)": _at(curve, alloy_x),
                "MAE vs experiment (eV)": float(mae.loc[model]),
            }
        )
    out = pd.DataFrame(rows)
    lo = out[["Si (eV)", "Ge (eV)"]].min(axis=1)
    hi = out[["Si (eV)", "Ge (eV)"]].max(axis=1)
    out.insert(7, "alloy between Si and Ge", (out["alloy (eV)"] >= lo) & (out["alloy (eV)"] <= hi))
    return out


def first_step(curves: pd.DataFrame, input: str = COMPOSITION) -> float:
    """Largest change of a model's curve between its first two x values (the jump away from
    the pure element), over the models of one input kind.

    Args:
        curves: ``si_ge_curves``'s table.
        input: ``composition`` or ``structure`` models.

    Returns:
        The largest first step (eV).
    """
    jumps = []
    for _, c in curves[curves["input"] == input].groupby("model", sort=False):
        c = c.sort_values("x")
        jumps.append(abs(float(c["mean"].to_numpy()[1] - c["mean"].to_numpy()[0])))
    return max(jumps)


def arrangement_spread(sweep: S.SupercellSweep) -> pd.DataFrame:
    """Per ordered-cell model: how much the arrangement of Si and Ge moves the prediction at
    fixed x (std over cells, median and largest over x) against how far the mean curve is from
    experiment (mean absolute offset).

    Args:
        sweep: the supercell sweep.

    Returns:
        One row per model.
    """
    identity = S.sweep_model_identities()
    long = S.sweep_long(sweep)
    long["x"] = long["x"].round(3)
    inner = long[(long["x"] > 0) & (long["x"] < 1)]
    rows = []
    for model, grp in inner.groupby("model", sort=False):
        per_x = grp.groupby("x")["mean"].agg(["std", "mean", "size"])
        per_x = per_x[per_x["size"] > 1]
        rows.append(
            {
                "model": model,
                "trained on": identity[model].trained_on,
                "median spread over cells (eV)": float(per_x["std"].median()),
                "largest spread over cells (eV)": float(per_x["std"].max()),
                "mean offset from experiment (eV)": mae_vs_experiment(per_x.index, per_x["mean"]),
            }
        )
    return pd.DataFrame(rows)


def kspacing_benchmarks(study: K.KSpacingStudy) -> pd.DataFrame:
    """Our k-point-length test MAEs beside the k-spacing study's and the leaderboard's.

    Args:
        study: the k-point study.

    Returns:
        One row per comparison.
    """
    rows = [
        {
            "model": f"{r['model']} (ours)",
            "ours": True,
            "baseline": r["model"] == study.baseline,
            "test MAE (Å)": r["MAE"],
            "R²": r["R2"],
        }
        for _, r in study.test.iterrows()
    ]
    rows += [
        {
            "model": name,
            "ours": False,
            "baseline": name == K.PUBLISHED_FOREST,
            "test MAE (Å)": fig["MAE"],
            "R²": fig.get("R2", np.nan),
        }
        for name, fig in K.PUBLISHED.items()
    ]
    return pd.DataFrame(rows)


__all__ = [
    "StudyResults",
    "arrangement_spread",
    "collect",
    "composition_benchmarks",
    "experiment_row",
    "first_step",
    "kspacing_benchmarks",
    "si_ge_curves",
    "si_ge_verdicts",
    "structure_benchmarks",
]
