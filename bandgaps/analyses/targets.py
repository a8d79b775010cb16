"""The study's one registry of figures published by others and of the targets it sets itself.

Pages and tests read figures and targets from here, so a published number or a goal is typed
once. ``check`` sets a computed value against a target and returns a ``TargetCheck`` with named
fields; ``targets_table`` lays several out for a page.

No cached stage imports this module: editing a published figure or a target re-renders the
pages that show it and recomputes nothing.

Examples:
    >>> check("si-ge-4k", 0.089).met
    True
    >>> check("mp-gap", 0.2391).text
    'mp_gap, composition only, 5-fold mean MAE (eV): 0.2391 (target ≤ 0.225, missed)'
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Published:
    """A figure somebody else published on the same (or the parent) data."""

    label: str
    value: float
    unit: str
    source: str


@dataclass(frozen=True)
class Target:
    """A goal the study set itself: a figure, ``≤`` or ``≥``, and the value to reach."""

    label: str
    op: str
    value: float

    def met_by(self, value: float) -> bool:
        return bool(value <= self.value) if self.op == "≤" else bool(value >= self.value)


@dataclass(frozen=True)
class TargetCheck:
    """A computed value set against its target."""

    key: str
    label: str
    value: float
    op: str
    target: float
    met: bool

    @property
    def text(self) -> str:
        verdict = "met" if self.met else "missed"
        return f"{self.label}: {self.value:.4g} (target {self.op} {self.target:g}, {verdict})"


#: Published figures, by key.
PUBLISHED: dict[str, Published] = {
    "reference-rf-all": Published(
        "reference solution, RF + Magpie, all-data model (75,067 MP entries)",
        0.529,
        "eV",
        "reference solution (80:20 split stratified by metal), MAE; RMSE 0.742 eV, R² 0.773",
    ),
    "reference-rf-all-rmse": Published(
        "reference solution, RF + Magpie, all-data model, RMSE", 0.742, "eV", "same"
    ),
    "reference-rf-all-r2": Published(
        "reference solution, RF + Magpie, all-data model, R²", 0.773, "", "same"
    ),
    "reference-rf-nonmetal": Published(
        "reference solution, RF + Magpie, non-metal model", 0.503, "eV", "same, non-metal model"
    ),
    "megnet-2018": Published(
        "MEGNet 2018 band-gap model (paper, MP 2018 test split)",
        0.33,
        "eV",
        "Chen et al., Chem. Mater. 31, 3564 (2019)",
    ),
    "kspacing-rf": Published(
        "k-spacing study, random forest (Magpie + Stoichiometry + ValenceOrbital)",
        10.63,
        "Å",
        "k-spacing study, jarvis kpoint_length_unit test split; R² 0.524",
    ),
    "kspacing-rf-r2": Published("k-spacing study, random forest, R²", 0.524, "", "same"),
    "kspacing-crabnet": Published(
        "k-spacing study, CrabNet", 10.53, "Å", "k-spacing study, same split; R² 0.500"
    ),
    "kspacing-crabnet-r2": Published("k-spacing study, CrabNet, R²", 0.500, "", "same"),
    "jarvis-leaderboard": Published(
        "JARVIS leaderboard best (structure-based, its own split)",
        9.0,
        "Å",
        "JARVIS leaderboard, dft_3d_kpoint_length_unit",
    ),
}

#: The study's own targets, by key.
TARGETS: dict[str, Target] = {
    "expt-gap": Target("expt_gap, 5-fold mean MAE (eV)", "≤", 0.240),
    "mp-gap": Target("mp_gap, composition only, 5-fold mean MAE (eV)", "≤", 0.225),
    "expt-is-metal-labels": Target("expt_is_metal, balanced accuracy of labels", "≥", 0.965),
    "expt-is-metal-auc": Target("expt_is_metal, ROC-AUC of probabilities", "≥", 0.99),
    "si-ge-4k": Target("Si–Ge sweep, MAE vs the 4.2 K curve (eV)", "≤", 0.10),
    "si-ge-left-out-4k": Target(
        "Si–Ge sweep (Si–Ge left out), MAE vs the 4.2 K curve (eV)", "≤", 0.07
    ),
    "si-ge-300k": Target("Si–Ge sweep (Si–Ge left out), MAE vs the 300 K curve (eV)", "≤", 0.07),
    "kpoint-extra": Target("k-point length, 95 % converged, mean extra k-points (%)", "≤", 250.0),
    "screen-rate": Target(
        "composition screen, 1,000,000 formulas, 2 cores (formulas/s)", "≥", 5000
    ),
    "screen-wall": Target("the same, wall time (min)", "≤", 4),
    "screen-scaling-steady": Target("scaling 1 → 2 workers, after start-up (×)", "≥", 1.7),
    "screen-scaling-e2e": Target("scaling 1 → 2 workers, end to end (×)", "≥", 1.7),
    "screen-memory": Target(
        "peak memory, 100,000 → 1,000,000 formulas (size of the change)", "≤", 0.2
    ),
    "structure-rate": Target(
        "structure screen, MEGNet 2018, Si–Ge cells (structures/s after start-up)", "≥", 1000
    ),
    "structure-rate-e2e": Target("the same, 20,000 cells end to end (structures/s)", "≥", 600),
    "cold-build": Target("cold site build, two cores (s)", "≤", 25 * 60),
    "warm-build": Target("warm site build, nothing changed (s)", "≤", 60),
}

#: MAE (eV) a Si–Ge curve must reach against the measured one: ``TARGETS["si-ge-4k"]``.
GOAL_MAE = TARGETS["si-ge-4k"].value


def published(key: str) -> float:
    """The value of published figure ``key``."""
    return PUBLISHED[key].value


def check(key: str, value: float) -> TargetCheck:
    """Set ``value`` against target ``key``."""
    t = TARGETS[key]
    return TargetCheck(key, t.label, float(value), t.op, t.value, t.met_by(value))


def targets_table(checks: list[TargetCheck]) -> pd.DataFrame:
    """One row per check: figure, this study, the comparison, the target and whether it is met."""
    return pd.DataFrame(
        [
            {
                "figure": c.label,
                "this study": c.value,
                "": c.op,
                "target": c.target,
                "met": "yes" if c.met else "no",
            }
            for c in checks
        ]
    )


def screening_checks(bench: pd.DataFrame, structures: dict) -> list[TargetCheck]:
    """The screening targets, from a throughput table (``rows``, ``workers``, rates, seconds,
    peak memory; ``bandgaps.analyses.screening.throughput``) and a structure screen's report.

    Examples:
        >>> bench = pd.DataFrame({"rows": [100_000, 200_000, 200_000, 1_000_000],
        ...     "workers": [2, 1, 2, 2], "seconds": [17.0, 49.0, 28.0, 135.0],
        ...     "rows_per_second": [5900, 4100, 7100, 7400],
        ...     "steady_rows_per_second": [6700, 4200, 7700, 7500],
        ...     "peak_rss_gib": [1.0, 0.7, 1.0, 1.1]})
        >>> structures = {"steady_rows_per_second": 400, "rows_per_second": 650}
        >>> [c.met for c in screening_checks(bench, structures)]
        [True, True, True, True, True, False, True]
    """

    def run(rows: int, workers: int) -> pd.Series:
        match = bench[(bench["rows"] == rows) & (bench["workers"] == workers)]
        if len(match) != 1:
            raise KeyError(f"no single throughput run of {rows:,} rows on {workers} workers")
        return match.squeeze(axis=0)

    largest = int(bench["rows"].max())
    smallest = int(bench.loc[bench["workers"] == 2, "rows"].min())
    pair = bench.groupby("rows")["workers"].nunique()
    scaling = int(pair[pair > 1].index.max())
    big, small = run(largest, 2), run(smallest, 2)
    one, two = run(scaling, 1), run(scaling, 2)
    return [
        check("screen-rate", big["rows_per_second"]),
        check("screen-wall", big["seconds"] / 60),
        check(
            "screen-scaling-steady", two["steady_rows_per_second"] / one["steady_rows_per_second"]
        ),
        check("screen-scaling-e2e", two["rows_per_second"] / one["rows_per_second"]),
        check("screen-memory", abs(big["peak_rss_gib"] / small["peak_rss_gib"] - 1)),
        check("structure-rate", structures["steady_rows_per_second"]),
        check("structure-rate-e2e", structures["rows_per_second"]),
    ]


__all__ = [
    "GOAL_MAE",
    "PUBLISHED",
    "TARGETS",
    "Published",
    "Target",
    "TargetCheck",
    "check",
    "published",
    "screening_checks",
    "targets_table",
]
