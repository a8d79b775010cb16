"""The measured-gap model's parts, its model file and the named models on the command line,
trained for real on a few hundred rows."""

from __future__ import annotations

import numpy as np
import pytest

from bandgaps.cli import main
from bandgaps.errors import InputError
from bandgaps.models import named
from bandgaps.models.persist import load_model, save_model
from bandgaps.models.transfer import (
    GatedGapModel,
    MeasuredGapModel,
    MetalClassifier,
    MPGapLookup,
    PBEReference,
)

SMALL = {"n_estimators": 40, "early_stopping": None}


@pytest.fixture(scope="module")
def small_model():
    """A real MeasuredGapModel: PBE side on 400 mp_gap rows, gap model on 300 expt_gap rows."""
    from bandgaps.data.tables import load_table

    mp = load_table("matbench-mp-gap").iloc[:400]
    expt = load_table("matbench-expt-gap").iloc[::15]
    ref = PBEReference(params={**SMALL, "num_leaves": 15}).fit(mp["composition"], mp["target"])
    gated = GatedGapModel(regressor_params=SMALL, gate_params=SMALL)
    lookup = MPGapLookup().fit(mp["composition"], mp["target"])
    model = MeasuredGapModel(ref, "magpie+fractions", gated, lookup)
    return model.fit(expt["composition"], expt["target"])


def test_gate_sends_metals_to_zero_and_never_predicts_negative(small_model):
    pred = small_model.predict(["Cu", "Al", "NaCl", "GaAs", "Si49Ge51"])
    assert (pred >= 0).all()
    p_metal = small_model.predict_metal_proba(["Cu", "NaCl"])
    assert ((p_metal >= 0) & (p_metal <= 1)).all()
    assert pred[2] > 1.0  # NaCl is a wide-gap insulator even for a small model


def test_metal_classifier_rejects_labels_that_are_not_binary():
    with pytest.raises(InputError, match="0 \\(non-metal\\) or 1"):
        MetalClassifier().fit(np.zeros((20, 2)), np.arange(20))


def test_lookup_finds_compositions_however_written():
    lookup = MPGapLookup().fit(["SiGe", "Si2Ge2", "GaAs"], [0.5, 0.7, 1.4])
    out = lookup.featurize_many(["Si0.5Ge0.5", "ZnO"])
    assert out[0].tolist() == [pytest.approx(0.6), 0.5, 2.0]
    assert np.isnan(out[1, 0]) and out[1, 2] == 0


def test_measured_gap_model_file_round_trips_without_pickle(small_model, tmp_path):
    card = named.card("measured-gap", 300, {"source": "test"}, {})
    path = save_model(tmp_path / "m.bgm", small_model, card)
    loaded, card2, _ = load_model(path)
    formulas = ["Si", "Ge", "Si49Ge51", "GaAs", "ZnO"]
    np.testing.assert_allclose(loaded.predict(formulas), small_model.predict(formulas))
    assert card2.target == "measured gap (eV)"
    assert b"pickle" not in path.read_bytes()


def test_a_committee_with_column_subsets_round_trips(small_model, tmp_path):
    from bandgaps.data.tables import load_table
    from bandgaps.models.transfer import GatedCommittee

    expt = load_table("matbench-expt-gap").iloc[::15]
    width = small_model.transform(["Si"]).shape[1]
    members = [
        GatedGapModel(columns=list(range(width - 5)), regressor_params=SMALL, gate_params=SMALL),
        GatedGapModel(residual_column=width - 5, regressor_params=SMALL, gate_params=SMALL),
        GatedGapModel(gate=False, regressor_params=SMALL),
    ]
    model = MeasuredGapModel(
        small_model.reference, "magpie+fractions", GatedCommittee(members), small_model.lookup
    ).fit(expt["composition"], expt["target"])
    card = named.card("measured-gap", 300, {"source": "test"}, {})
    loaded, _, _ = load_model(save_model(tmp_path / "c.bgm", model, card))
    formulas = ["Si", "Ge", "Si49Ge51", "GaAs", "ZnO", "Cu"]
    np.testing.assert_allclose(loaded.predict(formulas), model.predict(formulas))
    np.testing.assert_allclose(
        loaded.predict_metal_proba(formulas), model.predict_metal_proba(formulas)
    )


