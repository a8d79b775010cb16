"""Estimators: the forest's σ, the boosted model, conformal intervals, model files."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from bandgaps.errors import InputError
from bandgaps.models.boosting import BoostedRegressor
from bandgaps.models.calibrated import CalibratedCompositionModel, grouped_calibration_split
from bandgaps.models.conformal import conformalize, coverage
from bandgaps.models.forest import UncertainForestRegressor
from bandgaps.models.persist import ModelCard, library_versions, load_model, save_model


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(300, 4))
    y = 3 * X[:, 0] + np.where(X[:, 1] > 0.5, 1.0, 0.0) + rng.normal(0, 0.3, 300)
    return X, y


def test_forest_sigma_is_law_of_total_variance(toy):
    """σ² = mean over trees of the leaf's (bootstrap-weighted) variance + variance of leaf means,
    recomputed here from each tree's bootstrap sample rather than from its stored impurities."""
    X, y = toy
    rf = UncertainForestRegressor(n_estimators=15, min_samples_leaf=5, random_state=3).fit(X, y)
    Xq = X[:7] + 0.01
    mean, std = rf.predict(Xq, return_std=True)
    forest = rf.forest_
    leaf_means, leaf_vars = [], []
    for tree, samples in zip(forest.estimators_, forest.estimators_samples_, strict=True):
        train_leaves = tree.apply(X[samples].astype(np.float32))
        q_leaves = tree.apply(Xq.astype(np.float32))
        ys = [y[samples][train_leaves == leaf] for leaf in q_leaves]
        leaf_means.append([v.mean() for v in ys])
        leaf_vars.append([v.var() for v in ys])
    leaf_means, leaf_vars = np.array(leaf_means), np.array(leaf_vars)
    expected = np.sqrt(leaf_vars.mean(axis=0) + leaf_means.var(axis=0))
    np.testing.assert_allclose(mean, leaf_means.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(std, expected, rtol=1e-6)
    np.testing.assert_allclose(rf.predict(Xq), mean, rtol=1e-6)


def test_forest_is_a_sklearn_estimator(toy):
    X, y = toy
    search = GridSearchCV(
        UncertainForestRegressor(n_estimators=5), {"min_samples_leaf": [1, 5]}, cv=2
    ).fit(X, y)
    assert search.best_estimator_.forest_.n_estimators == 5
    assert clone(search.best_estimator_).get_params()["min_samples_leaf"] in (1, 5)


def test_boosted_clips_and_gives_sigma(toy):
    X, y = toy
    m = BoostedRegressor(
        n_estimators=60, num_leaves=7, min_child_samples=5, clip_min=0.0, n_jobs=1
    ).fit(X, y - 2)
    mean, std = m.predict(X, return_std=True)
    assert mean.min() >= 0 and (std >= 0).all() and std.mean() > 0
    plain = BoostedRegressor(n_estimators=20, sigma=False, n_jobs=1).fit(X, y)
    assert np.isnan(plain.predict(X, return_std=True)[1]).all()


def test_boosters_fitted_side_by_side_equal_those_fitted_one_after_another():
    """Two cores: the two seeds and the two quantile boosters each grow side by side, one thread
    each, with their own early stopping; the trees and predictions equal a one-thread fit."""
    rng = np.random.default_rng(5)
    X = rng.uniform(size=(2000, 12))
    y = X[:, 0] * 3 + np.sin(6 * X[:, 1]) + rng.normal(0, 0.2, 2000)
    params = {"n_estimators": 400, "num_leaves": 15, "early_stopping": 0.1, "random_state": 2}
    side = BoostedRegressor(n_jobs=2, **params).fit(X, y)
    alone = BoostedRegressor(n_jobs=1, **params).fit(X, y)
    trees = [b.booster_.num_trees() for b in side.boosters_ + side.quantile_boosters_]
    assert trees == [b.booster_.num_trees() for b in alone.boosters_ + alone.quantile_boosters_]
    assert len(set(trees[:2])) == 2  # each seed stopped on its own validation curve
    pairs = zip(side.predict(X, return_std=True), alone.predict(X, return_std=True), strict=True)
    for a, b in pairs:
        np.testing.assert_array_equal(a, b)
    assert all(b.get_params()["n_jobs"] == 2 for b in side.boosters_)  # predictions: both cores


def test_one_thread_boosters_build_histograms_column_wise_with_row_wise_trees():
    """A booster on one thread is told to build its histograms column-wise (faster, and no
    timing test first); its trees are those of LightGBM's row-wise build on one thread."""

    rng = np.random.default_rng(7)
    X = rng.uniform(size=(3000, 40))
    X[rng.uniform(size=X.shape) < 0.05] = np.nan
    y = (np.nan_to_num(X[:, 0]) + rng.normal(0, 0.3, 3000) > 0.5).astype(float)
    model = BoostedRegressor(
        ("binary",), n_estimators=150, num_leaves=31, sigma=False, n_jobs=1, random_state=3
    ).fit(X, y)
    (booster,) = model.boosters_
    assert booster.get_params()["force_col_wise"] is True
    row_wise = model._booster("binary", 3).set_params(n_jobs=1, force_row_wise=True).fit(X, y)

    def trees(b):
        return b.booster_.model_to_string().split("end of trees")[0]

    assert trees(booster) == trees(row_wise)


def test_conformal_coverage_holds():
    rng = np.random.default_rng(0)
    Xb = rng.uniform(size=(2000, 4))
    yb = 3 * Xb[:, 0] + rng.normal(0, 0.3, 2000)
    reg = UncertainForestRegressor(n_estimators=10).fit(Xb[:1000], yb[:1000])
    cp = conformalize(reg, Xb[1000:1500], yb[1000:1500], confidence_levels=(0.9,))
    _, bounds = cp.predict_interval(Xb[1500:])
    assert 0.85 <= coverage(yb[1500:], bounds[:, 0, 0], bounds[:, 1, 0]) <= 0.95


@pytest.fixture(scope="module")
def gap_rows():
    from bandgaps.data.tables import load_table

    df = load_table("matbench-mp-gap-val").head(600)
    return list(df["formula"]), df["target"].to_numpy()


def test_calibrated_model_intervals_cover_held_out_rows(gap_rows):
    formulas, y = gap_rows
    model = CalibratedCompositionModel("rf", params={"n_estimators": 20}, random_state=0)
    model.fit(formulas[:400], y[:400])
    assert model.calibrated and model.n_calibration_ > 10
    assert model.n_train_ + model.n_calibration_ == 400
    lo, hi = model.predict_interval(formulas[400:], 0.9)
    assert 0.8 <= coverage(y[400:], lo, hi) <= 1.0
    mean = model.predict(formulas[400:])
    assert ((lo <= mean) & (mean <= hi)).all()
    # any level can be asked for (the calibration rows are kept); nonsense ones are refused
    lo50, hi50 = model.predict_interval(formulas[400:], 0.5)
    assert (hi50 - lo50 <= hi - lo + 1e-12).all()
    with pytest.raises(InputError, match="between 0 and 1"):
        model.predict_interval(formulas[:2], 1.5)
    with pytest.raises(InputError, match="too few"):
        model.predict_interval(formulas[:2], 0.999)


def test_calibrated_model_with_explicit_calibration_set_and_extra_columns(gap_rows):
    import pandas as pd

    formulas, y = gap_rows
    X = pd.DataFrame({"formula": formulas, "hint": y + 0.01})  # a perfect transfer feature
    model = CalibratedCompositionModel("rf", params={"n_estimators": 20}, calibration_fraction=0)
    model.fit(X[:400], y[:400], X[400:500], y[400:500])
    assert model.n_train_ == 400 and model.n_calibration_ == 100
    assert model.transform(X[500:]).shape[1] == 146  # 145 magpie columns + the hint
    plain = CalibratedCompositionModel("rf", params={"n_estimators": 20}, calibration_fraction=0)
    plain.fit(formulas[:400], y[:400])
    with_hint = np.abs(model.predict(X[500:]) - y[500:]).mean()
    assert with_hint < 0.5 * np.abs(plain.predict(formulas[500:]) - y[500:]).mean()


def test_calibration_split_keeps_each_formula_on_one_side():
    formulas = ["NaCl", "Si", "NaCl", "GaAs", "Si", "ZnO"] * 20 + [f"Li{i}O" for i in range(80)]
    fit, cal = grouped_calibration_split(formulas, 0.25, 0)
    f = np.asarray(formulas)
    assert not set(f[fit]) & set(f[cal])
    assert len(fit) + len(cal) == len(formulas) and 0.1 < len(cal) / len(formulas) < 0.5


def _card(**kw):
    from bandgaps.features.composition import get_feature_set

    base = dict(
        kind="rf",
        target="band_gap",
        feature_set=get_feature_set("magpie").config(),
        training_data={"sha256": "x"},
        n_train=4,
        params={},
    )
    base.update(kw)
    return ModelCard(**base)


@pytest.fixture(scope="module")
def small_model(gap_rows):
    formulas, y = gap_rows
    return CalibratedCompositionModel("rf", params={"n_estimators": 8}, random_state=0).fit(
        formulas[:300], y[:300]
    )


@pytest.mark.parametrize("kind", ["rf", "lgbm"])
def test_model_file_round_trip(tmp_path, gap_rows, kind):
    formulas, y = gap_rows
    params = {"n_estimators": 8} if kind == "rf" else {"n_estimators": 20, "num_leaves": 7}
    model = CalibratedCompositionModel(kind, params=params, random_state=0)
    model.fit(formulas[:300], y[:300])
    path = save_model(tmp_path / "m.model", model, _card(kind=kind))
    assert path.read_bytes().startswith(b"bandgaps-model/4\n")
    loaded, card, extras = load_model(path)
    assert card.target == "band_gap" and extras == {}
    for a, b in zip(
        loaded.predict(formulas[300:], return_std=True),
        model.predict(formulas[300:], return_std=True),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-12)  # threaded forest sums: order may vary
    np.testing.assert_allclose(
        loaded.predict_interval(formulas[300:], 0.9)[0],
        model.predict_interval(formulas[300:], 0.9)[0],
        rtol=1e-12,
    )
    assert not list(tmp_path.glob(".*partial*"))


def test_model_file_from_other_versions_is_refused(tmp_path, small_model):
    versions = {**library_versions(), "scikit-learn": "0.24.2"}
    path = save_model(tmp_path / "m.model", small_model, _card(versions=versions))
    with pytest.raises(InputError, match=r"scikit-learn 0\.24\.2 \(now"):
        load_model(path)


def test_model_file_with_changed_features_is_refused(tmp_path, small_model):
    fs = _card().feature_set | {"version": 99}
    path = save_model(tmp_path / "m.model", small_model, _card(feature_set=fs))
    with pytest.raises(InputError, match="feature set 'magpie'"):
        load_model(path)


@pytest.mark.parametrize("content", [b"", b"not a model", b"bandgaps-model/4\nabc\n"])
def test_not_a_model_file(tmp_path, content):
    path = tmp_path / "x.model"
    path.write_bytes(content)
    with pytest.raises(InputError, match=str(path)):
        load_model(path)


class _Boom:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


def _rewrite(path: Path, member: str, data: bytes) -> None:
    """Replace one archive member and re-sign the file, as an attacker would."""
    import hashlib
    import io
    import zipfile

    raw = path.read_bytes()
    head, _, body = raw.partition(b"\n")[0], None, raw.split(b"\n", 2)[2]
    src = zipfile.ZipFile(io.BytesIO(body))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.namelist():
            dst.writestr(item, data if item == member else src.read(item))
        if member not in src.namelist():
            dst.writestr(member, data)
    body = out.getvalue()
    path.write_bytes(head + b"\n" + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)


def test_crafted_files_never_run_code(tmp_path, small_model):
    marker = tmp_path / "marker"
    evil = pickle.dumps(_Boom(marker))
    # an old-style pickle file
    old = tmp_path / "old.model"
    old.write_bytes(evil)
    with pytest.raises(InputError, match=r"pickle.*Retrain"):
        load_model(old)
    # a genuine file whose payload was swapped for a pickle (object array) and re-signed
    path = save_model(tmp_path / "m.model", small_model, _card())
    buf = io.BytesIO()
    np.savez(buf, nodes_0=np.array([_Boom(marker)], dtype=object))
    _rewrite(path, "forest.npz", buf.getvalue())
    with pytest.raises(InputError, match="refused"):
        load_model(path)
    # a card that is a pickle
    path = save_model(tmp_path / "c.model", small_model, _card())
    _rewrite(path, "card.json", evil)
    with pytest.raises(InputError, match=r"card\.json is not valid JSON"):
        load_model(path)
    assert not marker.exists()


def test_unknown_type_and_bad_tree_are_refused(tmp_path, small_model):
    import json
    import zipfile

    path = save_model(tmp_path / "m.model", small_model, _card())
    desc = json.loads(
        zipfile.ZipFile(io.BytesIO(path.read_bytes().split(b"\n", 2)[2])).read("model.json")
    )
    desc["regressor"]["class"] = "os.system"
    _rewrite(path, "model.json", json.dumps(desc).encode())
    with pytest.raises(InputError, match=r"'os\.system'.*refused"):
        load_model(path)
    # a child index pointing outside its tree (would read out of bounds in Cython)
    path = save_model(tmp_path / "t.model", small_model, _card())
    arrays = dict(
        np.load(
            io.BytesIO(
                zipfile.ZipFile(io.BytesIO(path.read_bytes().split(b"\n", 2)[2])).read("forest.npz")
            )
        )
    )
    arrays["nodes_0"]["left_child"][0] = 10**9
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    _rewrite(path, "forest.npz", buf.getvalue())
    with pytest.raises(InputError, match="inconsistent"):
        load_model(path)


def _description(path: Path) -> dict:
    import json
    import zipfile

    body = path.read_bytes().split(b"\n", 2)[2]
    return json.loads(zipfile.ZipFile(io.BytesIO(body)).read("model.json"))


@pytest.mark.parametrize(
    "where, value, message",
    [
        ("top", [], r"names the type '\[\]'.*refused"),  # the fuzzer's find: a list, not a name
        ("top", {"a": 1}, r"names the type .*refused"),
        ("regressor", "CalibratedCompositionModel", r"holds a CalibratedCompositionModel where"),
        ("regressor", ["BoostedRegressor"], r"names the type .*refused"),
        # a forest's card ("rf") with a booster's class: not the kind the file says it is
        ("regressor", "BoostedRegressor", r"holds a BoostedRegressor where a Uncertain"),
    ],
)
def test_a_class_that_is_not_a_trusted_name_in_its_place_is_refused(
    tmp_path, small_model, where, value, message
):
    import json

    path = save_model(tmp_path / "m.model", small_model, _card())
    desc = _description(path)
    (desc if where == "top" else desc["regressor"])["class"] = value
    _rewrite(path, "model.json", json.dumps(desc).encode())
    with pytest.raises(InputError, match=message):
        load_model(path)


def test_arrays_that_would_inflate_past_their_part_are_refused(tmp_path, small_model):
    """A compressed ``domain.npz`` of a few hundred kB whose arrays unpack to more than a
    domain part may hold (64 MiB) is refused from its own directory, before an array is read."""
    path = save_model(tmp_path / "m.model", small_model, _card())
    buf = io.BytesIO()
    np.savez_compressed(buf, mean=np.zeros(70 * 2**20, dtype=np.uint8))
    assert len(buf.getvalue()) < 2**20
    _rewrite(path, "domain.npz", buf.getvalue())
    with pytest.raises(InputError, match=r"domain\.npz would unpack past"):
        load_model(path)


def test_estimators_write_and_read_their_own_state(tmp_path, small_model):
    """Each estimator's ``state()`` is what the model file holds, and ``from_state`` gives
    back an estimator that predicts the same."""
    from bandgaps.models.persist import Archive, _open

    path = save_model(tmp_path / "m.model", small_model, _card())
    fields, files = small_model.state()
    assert _description(path) == json_round_trip(fields)
    rebuilt = type(small_model).from_state(_description(path), Archive(_open(path), path))
    X = small_model.transform(["Si", "GaAs", "NaCl"])
    assert np.allclose(rebuilt.predict_features(X), small_model.predict_features(X))
    assert set(files) <= set(Archive(_open(path), path).names())


def json_round_trip(value):
    import json

    return json.loads(json.dumps(value))


def test_every_bit_flip_is_detected(tmp_path, small_model):
    path = save_model(tmp_path / "m.model", small_model, _card())
    original = path.read_bytes()
    rng = np.random.default_rng(0)
    positions = rng.choice(len(original) * 8, size=1000, replace=False)
    flipped = tmp_path / "flipped.model"
    for bit in positions:
        data = bytearray(original)
        data[bit // 8] ^= 1 << (bit % 8)
        flipped.write_bytes(bytes(data))
        with pytest.raises(InputError, match=r"corrupt|not a bandgaps-model"):
            load_model(flipped)
