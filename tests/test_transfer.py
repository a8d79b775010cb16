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
    card = named._card("measured-gap", "measured gap", 300, {"source": "test"}, {})
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
    card = named._card("measured-gap", "measured gap", 300, {"source": "test"}, {})
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

    card = named._card("measured-gap", "measured gap", 300, {"source": "test"}, {})
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
    card = named._card("measured-gap", "measured gap", 300, {"source": "test rows"}, {})
    save_model(named.model_path("measured-gap"), small_model, card)
    return tmp_path / "models"


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


def test_intervals_are_refused_for_named_models(models_folder, capsys):
    assert main(["predict", "measured-gap", "Si", "--interval", "0.9"]) == 1
    assert "no conformal intervals" in capsys.readouterr().err