def test_a_model_file_naming_an_unknown_part_is_refused(small_model, tmp_path):
    import hashlib
    import io
    import zipfile

    from bandgaps.models.persist import _MAGIC

    card = named.card("measured-gap", 300, {"source": "test"}, {})
    path = save_model(tmp_path / "m.bgm", small_model, card)
    data = path.read_bytes()
    body = data[len(_MAGIC) :].partition(b"\n")[2]
    zin = zipfile.ZipFile(io.BytesIO(body))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        for item in zin.namelist():
            content = zin.read(item)
            if item == "model.json":
                content = content.replace(b'"PBEReference"', b'"os.system"', 1)
            zout.writestr(item, content)
    new = out.getvalue()
    path.write_bytes(_MAGIC + hashlib.sha256(new).hexdigest().encode() + b"\n" + new)
    with pytest.raises(InputError, match="refused"):
        load_model(path)


@pytest.fixture
def models_folder(small_model, tmp_path, monkeypatch):
    """A models folder holding a current measured-gap file (the small model)."""
    monkeypatch.setenv(named.MODELS_ENV, str(tmp_path / "models"))
    card = named.card("measured-gap", 300, {"source": "test rows"}, {})
    save_model(named.model_path("measured-gap"), small_model, card)
    return tmp_path / "models"


