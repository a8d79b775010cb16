"""Si–Ge cells (icet), the pretrained MEGNet models, MEGNet training, weights download."""

from __future__ import annotations

import http.server
import threading
import zipfile
from functools import partial

import numpy as np
import pytest
from pymatgen.core import Composition

from bandgaps.data.structures import read_structure
from bandgaps.errors import InputError, SnapshotError
from bandgaps.structures import alloys


def test_enumeration_counts_and_vegard_volume():
    cells = alloys.enumerated_cells(max_atoms=6)
    # 3 two-atom, 7 four-atom and 33 six-atom Si/Ge decorations of diamond (icet, Hart–Forcade)
    assert cells["n_atoms"].value_counts().sort_index().to_dict() == {2: 3, 4: 7, 6: 33}
    si = cells[(cells["x"] == 0) & (cells["n_atoms"] == 2)]["structure"].iloc[0]
    ge = cells[(cells["x"] == 1) & (cells["n_atoms"] == 2)]["structure"].iloc[0]
    ratio = (ge.volume / si.volume) ** (1 / 3)
    assert ratio == pytest.approx(alloys.A_GE_EXP / alloys.A_SI_EXP, rel=1e-6)
    unscaled = alloys.enumerated_cells(max_atoms=2, scale="none")
    vols = {round(s.volume / len(s), 6) for s in unscaled["structure"]}
    assert len(vols) == 1  # every cell keeps the Si lattice


def test_sqs_random_and_disordered_cells():
    sqs = alloys.sqs_cells([0.25, 0.5], n_steps=300)
    assert sqs["x"].tolist() == [0.25, 0.5] and set(sqs["n_atoms"]) == {64}
    # each x anneals with its own seed: one process gives the cells that two gave
    serial = alloys.sqs_cells([0.25, 0.5], n_steps=300, workers=1)
    assert list(serial["structure"]) == list(sqs["structure"])
    rnd = alloys.random_cells([0.0, 0.5], sizes=(64,), n_seeds=2)
    assert len(rnd) == 4 and rnd["x"].tolist() == [0.0, 0.0, 0.5, 0.5]
    a, b = rnd[rnd["x"] == 0.5]["structure"]
    assert a != b  # different seeds, different arrangements
    dis = alloys.disordered_cell(0.3)
    assert not dis.is_ordered
    assert dis.composition == Composition({"Si": 1.4, "Ge": 0.6})
    with pytest.raises(InputError, match="8·n³"):
        alloys.random_cells([0.5], sizes=(100,))


@pytest.mark.parametrize("fmt", ["cif", "extxyz"])
def test_written_cells_read_back(tmp_path, fmt):
    cells = alloys.enumerated_cells(max_atoms=4)
    paths = alloys.write_cells(cells, tmp_path, fmt=fmt)
    assert len(paths) == len(cells)
    back = read_structure(paths[-1])
    assert back.composition.reduced_formula == cells["formula"].iloc[-1]
    assert not list(tmp_path.glob("*.tmp*"))


@pytest.mark.slow
def test_mf_ensemble_matches_megnet_single_structure_path():
    """Batched predictions with the fidelity as state equal megnet's own predict_structure."""
    from bandgaps.models.megnet import PretrainedEnsemble

    si = alloys.silicon_cell()
    ens = PretrainedEnsemble("megnet-mf")
    ours = ens.predict_members([si, si], "exp")
    assert ours.shape == (6, 2)
    for member, row in zip(ens.members, ours, strict=True):
        s = si.copy()
        s.state = [[3]]
        assert row[0] == pytest.approx(float(member.predict_structure(s)[0]), abs=1e-4)
    mean, std = ens.predict([si], "exp", return_std=True)
    assert std[0] > 0 and mean[0] == pytest.approx(ours[:, 0].mean())


@pytest.mark.slow
def test_ensembles_trace_each_member_once_and_warn_of_nothing(caplog):
    """Every member is traced once per process, whichever ensemble instance calls it, and
    TensorFlow prints no "retracing" warning (it did on the site's pages)."""
    import logging

    from bandgaps.models import megnet
    from bandgaps.models.megnet import PretrainedEnsemble

    cells = list(alloys.enumerated_cells(max_atoms=4)["structure"])
    caplog.set_level(logging.WARNING)
    megnet._TRACED.clear()  # traces of earlier tests (other input types) do not count here
    first = [PretrainedEnsemble(f, batch_size=2) for f in ("megnet-2018", "megnet-mf")]
    again = [PretrainedEnsemble(f, batch_size=2) for f in ("megnet-2018", "megnet-mf")]
    for ens in first:
        ens.predict(cells, fidelity="pbe" if ens.family.name == "megnet-mf" else None)
    traced = len(megnet._TRACED)
    members = sum(len(ens.family.entries) for ens in first)
    assert traced == members == 7  # one per member (the 2018 regressor, six multi-fidelity)
    for ens in again:
        ens.predict(cells, fidelity="pbe" if ens.family.name == "megnet-mf" else None)
    assert len(megnet._TRACED) == traced  # the second instances reuse the traces
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]


