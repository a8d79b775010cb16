"""Adaptive conformal intervals and the domain of applicability on data with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Composition

from bandgaps.errors import InputError
from bandgaps.models.domain import ApplicabilityDomain
from bandgaps.models.intervals import (
    IntervalCalibrator,
    conformal_quantile,
    interval_quality,
    winkler,
)


def heteroscedastic(n: int, seed: int):
    """y = x + noise whose σ grows 20-fold across x; the model knows σ up to 20 %."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    sigma = 0.05 + x
    y = x + rng.normal(0, sigma)
    known = sigma * rng.uniform(0.8, 1.2, n)
    return y, x, x - known, x + known, x


def test_adaptive_interval_beats_the_constant_one_on_heteroscedastic_data():
    cal = heteroscedastic(2000, 0)
    y, pred, lo_b, hi_b, x = heteroscedastic(20000, 1)
    constant = IntervalCalibrator("absolute", groups="none").fit(*cal[:4])
    adaptive = IntervalCalibrator().fit(*cal[:4])
    assert adaptive.method_ in ("normalized", "quantile")
    assert adaptive.selection_[adaptive.label] < adaptive.selection_["absolute"]
    results = {}
    for name, c in (("constant", constant), ("adaptive", adaptive)):
        lo, hi = c.interval(pred, lo_b, hi_b, 0.9)
        q = interval_quality(y, pred, lo, hi)
        low_noise, high_noise = x < 0.2, x > 0.8
        results[name] = {
            **q,
            "winkler": winkler(y, lo, hi, 0.9),
            "low": np.mean((y >= lo) & (y <= hi) & low_noise) / low_noise.mean(),
            "high": np.mean((y >= lo) & (y <= hi) & high_noise) / high_noise.mean(),
        }
    a, c = results["adaptive"], results["constant"]
    # both are marginally valid ...
    assert 0.88 <= a["coverage"] <= 0.92 and 0.88 <= c["coverage"] <= 0.92
    # ... but only the adaptive one holds its coverage where the noise is large and small
    assert c["high"] < 0.8 and c["low"] > 0.99
    assert 0.85 <= a["high"] <= 0.95 and 0.85 <= a["low"] <= 0.97
    assert a["winkler"] < 0.8 * c["winkler"]
    assert a["width–error ρ"] > 0.4 and abs(c["width–error ρ"]) < 1e-9


def test_mondrian_groups_give_each_group_its_coverage():
    """A zero-inflated target (metals at 0): one quantile per *predicted* group, which is the
    group a Mondrian calibration can promise coverage in."""
    rng = np.random.default_rng(0)

    def draw(n):
        metal = rng.uniform(size=n) < 0.5
        y = np.where(metal, 0.0, rng.gamma(2.0, 1.0, n))
        pred = np.where(metal, rng.exponential(0.05, n), y + rng.normal(0, 0.8, n))
        pred = np.maximum(pred, 0)
        return y, pred, pred - 0.3, pred + 0.3

    cal, test = draw(3000), draw(20000)
    grouped = IntervalCalibrator("absolute", groups="predicted").fit(*cal)
    assert grouped.grouping_ == "predicted" and grouped.threshold_ is not None
    lo, hi = grouped.interval(*test[1:], 0.9)
    y = test[0]
    covered = (y >= lo) & (y <= hi)
    predicted_metal = test[1] <= grouped.threshold_
    for group in (predicted_metal, ~predicted_metal):
        assert 0.88 <= covered[group].mean() <= 0.92
    plain = IntervalCalibrator("absolute", groups="none").fit(*cal)
    plain_lo, plain_hi = plain.interval(*test[1:], 0.9)
    plain_covered = (y >= plain_lo) & (y <= plain_hi)
    assert plain_covered[predicted_metal].mean() > 0.95  # one width over-covers this group
    assert np.mean(hi - lo) < np.mean(plain_hi - plain_lo)


def test_label_conditional_sets_cover_metals_and_non_metals_alike():
    """Calibrating metals and non-metals apart (the group is a function of the label) gives
    each true class its coverage; one width for all over-covers metals and under-covers
    non-metals. The automatic choice prefers the calibrated one."""
    rng = np.random.default_rng(1)

    def draw(n):
        metal = rng.uniform(size=n) < 0.5
        y = np.where(metal, 0.0, rng.gamma(2.0, 1.0, n))
        confused = rng.uniform(size=n) < 0.15  # insulators predicted metallic and vice versa
        pred = np.where(metal, rng.exponential(0.05, n), y + rng.normal(0, 0.8, n))
        pred = np.where(confused & ~metal, rng.exponential(0.05, n), pred)
        pred = np.where(confused & metal, rng.gamma(2.0, 1.0, n), pred)
        pred = np.maximum(pred, 0)
        return y, pred, pred - 0.3, pred + 0.3

    cal, test = draw(4000), draw(40000)
    y = test[0]
    gaps = {}
    for grouping in ("label", "none"):
        c = IntervalCalibrator("absolute", groups=grouping).fit(*cal)
        lo, hi, includes = c.interval_set(*test[1:], 0.9)
        covered = c.covered(y, lo, hi, includes)
        metals, others = covered[y == 0].mean(), covered[y > 0].mean()
        gaps[grouping] = metals - others
        if grouping == "label":
            assert 0.88 <= metals <= 0.92 and 0.88 <= others <= 0.92, (metals, others)
    assert abs(gaps["label"]) < 0.015 and gaps["none"] > 0.025
    auto = IntervalCalibrator("absolute").fit(*cal)
    assert auto.grouping_ == "label" and auto.label == "absolute + label-conditional"