def test_a_damaged_named_model_file_is_reported_not_retrained(models_folder, capsys):
    path = named.model_path("measured-gap")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    assert main(["predict", "measured-gap", "Si"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "corrupt" in err and "delete it" in err
    assert len(err.strip().splitlines()) == 1 and path.read_bytes() == bytes(data)
    assert main(["models"]) == 0
    assert "measured-gap: predicts the measured gap; its file is damaged" in capsys.readouterr().out


def test_predict_names_the_measured_gap_model_and_the_quantity(models_folder, capsys):
    code = main(["predict", "measured-gap", "Si", "Ge", "Si49Ge51", "GaAs", "ZnO", "--csv"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == "formula,measured gap (eV),metal probability"
    assert [line.split(",")[0] for line in lines[1:]] == ["Si", "Ge", "Si49Ge51", "GaAs", "ZnO"]


def test_models_lists_the_named_models_with_their_status(models_folder, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "measured-gap" in out and "pbe-gap" in out
    assert "measured-gap: predicts the measured gap; built from test rows" in out
    assert "pbe-gap: predicts the PBE gap; not built yet: trained on first use" in out


def test_predict_with_a_named_model_checks_formulas_before_any_training(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv(named.MODELS_ENV, str(tmp_path / "empty"))
    code = main(["predict", "pbe-gap", "Si", "Xx2"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error:") and "Xx2" in err
    assert not list((tmp_path / "empty").glob("*.bgm"))


def test_intervals_are_refused_where_a_named_model_has_none(models_folder, capsys):
    # the PBE model has no intervals: refused before it is trained
    assert main(["predict", "pbe-gap", "Si", "--interval", "0.9"]) == 1
    assert "no conformal intervals" in capsys.readouterr().err
    assert not named.model_path("pbe-gap").exists()
    # a measured-gap file without a calibration (the small model) says so
    assert main(["predict", "measured-gap", "Si", "--risk", "0.1"]) == 1
    assert "holds no conformal intervals" in capsys.readouterr().err
    assert main(["predict", "measured-gap", "Si", "--interval", "1.5"]) == 2  # out of range
    assert "between 0 and 1" in capsys.readouterr().err


@pytest.fixture(scope="module")
def calibrated_model(small_model):
    """The small model calibrated on expt_gap rows it was not trained on (held out)."""
    import copy

    from bandgaps.data.tables import load_table
    from bandgaps.models.domain import ApplicabilityDomain

    expt = load_table("matbench-expt-gap")
    train, held = expt.iloc[::15], expt.iloc[7::15]
    X = small_model.transform(train["composition"])
    Xh = small_model.transform(held["composition"])
    gap, lo, hi = small_model.predict_band_features(Xh)
    distance = ApplicabilityDomain(0).fit(X, list(train["composition"])).distance(Xh)
    model = copy.deepcopy(small_model)
    return model.calibrate(train["composition"], X, held["target"], gap, (hi - lo) / 2, distance)


def _unseen_element(model) -> str:
    known = set(model.domain_.elements_)
    return next(el for el in ("Tc", "Pm", "Np", "Pa", "Ac", "Am", "Cm") if el not in known)


def test_calibrated_measured_gap_model_file_keeps_its_sets_and_domain(calibrated_model, tmp_path):
    card = named.card("measured-gap", 300, {"source": "test"}, {})
    loaded, _, _ = load_model(save_model(tmp_path / "c.bgm", calibrated_model, card))
    formulas = ["Si", "GaAs", "ZnO", "Cu", f"{_unseen_element(calibrated_model)}O2"]
    X = calibrated_model.transform(formulas)
    for a, b in zip(
        calibrated_model.intervals_features(X, 0.9).values(),
        loaded.intervals_features(loaded.transform(formulas), 0.9).values(),
        strict=True,
    ):
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float))
    sets = loaded.intervals_features(X, 0.9)
    gap = loaded.predict(formulas)
    assert (sets["lower"] >= 0).all() and (sets["lower"] <= gap + 1e-9).all()
    assert (sets["upper"] >= gap - 1e-9).all()
    assert loaded.intervals_.label == calibrated_model.intervals_.label
    assert loaded.domain_.score_ == calibrated_model.domain_.score_


def test_predict_measured_gap_prints_its_interval_and_flags_an_unseen_element(
    calibrated_model, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv(named.MODELS_ENV, str(tmp_path / "models"))
    card = named.card("measured-gap", 300, {"source": "test rows"}, {})
    save_model(named.model_path("measured-gap"), calibrated_model, card)
    odd = f"{_unseen_element(calibrated_model)}O2"
    code = main(["predict", "measured-gap", "Si", "GaAs", odd, "--interval", "0.8", "--csv"])
    captured = capsys.readouterr()
    assert code == 0
    header = captured.out.splitlines()[0].split(",")
    assert {"lower 0.8", "upper 0.8", "domain score", "in domain"} <= set(header)
    lines = captured.out.splitlines()[1:]
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines]
    # Si: an element, where every training row is a compound; the odd formula: an element
    # no training row had
    assert [r["in domain"] for r in rows] == ["False", "True", "False"]
    warning = captured.err.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: 2 of 3")
    assert "Si (1 element; trained on 2" in warning[0]
    assert f"{odd} (unseen {odd[:2]})" in warning[0]
    # the table names the interval method in its title
    assert main(["predict", "measured-gap", "ZnO"]) == 0
    assert "intervals:" in capsys.readouterr().out


def test_variants_share_an_identical_gate_or_regressor_fit():
    """Variants that differ in one part fit the other part once: same class, parameters, seed
    and rows give the same fitted object; any difference gives a fit of its own."""
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(300, 4))
    y = np.where(X[:, 0] > 0.5, 0.0, 1 + X[:, 1])
    plain = GatedGapModel(regressor_params=SMALL, gate_params=SMALL).fit(X, y)
    residual = GatedGapModel(residual_column=3, regressor_params=SMALL, gate_params=SMALL).fit(X, y)
    assert residual.gate_ is plain.gate_  # the same gate: fitted once
    assert residual.regressor_ is not plain.regressor_  # another target: its own fit
    reseeded = GatedGapModel(regressor_params=SMALL, gate_params=SMALL, random_state=7).fit(X, y)
    assert reseeded.gate_ is not plain.gate_ and reseeded.regressor_ is not plain.regressor_
    fresh = MetalClassifier(SMALL).fit(X, (y == 0).astype(float))
    np.testing.assert_allclose(
        fresh.predict_proba(X), plain.gate_.predict_proba(X)
    )  # sharing gives what a fit of its own would
