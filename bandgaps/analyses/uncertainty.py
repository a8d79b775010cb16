"""How good is the uncertainty? Constant vs adaptive intervals, σ recalibration, held-out
chemical families and the domain of applicability, all measured on test rows.

Intervals are calibrated on the calibration set of a ``FitResult`` (rows held out of its
training rows) and scored once on its test set; nothing here is tuned on test rows. "Old" is
the constant half-width (absolute score, one group); "adaptive" is the method the model chose
on its calibration rows (``bandgaps.models.intervals``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from bandgaps.analyses.common import SEED
from bandgaps.analyses.fits import FitResult, fit_predict
from bandgaps.models.intervals import (
    GROUPINGS,
    METHODS,
    IntervalCalibrator,
    interval_quality,
    parse_label,
    width_error_rho,
)

LEVELS = (0.68, 0.9, 0.95)
#: Training rows drawn for the leave-cluster-out fits (a build-time budget; see the function).
LCO_MAX_TRAIN = 8_000
OLD = "constant (absolute)"
ADAPTIVE = "adaptive"


def band_rows(frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """``(target, prediction, lower band, upper band)`` of a result frame.

    Args:
        frame: a result frame (target, prediction, band).

    Returns:
        ``(target, prediction, lower band, upper band)``.
    """
    return tuple(frame[c].to_numpy(float) for c in ("target", "mean", "lower_band", "upper_band"))


def calibrators(result: FitResult, cal: str = "val") -> dict[str, IntervalCalibrator]:
    """The constant interval and the model's own adaptive choice, both fitted on ``cal``.

    Args:
        result: a fit's result (``FitResult``): its sets' predictions.
        cal: the calibration set.

    Returns:
        ``{"constant": …, "adaptive": …}``.
    """
    rows = band_rows(result.frame(cal))
    method, grouping = parse_label(result.interval_method or "absolute")
    return {
        OLD: IntervalCalibrator("absolute", groups="none").fit(*rows),
        ADAPTIVE: IntervalCalibrator(method, groups=grouping).fit(*rows),
    }


def _quality(c: IntervalCalibrator, y, pred, band, level) -> tuple[dict, np.ndarray, np.ndarray]:
    """Quality figures of a calibrator's sets on test rows, with coverage and width per row."""
    lo, hi, includes = c.interval_set(pred, *band, level)
    covered = c.covered(y, lo, hi, includes)
    q = interval_quality(y, pred, lo, hi)
    q["coverage"] = float(covered.mean())
    return q, covered, hi - lo


def _n_elements(formula: str) -> int:
    """Distinct element symbols written in a formula (``Li2O`` → 2)."""
    return len(set(re.findall(r"[A-Z][a-z]?", str(formula))))


