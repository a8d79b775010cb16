"""The composition studies at small scale: real snapshots, few rows, few trees."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SMALL_GBM

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


def test_mp_gap_study_calibrates_inside_each_fold(mp_gap_small):
    """Five official folds of the first 3,000 rows: calibration rows come from each fold's
    training rows, share no formula with its fit rows, and the test rows are scored once."""
    from bandgaps.analyses.matbench import TASKS, official_folds
    from bandgaps.analyses.mp_gap import split_calibration

    study = mp_gap_small
    task = TASKS["mp_gap"]
    frame = task.load().iloc[:3000]
    folds = official_folds(task, frame["target"])
    assert len(study.fits) == 5 and study.run.scores["fold"].tolist() == [0, 1, 2, 3, 4]
    for k, (train_rows, test_rows) in enumerate(folds):
        res = study.fits[k]
        fit, cal = split_calibration(frame.iloc[train_rows], k)
        assert not set(fit["formula"]) & set(cal["formula"])
        assert len(fit) + len(cal) == len(train_rows) and res.n_train == len(fit)
        assert list(res.frame("val")["formula"]) == list(cal["formula"])
        test = res.frame("test")
        assert list(test["formula"]) == list(frame["formula"].iloc[test_rows])
        np.testing.assert_array_equal(test["target"], frame["target"].to_numpy()[test_rows])
        assert res.interval_method in res.interval_selection
        # the run's score is this fit's MAE on its test rows
        mae = np.mean(np.abs(test["target"] - test["mean"]))
        assert study.run.scores.loc[k, "mae"] == pytest.approx(mae)
    summary = study.summary()
    assert summary["test rows"].sum() == 3000 and (summary["calibration rows"] > 100).all()
    assert len(study.pooled("test")) == 3000
    ens = study.ensemble()
    mean = np.mean([r.frame("si-ge")["mean"] for r in study.fits], axis=0)
    np.testing.assert_allclose(ens.frame("si-ge")["mean"], mean)
    comparison = C.matbench_comparison(study)
    ours = comparison[comparison["model"].str.endswith("(this study)")]
    assert ours["MAE (5-fold mean)"].item() == pytest.approx(study.run.mean())
    table = C.pooled_interval_table(study)
    assert list(table["nominal coverage"]) == [0.68, 0.9, 0.95]
    assert table["mean width"].is_monotonic_increasing


def test_interval_study_and_leave_cluster_out_at_small_scale(mp_gap_small):
    """Constant vs adaptive intervals pooled over the folds, σ recalibrated, families held
    out of official fold 0."""
    from bandgaps.analyses import uncertainty as U
    from bandgaps.analyses.mp_gap import fold_rows

    study = mp_gap_small
    st = U.interval_study(study.fits, "GBM")
    s = st.summary.set_index(["method", "level"])
    assert (s["n"] == 3000).all()
    for method in (U.OLD, U.ADAPTIVE):
        assert 0.82 <= s.loc[(method, 0.9), "coverage"] <= 0.97
    # a constant width (one per fold) has next to no width–error correlation, the adaptive one
    # has a clear one
    assert abs(s.loc[(U.OLD, 0.9), "width–error ρ"]) < 0.1
    assert s.loc[(U.ADAPTIVE, 0.9), "width–error ρ"] > 0.3
    assert set(st.groups["group"]) >= {"metals", "non-metals", "4+ elements"}
    assert st.candidates["chosen (folds)"].sum() == 5
    assert list(st.folds["interval method"]) == [r.interval_method for r in study.fits]
    sig = st.sigma.set_index("σ")
    assert abs(sig.loc["recalibrated σ", "±1σ"] - 0.683) < 0.07
    bins = U.width_error_bins(st.widths, U.ADAPTIVE)
    assert len(bins) == 10 and bins["width"].is_monotonic_increasing
    one = U.interval_study(study.fits[0], "GBM")  # a single fit is a study of its own rows
    assert (one.summary["n"] == len(study.fits[0].frame("test"))).all()

    kind, fs, params = SMALL_GBM
    lco = U.leave_cluster_out(kind, fs, params, n_clusters=3, max_train=600)
    fit, _, test = fold_rows(0)
    assert len(lco.clusters) == 3 and lco.clusters["held-out rows"].sum() == len(test)
    assert set(lco.pooled["method"]) == {U.OLD, U.ADAPTIVE}
    assert lco.domain["n"].item() == len(test)
    # one fit per family scores both the held-out family and the families it saw
    assert (lco.clusters["MAE, other families"] > 0).all()
    assert (lco.train_drawn, lco.train_available) == (600, len(fit))
