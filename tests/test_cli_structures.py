"""``bandgaps predict-structure`` and ``bandgaps supercells``."""

from __future__ import annotations

import pandas as pd
import pytest
from test_cli import run_cli

from bandgaps.cli import main


@pytest.mark.slow
def test_predict_structure_mf_exp_prints_gap_with_sigma(shared):
    res = run_cli(
        "predict-structure",
        str(shared / "data/mp/POSCAR.mp-149_Si"),
        "--model",
        "megnet-mf",
        "--fidelity",
        "exp",
        "--csv",
    )
    assert res.returncode == 0, res.stderr
    row = res.stdout.strip().splitlines()[-1].split(",")
    assert row[1] == "Si"
    gap, sigma = float(row[2]), float(row[3])
    assert 0 < gap < 3 and sigma > 0


@pytest.mark.parametrize(
    "content, message",
    [(b"", "empty"), (b"this is not a crystal\n1.0\n", "Cannot read a crystal structure")],
)
def test_broken_structure_file_is_one_line(tmp_path, content, message, capsys):
    bad = tmp_path / "POSCAR_bad"
    bad.write_bytes(content)
    assert main(["predict-structure", str(bad), "--model", "megnet-2018"]) == 1
    err = capsys.readouterr().err
    assert message in err and str(bad) in err and err.count("\n") == 1


def test_unknown_model_and_fidelity(capsys, shared):
    poscar = str(shared / "data/mp/POSCAR.mp-149_Si")
    assert main(["predict-structure", poscar, "--model", "megnet-9"]) == 2
    assert "Unknown MEGNet model" in capsys.readouterr().err
    assert main(["predict-structure", poscar, "--fidelity", "dft"]) == 2
    assert "Unknown fidelity" in capsys.readouterr().err


@pytest.mark.slow
def test_supercells_enumerate_with_predictions(tmp_path, capsys):
    out = tmp_path / "cells"
    assert (
        main(
            [
                "supercells",
                "--method",
                "enumerate",
                "--max-atoms",
                "4",
                "--out",
                str(out),
                "--model",
                "megnet-2018",
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "cells.csv")
    assert len(table) == 10 and len(list(out.glob("*.cif"))) == 10
    assert table["gap_eV"].notna().all() and set(table["n_atoms"]) == {2, 4}


def test_supercells_random_extxyz(tmp_path):
    out = tmp_path / "rnd"
    assert (
        main(
            [
                "supercells",
                "--method",
                "random",
                "--x",
                "0.5",
                "--size",
                "64",
                "--seeds",
                "2",
                "--format",
                "extxyz",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert len(list(out.glob("*.extxyz"))) == 2
    assert main(["supercells", "--method", "nope", "--out", str(out)]) == 2


def test_overlapping_sites_and_unknown_elements_are_one_line(tmp_path, capsys):
    overlapping = tmp_path / "POSCAR_overlap"
    overlapping.write_text(
        "two Si on one spot\n1.0\n5 0 0\n0 5 0\n0 0 5\nSi\n2\nDirect\n0 0 0\n0.01 0 0\n"
    )
    assert main(["predict-structure", str(overlapping), "--model", "megnet-2018"]) == 1
    assert "overlapping atoms" in capsys.readouterr().err
    heavy = tmp_path / "POSCAR_Am"
    heavy.write_text("americium\n1.0\n3.5 0 0\n0 3.5 0\n0 0 3.5\nAm\n1\nDirect\n0 0 0\n")
    assert main(["predict-structure", str(heavy), "--model", "megnet-2018"]) == 1
    err = capsys.readouterr().err
    assert "up to Z = 94" in err and err.count("\n") == 1
