"""The composition studies at small scale: real snapshots, few rows, few trees."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bandgaps.analyses import composition as C


@pytest.fixture(scope="module")
def reference():
    return C.reference_protocol(n_estimators=15, max_train=400)


def test_reference_protocol(reference):
    r = reference
    assert len(r.train) == 400 and len(r.test) > 900
    assert set(r.metrics["trained on"]) == {"all", "non-metal"}
    assert (r.results["non-metal"].n_train < 400) and r.results["all"].n_train == 400
    # the test split keeps the metal share of the whole table (stratified)
    share = (r.test["band_gap"] == 0).mean()
    assert abs(share - 0.78) < 0.02
    mae = r.metrics.set_index(["trained on", "scored on"])["MAE"]
    assert 0 < mae[("all", "all")] < 1.0


def test_sweep_tables(reference):
    sweep = C.sweep_frame(reference.results)
    assert len(sweep) == 2 * 101 and sweep["x"].between(0, 1).all()
    np.testing.assert_allclose(sweep["experiment"].iloc[0], 1.155)
    summary = C.sweep_summary(reference.results)
    assert {"Si (eV)", "Ge (eV)", "Si49Ge51 (eV)", "MAE vs experiment (eV)"} <= set(summary)
    for _, row in summary.iterrows():
        between = min(row["Si (eV)"], row["Ge (eV)"]) <= row["Si49Ge51 (eV)"]
        between &= row["Si49Ge51 (eV)"] <= max(row["Si (eV)"], row["Ge (eV)"])
        assert row["Si49Ge51 between Si and Ge"] == between


def test_fit_predict_is_cached_and_conformal():
    from bandgaps.data import catalog

    train = catalog.load("matbench-mp-gap-train").sample(300, random_state=0)
    val = catalog.load("matbench-mp-gap-val").head(200)
    test = catalog.load("matbench-mp-gap-test").head(200)
    sets = {
        "val": (val["formula"], val["target"].to_numpy()),
        "test": (test["formula"], test["target"].to_numpy()),
    }
    args = ("rf", train["formula"], train["target"], sets)
    kw = {"params": {"n_estimators": 10}, "calibrate_on": "val"}
    first = C.fit_predict(*args, **kw)
    t0 = time.perf_counter()
    again = C.fit_predict(*args, **kw)
    assert time.perf_counter() - t0 < first.fit_seconds + 1
    np.testing.assert_array_equal(first.frame("test")["mean"], again.frame("test")["mean"])
    table = C.interval_table(first, "test")
    assert list(table["nominal coverage"]) == [0.68, 0.9, 0.95]
    assert table["mean width"].is_monotonic_increasing
    assert "val" not in first.intervals  # never scored on its own calibration set
    cov = C.sigma_coverage(
        first.frame("test")["target"], first.frame("test")["mean"], first.frame("test")["std"]
    )
    assert 0 <= cov["±1σ"] <= cov["±2σ"] <= 1
    curve = C.calibration_curve([0, 1], [0, 1], [1, 1])
    assert (curve["observed"] == 1).all()


def test_matbench_protocol_chooses_on_validation():
    candidates = (
        ("RF", "rf", "magpie", {"n_estimators": 10}),
        ("GBM", "lgbm", "magpie", {"n_estimators": 40, "num_leaves": 15, "clip_min": 0.0}),
    )
    mb = C.matbench_protocol(candidates, max_train=300)
    assert mb.sizes == {"train0": 300, "val0": 5714, "test0": 13636}
    best = mb.validation.loc[mb.validation["val MAE"].idxmin(), "model"]
    assert mb.chosen == best
    assert mb.test["model"].iloc[0] == "RF" and mb.chosen in set(mb.test["model"])
    assert (mb.results["GBM"].frame("test")["mean"] >= 0).all()
