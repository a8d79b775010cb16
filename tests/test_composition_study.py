"""The composition studies at small scale: real snapshots, few rows, few trees."""

from __future__ import annotations

import numpy as np
import pytest

from bandgaps.analyses import composition as C
from bandgaps.analyses.fits import fit_predict
from bandgaps.analyses.si_ge import COMPOSITION, SiGeModel
from bandgaps.models.calibrated import CalibratedCompositionModel


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
    models = {
        SiGeModel(f"RF, {name}", COMPOSITION, "PBE", "MP snapshot"): res
        for name, res in reference.results.items()
    }
    sweep = C.sweep_frame(models)
    assert len(sweep) == 2 * 101 and sweep["x"].between(0, 1).all()
    assert set(sweep["trained on"]) == {"PBE"} and set(sweep["training data"]) == {"MP snapshot"}
    np.testing.assert_allclose(sweep.loc[sweep["x"] == 0, "experiment"], 1.155)
    summary = C.sweep_summary(models)
    assert {"Si (eV)", "Ge (eV)", "Si49Ge51 (eV)", "MAE vs experiment (eV)"} <= set(summary)
    for _, row in summary.iterrows():
        between = min(row["Si (eV)"], row["Ge (eV)"]) <= row["Si49Ge51 (eV)"]
        between &= row["Si49Ge51 (eV)"] <= max(row["Si (eV)"], row["Ge (eV)"])
        assert row["Si49Ge51 between Si and Ge"] == between


def test_fit_predict_is_cached_and_conformal(monkeypatch):
    from bandgaps.data.tables import load_table

    train = load_table("matbench-mp-gap-train").sample(300, random_state=0)
    val = load_table("matbench-mp-gap-val").head(200)
    test = load_table("matbench-mp-gap-test").head(200)
    sets = {
        "val": (val["formula"], val["target"].to_numpy()),
        "test": (test["formula"], test["target"].to_numpy()),
    }
    args = ("rf", train["formula"], train["target"], sets)
    kw = {"params": {"n_estimators": 10}, "calibrate_on": "val"}
    first = fit_predict(*args, **kw)

    def no_refit(*a, **k):
        raise AssertionError("a cached fit was recomputed")

    monkeypatch.setattr(CalibratedCompositionModel, "fit", no_refit)
    again = fit_predict(*args, **kw)  # read from the cache: fitting would raise
    with pytest.raises(AssertionError, match="recomputed"):
        fit_predict(*args, params={"n_estimators": 11}, calibrate_on="val")
    np.testing.assert_array_equal(first.frame("test")["mean"], again.frame("test")["mean"])
    table = C.interval_table(first, "test")
    assert list(table["nominal coverage"]) == [0.68, 0.9, 0.95]
    assert table["mean width"].is_monotonic_increasing
    assert "val" not in first.intervals  # never scored on its own calibration set
    cov = C.sigma_coverage(
        first.frame("test")["target"], first.frame("test")["mean"], first.frame("test")["std"]
    )
    assert cov["±1σ"] < cov["±2σ"]  # 200 real gaps: some errors lie between 1σ and 2σ


def test_sigma_coverage_of_gaussian_errors():
    rng = np.random.default_rng(1)
    sigma = rng.uniform(0.1, 2.0, 20000)
    y = rng.normal(0.0, sigma)
    cov = C.sigma_coverage(y, np.zeros_like(y), sigma)
    assert cov["±1σ"] == pytest.approx(0.683, abs=0.01)
    assert cov["±2σ"] == pytest.approx(0.954, abs=0.01)
    curve = C.calibration_curve(y, np.zeros_like(y), sigma)
    np.testing.assert_allclose(curve["observed"], curve["expected"], atol=0.015)
    halved = C.calibration_curve(y, np.zeros_like(y), sigma / 2)
    assert (halved["observed"] < halved["expected"]).all()


def test_matbench_protocol_chooses_on_validation():
    candidates = (
        ("RF", "rf", "magpie", {"n_estimators": 10}),
        ("GBM", "lgbm", "magpie", {"n_estimators": 40, "num_leaves": 15, "clip_min": 0.0}),
    )
    mb = C.matbench_protocol(candidates, max_train=300)
    assert mb.sizes == {"train0": 300, "val0": 5714, "test0": 13636}
    best = mb.validation.loc[mb.validation["val MAE"].idxmin(), "model"]
    assert mb.chosen == best
    assert mb.baseline == "RF" and set(mb.test["model"]) == {"RF", mb.chosen}
    assert (mb.results["GBM"].frame("test")["mean"] >= 0).all()


def test_interval_study_and_leave_cluster_out_at_small_scale():
    """Constant vs adaptive intervals scored on test0, σ recalibrated, families held out."""
    from bandgaps.analyses import uncertainty as U

    candidates = (
        ("GBM", "lgbm", "magpie", {"n_estimators": 40, "num_leaves": 15, "clip_min": 0.0}),
    )
    mb = C.matbench_protocol(candidates, max_train=600)
    res = mb.results["GBM"]
    assert res.interval_method in res.interval_selection and res.domain_score in ("distance", "σ")
    st = U.interval_study(res, "GBM")
    s = st.summary.set_index(["method", "level"])
    for method in (U.OLD, U.ADAPTIVE):
        assert 0.85 <= s.loc[(method, 0.9), "coverage"] <= 0.95
    # the constant width has no width–error correlation, the adaptive one does
    assert s.loc[(U.OLD, 0.9), "width–error ρ"] == 0.0
    assert s.loc[(U.ADAPTIVE, 0.9), "width–error ρ"] > 0.4
    assert set(st.groups["group"]) >= {"metals", "non-metals", "4+ elements"}
    assert st.candidates["chosen"].sum() == 1
    sig = st.sigma.set_index("σ")
    assert abs(sig.loc["recalibrated σ", "±1σ"] - 0.683) < 0.05
    bins = U.width_error_bins(st.widths, U.ADAPTIVE)
    assert len(bins) == 10 and bins["width"].is_monotonic_increasing
    lco = U.leave_cluster_out(
        "lgbm",
        "magpie",
        {"n_estimators": 30, "num_leaves": 15, "clip_min": 0.0},
        n_clusters=3,
        max_train=600,
    )
    assert len(lco.clusters) == 3 and lco.clusters["held-out rows"].sum() == 13636
    assert set(lco.pooled["method"]) == {U.OLD, U.ADAPTIVE}
    assert lco.domain["n"].item() == 13636
    # one fit per family scores both the held-out family and the families it saw
    assert (lco.clusters["MAE, other families"] > 0).all()
    assert (lco.train_drawn, lco.train_available) == (600, 58814)