@pytest.mark.slow
def test_fidelity_and_disorder_errors():
    from bandgaps.models.megnet import PretrainedEnsemble

    with pytest.raises(InputError, match="Unknown fidelity 'dft'"):
        PretrainedEnsemble("megnet-mf").predict([alloys.silicon_cell()], "dft")
    with pytest.raises(InputError, match="PBE gaps only"):
        PretrainedEnsemble("megnet-2018").predict([alloys.silicon_cell()], "exp")
    with pytest.raises(InputError, match="megnet-mf-disorder"):
        PretrainedEnsemble("megnet-mf").predict([alloys.disordered_cell(0.5)], "pbe")
    with pytest.raises(InputError, match="Unknown MEGNet model"):
        PretrainedEnsemble("megnet-9")
    gaps = PretrainedEnsemble("megnet-mf-disorder").predict(
        [alloys.disordered_cell(x) for x in (0.0, 0.5, 1.0)], "exp"
    )
    assert gaps.shape == (3,) and np.isfinite(gaps).all()


@pytest.mark.slow
def test_megnet_training_path(tmp_path, mp_frame):
    from bandgaps.models.megnet_training import MEGNetRegressor

    nm = mp_frame[mp_frame["band_gap"] > 0]
    small = nm[nm["structure"].map(len) <= 8].iloc[:40]
    train, val = small.iloc[:32], small.iloc[32:]
    model = MEGNetRegressor(epochs=2, nblocks=1, batch_size=16)
    model.fit(
        list(train["structure"]),
        train["band_gap"],
        validation=(list(val["structure"]), val["band_gap"]),
    )
    assert [row["epoch"] for row in model.history_] == [1, 2]
    assert all(np.isfinite(row["val MAE"]) for row in model.history_)
    pred = model.predict(list(val["structure"]))
    assert pred.shape == (8,) and np.isfinite(pred).all()
    path = model.save(tmp_path / "m.h5")
    again = MEGNetRegressor.load(path)
    np.testing.assert_allclose(again.predict(list(val["structure"])), pred, rtol=1e-5)
    with pytest.raises(InputError, match="No trained MEGNet model"):
        MEGNetRegressor.load(tmp_path / "missing.h5")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def weights_server(tmp_path, shared):
    """A stand-in for megnet's download host on 127.0.0.1 serving an mvl_models archive built
    from the pinned 2018 weights (and a broken archive next to it)."""
    root = tmp_path / "www"
    root.mkdir()
    with zipfile.ZipFile(root / "mvl_models.zip", "w") as zf:
        for name in ["band_gap_regression.hdf5", "band_gap_regression.hdf5.json"]:
            zf.write(shared / "models/megnet/mp-2018.6.1" / name, f"mvl_models/mp-2018.6.1/{name}")
    (root / "broken.zip").write_bytes(b"not a zip")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.slow
def test_missing_weights_are_downloaded_with_megnets_downloader(
    weights_server, shared_copy, monkeypatch, tmp_path
):
    from bandgaps.models.weights import weights_file

    shared_copy("data/mp/POSCAR.mp-149_Si")  # a snapshot folder without the model files
    monkeypatch.setenv("BANDGAPS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BANDGAPS_MEGNET_URL", f"{weights_server}/broken.zip")
    with pytest.raises(SnapshotError, match="not a zip archive"):
        weights_file("megnet-2018-band-gap")
    monkeypatch.setenv("BANDGAPS_MEGNET_URL", f"{weights_server}/mvl_models.zip")
    path = weights_file("megnet-2018-band-gap")
    assert path.parent == tmp_path / "cache" / "megnet-weights"
    assert (path.parent / "band_gap_regression.hdf5.json").is_file()
    with pytest.raises(SnapshotError, match="missing"):
        weights_file("megnet-mf-ordered-0")  # not in megnet's archive: snapshot only


@pytest.mark.slow
def test_download_offline_is_a_clear_error(shared_copy, monkeypatch, tmp_path):
    from bandgaps.models.weights import weights_file

    shared_copy("data/mp/POSCAR.mp-149_Si")
    monkeypatch.setenv("BANDGAPS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BANDGAPS_MEGNET_URL", "http://127.0.0.1:9/mvl_models.zip")
    with pytest.raises(SnapshotError, match=r"download from http://127\.0\.0\.1:9"):
        weights_file("megnet-2018-metal-classifier")