def _groups(frame: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    y = frame["target"].to_numpy(float)
    n_el = np.array([_n_elements(f) for f in frame["formula"]])
    return {
        "metal / non-metal": {"metals": y == 0, "non-metals": y > 0},
        "number of elements": {
            "1–2 elements": n_el <= 2,
            "3 elements": n_el == 3,
            "4+ elements": n_el >= 4,
        },
    }


@dataclass
class IntervalStudy:
    """Constant vs adaptive intervals of one model on its test rows (every fold's, pooled).

    Attributes:
        model: the model's name.
        method: the adaptive method chosen.
        summary: method, level, coverage, mean width, width–error ρ.
        groups: coverage and width within the target's groups (90 %).
        candidates: every method on test, with its calibration score.
        widths: per test row: |error| and each method's 90 % width.
        sigma: ±1σ and ±2σ coverage of the raw and the recalibrated σ.
        sigma_scale: the σ recalibration factor.
        folds: per fold: the method and σ scale chosen on its calibration rows.
    """

    model: str
    method: str
    summary: pd.DataFrame  # method, level, coverage, mean width, width–error ρ
    groups: pd.DataFrame  # method, grouping, group, coverage, mean width, n (90 %)
    candidates: pd.DataFrame  # every method on test, with its calibration score
    widths: pd.DataFrame  # per test row: |error| and each method's 90 % width
    sigma: pd.DataFrame  # ±1σ and ±2σ coverage of the raw and the recalibrated σ
    sigma_scale: float
    #: per fold: the interval method and σ scale chosen on its calibration rows
    folds: pd.DataFrame | None = None


def _pooled(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    return tuple(np.concatenate(a) for a in zip(*parts, strict=True))


def _methods_text(labels: list[str]) -> str:
    """``"normalized"`` when every fold chose it, else ``"a (3 folds), b (2 folds)"``."""
    counts = pd.Series(labels).value_counts()
    if len(counts) == 1:
        return str(counts.index[0])
    return ", ".join(f"{m} ({n} folds)" for m, n in counts.items())


def interval_study(
    results: FitResult | list[FitResult],
    model: str,
    cal: str = "val",
    test: str = "test",
    levels=LEVELS,
) -> IntervalStudy:
    """Coverage (overall, per group), width and width–error ρ of old and adaptive intervals.

    ``results`` is one fit or one per fold: each fold's intervals are calibrated on its own
    ``cal`` rows and scored on its own ``test`` rows, and the figures pool every fold's rows.

    Args:
        results: one fit, or one per fold (pooled).
        model: the model's name.
        cal: the calibration set.
        test: the test set.
        levels: the coverages.

    Returns:
        The ``IntervalStudy``.
    """
    results = [results] if isinstance(results, FitResult) else list(results)
    frames, per, cand, sigma_parts = [], {}, {}, {"raw σ": [], "recalibrated σ": []}
    for res in results:
        frame = res.frame(test)
        frames.append(frame)
        y, pred, lo_b, hi_b = band_rows(frame)
        for name, c in calibrators(res, cal).items():
            for level in levels:
                lo, hi, includes = c.interval_set(pred, lo_b, hi_b, level)
                per.setdefault((name, level), []).append(
                    (y, pred, lo, hi, c.covered(y, lo, hi, includes))
                )
        cal_rows = band_rows(res.frame(cal))
        # as in the automatic choice: no ratio scale for a target that can be 0
        methods = [m for m in METHODS if m != "relative" or cal_rows[0].min() > 0]
        for method in methods:
            for grouping in GROUPINGS:
                c = IntervalCalibrator(method, groups=grouping).fit(*cal_rows)
                if c.grouping_ != grouping:
                    continue
                lo, hi, includes = c.interval_set(pred, lo_b, hi_b, 0.9)
                entry = cand.setdefault(c.label, {"parts": [], "scores": [], "chosen": 0})
                entry["parts"].append((y, pred, lo, hi, c.covered(y, lo, hi, includes)))
                entry["scores"].append(c.selection_[c.label])
                entry["chosen"] += int(c.label == res.interval_method)
        for name, scale in (("raw σ", 1.0), ("recalibrated σ", res.sigma_scale)):
            sigma_parts[name].append((np.abs(y - pred), (hi_b - lo_b) / 2 * scale))
    frame = pd.concat(frames, ignore_index=True)
    y, pred = frame["target"].to_numpy(float), frame["mean"].to_numpy(float)
    groups = _groups(frame)
    summary, group_rows, widths = [], [], {"|error|": np.abs(y - pred)}
    for (name, level), parts in per.items():
        _, _, lo, hi, covered = _pooled(parts)
        # widths as the method makes them (a gap model's output clips the lower bound at
        # 0 eV, which would make even the constant width look adaptive)
        q = interval_quality(y, pred, lo, hi)
        q["coverage"] = float(covered.mean())
        summary.append({"method": name, "level": level, **q})
        if level != 0.9:
            continue
        width = hi - lo
        widths[name] = width
        for grouping, members in groups.items():
            for group, mask in members.items():
                group_rows.append(
                    {
                        "method": name,
                        "grouping": grouping,
                        "group": group,
                        "coverage": float(covered[mask].mean()),
                        "mean width": float(width[mask].mean()),
                        "n": int(mask.sum()),
                    }
                )
    cand_rows = []
    for label, entry in cand.items():
        if len(entry["parts"]) != len(results):  # a grouping some fold could not form
            continue
        _, _, lo, hi, covered = _pooled(entry["parts"])
        q = interval_quality(y, pred, lo, hi)
        q["coverage"] = float(covered.mean())
        cand_rows.append(
            {
                "method": label,
                "calibration interval score": float(np.mean(entry["scores"])),
                **q,
                "metals": float(covered[y == 0].mean()),
                "non-metals": float(covered[y > 0].mean()),
                "chosen (folds)": entry["chosen"],
            }
        )
    sigma_rows = []
    for name, parts in sigma_parts.items():
        err, std = _pooled(parts)
        sigma_rows.append(
            {
                "σ": name,
                "scale": 1.0
                if name == "raw σ"
                else float(np.mean([r.sigma_scale for r in results])),
                "±1σ": float(np.mean(err <= std)),
                "±2σ": float(np.mean(err <= 2 * std)),
            }
        )
    fold_rows = pd.DataFrame(
        {
            "fold": range(len(results)),
            "interval method": [r.interval_method or "absolute" for r in results],
            "σ scale": [r.sigma_scale for r in results],
        }
    )
    return IntervalStudy(
        model=model,
        method=_methods_text(list(fold_rows["interval method"])),
        summary=pd.DataFrame(summary),
        groups=pd.DataFrame(group_rows),
        candidates=pd.DataFrame(cand_rows),
        widths=pd.DataFrame(widths),
        sigma=pd.DataFrame(sigma_rows),
        sigma_scale=float(np.mean([r.sigma_scale for r in results])),
        folds=fold_rows,
    )


def width_error_bins(widths: pd.DataFrame, method: str, n_bins: int = 10) -> pd.DataFrame:
    """Mean |error| per decile of a method's interval width (one point per decile).

    Args:
        widths: ``IntervalStudy.widths``.
        method: the interval method.
        n_bins: bins of width.

    Returns:
        One row per bin: mean width and mean |error|.
    """
    w = widths[method].to_numpy()
    err = widths["|error|"].to_numpy()
    ranks = pd.Series(w).rank(method="first").to_numpy()
    bins = np.minimum((ranks - 1) * n_bins // len(w), n_bins - 1).astype(int)
    return (
        pd.DataFrame({"bin": bins, "width": w, "|error|": err})
        .groupby("bin")
        .agg({"width": "mean", "|error|": "mean"})
        .reset_index()
    )


# ----------------------------------------------------------------------------------------------
# Leave-cluster-out: whole chemical families held out.


@dataclass
class LeaveClusterOut:
    """

    Attributes:
        clusters: per held-out cluster: size, typical elements, MAE, coverages.
        pooled: per method: coverage, width and ρ over all held-out rows.
        domain: ρ of each domain score with |error| on the held-out rows.
        results: each held-out cluster's fit.
        train_drawn: training rows drawn before clustering.
        train_available: the fold's training rows (calibration rows apart) in all.
    """

    clusters: pd.DataFrame  # per held-out cluster: size, typical elements, MAE, coverages
    pooled: pd.DataFrame  # per method: coverage, width, ρ over all held-out rows
    domain: pd.DataFrame  # ρ of each domain score with |error| on the held-out rows
    results: dict[int, FitResult]
    train_drawn: int = 0  # training rows drawn before clustering
    train_available: int = 0  # the fold's training rows (calibration rows apart) in all


def _cluster_labels(train, others, n_clusters: int):
    """k-means clusters of standardized Magpie features (fitted on train)."""
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    from bandgaps.features.composition import CompositionFeatures

    feats = CompositionFeatures("magpie")
    F = feats.fit(list(train["formula"])).transform(list(train["formula"]))
    scaler = StandardScaler().fit(np.nan_to_num(F))
    km = KMeans(n_clusters=n_clusters, random_state=SEED, n_init=10)
    train_labels = km.fit_predict(scaler.transform(np.nan_to_num(F)))
    labels = [
        km.predict(scaler.transform(np.nan_to_num(feats.transform(list(frame["formula"])))))
        for frame in others
    ]
    return train_labels, labels


def _typical_elements(formulas, k: int = 4) -> str:
    from collections import Counter

    from pymatgen.core import Composition

    counts = Counter(el.symbol for f in formulas for el in Composition(f).elements)
    total = len(formulas)
    return ", ".join(f"{el} {n / total:.0%}" for el, n in counts.most_common(k))


def _held_out_family(k, kind, feature_set, params, frames, labels):
    """Fit without family ``k`` (training and calibration rows), score its test rows and the
    other families': ``(result, table row, per-row coverage frames)``."""
    train, val, test = frames
    c_train, c_val, c_test = labels
    tr, va, te = train[c_train != k], val[c_val != k], test[c_test == k]
    seen = test[c_test != k]
    res = fit_predict(
        kind,
        tr["formula"],
        tr["target"],
        {
            "val": (list(va["formula"]), va["target"].to_numpy()),
            "held-out": (list(te["formula"]), te["target"].to_numpy()),
            "seen": (list(seen["formula"]), seen["target"].to_numpy()),
        },
        feature_set=feature_set,
        params={**params, "random_state": SEED},
        calibrate_on="val",
    )
    frame = res.frame("held-out")
    y, pred, lo_b, hi_b = band_rows(frame)
    row = {
        "cluster": k + 1,
        "typical elements": _typical_elements(list(te["formula"])),
        "train rows": len(tr),
        "held-out rows": len(te),
        "metals": float(np.mean(y == 0)),
        "MAE": float(np.mean(np.abs(y - pred))),
        "MAE, other families": float(
            np.mean(np.abs(res.frame("seen")["target"] - res.frame("seen")["mean"]))
        ),
        "flagged outside domain": float(1 - frame["in domain"].mean()),
    }
    parts = []
    for name, c in calibrators(res).items():
        q, covered, width = _quality(c, y, pred, (lo_b, hi_b), 0.9)
        row[f"coverage, {name}"] = q["coverage"]
        parts.append(
            pd.DataFrame(
                {"method": name, "y": y, "err": np.abs(y - pred), "w": width, "c": covered}
            )
        )
    return res, row, parts


def leave_cluster_out(
    kind: str,
    feature_set: str,
    params: dict,
    n_clusters: int = 5,
    max_train: int | None = LCO_MAX_TRAIN,
    fold: int = 0,
) -> LeaveClusterOut:
    """Official ``mp_gap`` fold ``fold`` clustered into chemical families (k-means on Magpie
    features fitted on its training rows): for each family, fit on the fold's training rows
    without it, calibrate on the fold's calibration rows without it, and score the family's
    test rows — intervals and domain flags meeting chemistry they never saw.

    The same model also predicts the other families' test rows, so each held-out MAE has a
    seen-chemistry MAE beside it from one fit. ``max_train`` draws that many training rows
    (seeded) before clustering: five fits on all 76,000 rows take about 15 minutes on two
    cores, on 8,000 about one.

    Args:
        kind: ``rf`` or ``lgbm``.
        feature_set: the composition features.
        params: the regressor's parameters.
        n_clusters: chemical families.
        max_train: training rows drawn (``None``: all).
        fold: the official fold.

    Returns:
        The ``LeaveClusterOut`` study.
    """
    from bandgaps.analyses.common import subsample
    from bandgaps.analyses.mp_gap import fold_rows
    from bandgaps.features.composition import CompositionFeatures, known_features

    full_train, val, test = fold_rows(fold)
    train = subsample(full_train, max_train)
    c_train, (c_val, c_test) = _cluster_labels(train, (val, test), n_clusters)
    results, rows, held = {}, [], []
    formulas = [*train["formula"], *val["formula"], *test["formula"]]
    known = known_features(
        feature_set, formulas, CompositionFeatures(feature_set).transform(formulas)
    )
    with known:
        for k in range(n_clusters):
            results[k], row, parts = _held_out_family(
                k, kind, feature_set, params, (train, val, test), (c_train, c_val, c_test)
            )
            rows.append(row)
            held.extend(parts)
    pooled = []
    for name, grp in pd.concat(held).groupby("method", sort=False):
        pooled.append(
            {
                "method": name,
                "coverage": float(grp["c"].mean()),
                "mean width": float(grp["w"].mean()),
                "width–error ρ": width_error_rho(grp["w"], grp["err"]),
                "n": len(grp),
            }
        )
    frames = pd.concat([r.frame("held-out") for r in results.values()], ignore_index=True)
    return LeaveClusterOut(
        clusters=pd.DataFrame(rows),
        pooled=pd.DataFrame(pooled),
        domain=domain_scores({"held-out families (pooled)": frames}),
        results=results,
        train_drawn=len(train),
        train_available=len(full_train),
    )


# ----------------------------------------------------------------------------------------------
# Domain of applicability.


def domain_scores(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Spearman ρ of each candidate score with |error|, the share flagged and the MAE inside
    and outside the domain, per named set of result frames.

    Args:
        frames: per score name, a frame of the score and |error|.

    Returns:
        One row per score.
    """
    rows = []
    for name, frame in frames.items():
        err = np.abs(frame["target"] - frame["mean"]).to_numpy()
        inside = frame["in domain"].to_numpy(bool)
        unseen = frame["unseen elements"].astype(str).str.len().to_numpy() > 0
        row = {"set": name, "n": len(frame)}
        for score, values in (
            ("distance", frame["distance"]),
            ("σ", frame["std"]),
            ("unseen element", unseen.astype(float)),
        ):
            v = np.asarray(values, float)
            row[f"ρ {score}"] = float(spearmanr(v, err).statistic) if np.ptp(v) > 0 else np.nan
        row.update(
            {
                "flagged": float(1 - inside.mean()),
                "MAE in domain": float(err[inside].mean()) if inside.any() else np.nan,
                "MAE flagged": float(err[~inside].mean()) if (~inside).any() else np.nan,
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = [
    "ADAPTIVE",
    "LCO_MAX_TRAIN",
    "LEVELS",
    "OLD",
    "IntervalStudy",
    "LeaveClusterOut",
    "band_rows",
    "calibrators",
    "domain_scores",
    "interval_study",
    "leave_cluster_out",
    "width_error_bins",
]