def test_absolute_score_matches_mapie():
    from sklearn.linear_model import LinearRegression

    from bandgaps.models.conformal import conformalize

    rng = np.random.default_rng(3)
    X = rng.uniform(size=(600, 2))
    y = X @ [1.0, -2.0] + rng.normal(0, 0.3, 600)
    reg = LinearRegression().fit(X[:300], y[:300])
    cp = conformalize(reg, X[300:], y[300:], (0.9,))
    _, bounds = cp.predict_interval(X[:1])
    pred = reg.predict(X[300:])
    ours = IntervalCalibrator("absolute", groups="none").fit(y[300:], pred, pred, pred)
    lo, hi = ours.interval(reg.predict(X[:1]), np.nan, np.nan, 0.9)
    assert hi[0] == pytest.approx(bounds[0, 1, 0], abs=1e-9)
    assert lo[0] == pytest.approx(bounds[0, 0, 0], abs=1e-9)


def test_one_sided_bound_and_sigma_scale():
    cal = heteroscedastic(4000, 5)
    y, pred, lo_b, hi_b, _ = heteroscedastic(20000, 6)
    c = IntervalCalibrator().fit(*cal[:4])
    for risk in (0.05, 0.2):
        upper = c.upper(pred, lo_b, hi_b, risk)
        assert abs(np.mean(y > upper) - risk) < 0.015
    relative = c.upper(pred, lo_b, hi_b, 0.05, method="absolute")
    assert abs(np.mean(y > relative) - 0.05) < 0.015
    scale = c.sigma_scale()
    within = np.abs(y - pred) <= scale * (hi_b - lo_b) / 2
    assert abs(within.mean() - 0.6827) < 0.02


def test_state_round_trip_and_bad_input():
    cal = heteroscedastic(500, 7)
    c = IntervalCalibrator().fit(*cal[:4])
    fields, arrays = c.state()
    back = IntervalCalibrator.from_state(fields, arrays)
    args = (cal[1][:5], cal[2][:5], cal[3][:5], 0.9)
    np.testing.assert_allclose(back.interval(*args), c.interval(*args))
    with pytest.raises(InputError, match="malformed"):
        IntervalCalibrator.from_state({**fields, "method_": "magic"}, arrays)
    with pytest.raises(InputError, match="Unknown interval method"):
        IntervalCalibrator("wide")
    with pytest.raises(InputError, match="needs the model's σ"):
        nan = np.full(50, np.nan)
        IntervalCalibrator("normalized").fit(np.ones(50), np.ones(50), nan, nan)
    assert conformal_quantile([1.0, 2.0], 0.9) == np.inf


def test_domain_flags_unseen_elements_and_far_formulas():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(600, 4))
    comps = [Composition("NaCl")] * 300 + [Composition("KBr")] * 300
    dom = ApplicabilityDomain().fit(F[:400], comps[:400])
    # errors grow with distance from the training cloud: the distance score must win
    far = F[400:] * rng.uniform(0.5, 3.0, size=(200, 1))
    err = np.linalg.norm(far, axis=1) + rng.normal(0, 0.1, 200)
    dom.calibrate(far, np.ones(200) + rng.normal(0, 0.01, 200), err)
    assert dom.score_ == "distance" and dom.correlations_["distance"] > 0.5
    out = dom.assess(
        np.vstack([F[:1], 50 * np.ones((1, 4)), F[:1]]),
        [Composition("NaCl"), Composition("NaCl"), Composition("TcO2")],
        np.ones(3),
    )
    assert list(out["in domain"]) == [True, False, False]
    assert out["unseen elements"] == ["", "", "O, Tc"]
    assert out["domain score"][1] == 100.0
    back = ApplicabilityDomain.from_state(*dom.state())
    again = back.assess(F[:3], comps[:3], np.ones(3))
    np.testing.assert_allclose(
        again["domain score"], dom.assess(F[:3], comps[:3], np.ones(3))["domain score"]
    )
