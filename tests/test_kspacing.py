"""The k-point study at small scale: data handling, transfer columns, safety margins."""

from __future__ import annotations

import numpy as np
import pytest

from bandgaps.analyses import kspacing as K


def test_data_drops_leftover_columns():
    data = K.load_data()
    assert len(data.dropped_columns) == 12 and all(
        c.startswith("Unnamed") for c in data.dropped_columns
    )
    assert list(data.train.columns[:3]) == ["formula", "composition", "target"]
    assert len(data.val) == 4136 and len(data.test) == 10340


def test_one_sided_offset_covers():
    rng = np.random.default_rng(0)
    y = rng.normal(50, 10, 4000)
    pred = np.full_like(y, 50.0)
    off = K.one_sided_offset(y[:2000], pred[:2000], 0.9)
    assert np.mean(y[2000:] <= pred[2000:] + off) == pytest.approx(0.9, abs=0.02)


def test_small_study_with_transfer(monkeypatch):
    """Transfer columns from a small formation-energy model and a PBE reference trained on
    800 mp_gap rows (the study's own reference learns from all 106,113)."""
    from bandgaps.data.tables import load_table
    from bandgaps.models.transfer import PBEReference

    monkeypatch.setattr(K, "AUX_PARAMS", {"sigma": False, "n_estimators": 20})
    mp = load_table("matbench-mp-gap").iloc[:800]
    reference = PBEReference(params={"n_estimators": 40, "num_leaves": 15}).fit(
        mp["composition"], mp["target"]
    )
    candidates = (
        ("RF", "rf", "kspacing-study", {"n_estimators": 10}, ()),
        (
            "GBM + gap",
            "lgbm",
            "magpie",
            {"n_estimators": 30, "num_leaves": 15},
            ("predicted band gap (eV)", "predicted metal probability"),
        ),
    )
    study = K.kspacing_study(candidates, max_train=300, reference=reference)
    assert set(study.validation["model"]) == {"RF", "GBM + gap"}
    assert study.test["model"].iloc[0] == "RF"
    safe = K.safety_table(study.results[study.chosen])
    unsafe = safe["unsafe on test"].to_numpy()[1:]
    assert (np.diff(unsafe) <= 1e-9).all()  # higher coverage, fewer unsafe predictions
    assert unsafe[-1] < 0.05


def test_adaptive_margins_trade_off_and_choice(monkeypatch):
    """The chosen model is refitted with its quantile band; every margin keeps its promise on
    test at small scale and the choice is made on validation rows."""
    monkeypatch.setattr(K, "AUX_PARAMS", {"sigma": False, "n_estimators": 20})
    candidates = (
        ("GBM", "lgbm", "magpie", {"n_estimators": 30, "num_leaves": 15, "sigma": False}, ()),
    )
    study = K.kspacing_study(candidates, max_train=400)
    assert not np.isfinite(study.results["GBM"].frame("val")["std"]).all()
    banded = study.with_band()
    assert np.isfinite(banded.frame("val")["std"]).all()
    curves = K.safe_tradeoff(banded, risks=[0.05, 0.2])
    assert set(curves["method"]) == set(K.SAFE_LABELS.values())
    for _, row in curves.iterrows():
        assert row["unsafe on test"] <= row["risk"] + 0.03
    at = curves.set_index(["method", "risk"])["mean extra k-points"]
    for label in K.SAFE_LABELS.values():
        assert at[(label, 0.05)] > at[(label, 0.2)]  # safer costs more
    assert K.choose_safe_method(banded) in K.SAFE_METHODS
    assert K.extra_kpoints([20.0], [10.0]) == 7.0
