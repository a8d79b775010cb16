"""``bandgaps train`` and ``bandgaps predict`` on small real tables, any numeric target."""

from __future__ import annotations

import pandas as pd
import pytest
from test_cli import run_cli

from bandgaps.cli import main


@pytest.fixture(scope="module")
def small_gap_csv(tmp_path_factory, shared):
    df = pd.read_csv(shared / "data/matbench/mp_gap/train0.csv", keep_default_na=False)
    path = tmp_path_factory.mktemp("data") / "gaps.csv"
    df.sample(300, random_state=0).rename(columns={"target": "gap_eV"}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def gap_model(small_gap_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "gap.model"
    code = main(
        [
            "train",
            "--data",
            str(small_gap_csv),
            "--target",
            "gap_eV",
            "--out",
            str(out),
            "--n-estimators",
            "20",
        ]
    )
    assert code == 0 and out.is_file()
    return out


def test_predict_prints_values_with_sigma(gap_model, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["predict", str(gap_model), "Si", "Ge", "Si49Ge51", "GaAs", "--csv"]) == 0
    table = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert list(table.columns) == [
        "formula",
        "gap_eV",
        "σ",
        "lower 0.9",
        "upper 0.9",
        "domain score",
        "in domain",
    ]
    assert table["formula"].tolist() == ["Si", "Ge", "Si49Ge51", "GaAs"]
    assert (table["σ"] > 0).all() and (table["gap_eV"] >= 0).all()
    assert table["domain score"].between(0, 100).all()


def test_unseen_element_is_flagged_with_one_warning(gap_model, capsys):
    """A formula with an element no training row had is outside the domain: the table says
    so and stderr carries one warning line naming it."""
    from bandgaps.models.persist import load_model

    model, _, _ = load_model(gap_model)
    known = set(model.domain_.elements_)
    unseen = next(el for el in ("Tc", "Pm", "Ac", "Pa", "Np", "Kr", "Xe") if el not in known)
    assert main(["predict", str(gap_model), "GaAs", f"{unseen}O2", "--csv"]) == 0
    captured = capsys.readouterr()
    table = pd.read_csv(pd.io.common.StringIO(captured.out))
    assert table["in domain"].tolist() == [True, False]
    warning = captured.err.strip()
    assert warning.count("\n") == 0 and warning.startswith("warning: 1 of 2")
    assert f"{unseen}O2 (unseen {unseen})" in warning


def test_predict_interval_and_file(gap_model, tmp_path, capsys):
    formulas = tmp_path / "f.csv"
    formulas.write_text("formula,note\nGaAs,x\nNaCl,y\n")
    assert (
        main(["predict", str(gap_model), "--file", str(formulas), "--interval", "0.9", "--csv"])
        == 0
    )
    table = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert (table["lower 0.9"] <= table["gap_eV"]).all()
    assert (table["gap_eV"] <= table["upper 0.9"]).all()


def test_bad_formula_is_one_line(gap_model):
    res = run_cli("predict", str(gap_model), "Si", "Xx2")
    assert res.returncode == 1
    assert res.stderr.strip() == "error: Cannot parse formula 'Xx2' (row 2): unknown element(s) Xx"
    assert "Traceback" not in res.stderr


def test_other_target_and_model(tmp_path, shared, capsys):
    """The k-point length table trains with the boosted model through the same command."""
    kpt = pd.read_csv(shared / "data/jarvis/kpoint_length_unit/val.csv", keep_default_na=False)
    path = tmp_path / "kpt.csv"
    kpt.head(300).to_csv(path, index=False)
    out = tmp_path / "k.model"
    assert (
        main(
            [
                "train",
                "--data",
                str(path),
                "--model",
                "lgbm",
                "--out",
                str(out),
                "--n-estimators",
                "30",
            ]
        )
        == 0
    )
    assert main(["predict", str(out), "Fe", "NaCl", "--csv", "--risk", "0.05"]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = pd.read_csv(
        pd.io.common.StringIO(
            "\n".join(
                lines[lines.index(next(line for line in lines if line.startswith("formula,"))) :]
            )
        )
    )
    assert list(table.columns[:3]) == ["formula", "target", "σ"]
    # the safe length sits above the prediction; a nonsense risk is one error line
    assert (table["safe upper (risk 0.05)"] > table["target"]).all()
    assert main(["predict", str(out), "Fe", "--risk", "2"]) == 2  # a value out of range
    assert "risk must be between 0 and 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["predict", "missing.model", "Si"], "does not exist"),
        (["train", "--data", "nope.csv", "--out", "x.model"], "does not exist"),
        (
            ["train", "--data", "matbench-mp-gap-val", "--target", "gap", "--out", "x.model"],
            "No column 'gap'",
        ),
    ],
)
def test_train_predict_errors(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not list(tmp_path.glob("*.model"))


def test_bad_row_in_training_csv_is_named(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("formula,target\nSi,1.1\nGe,0.7\nQq2,3\n")
    assert main(["train", "--data", str(path), "--out", str(tmp_path / "m.model")]) == 1
    assert "'Qq2' (row 4)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--calibration", "1"], "--calibration must be a fraction"),
        (["--calibration", "-0.5"], "--calibration must be a fraction"),
        (["--n-estimators", "0"], "--n-estimators must be from 1 to 20,000"),
        (["--n-estimators", "99999999999999999999"], "--n-estimators must be from 1 to 20,000"),
        (["--seed", "-1"], "--seed must be from 0"),
        (["--model", "svm"], "Unknown model 'svm'"),
    ],
)
def test_train_options_are_checked_before_any_work(extra, message, tmp_path, capsys):
    # a data set that does not exist: the option error must come first
    args = ["train", "--data", "nope.csv", "--out", str(tmp_path / "m.model"), *extra]
    assert main(args) == 2  # the command line is wrong: exit 2, as for a value unparsed
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("error:")
    assert not list(tmp_path.iterdir())


def test_train_output_path_is_checked_before_training(tmp_path, capsys, small_gap_csv):
    for out, message in [
        (tmp_path, "is a folder"),
        (tmp_path / "missing" / "m.model", "does not exist"),
    ]:
        assert main(["train", "--data", str(small_gap_csv), "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method", "random", "--x", "-0.1"], "--x must be a Ge fraction"),
        (["--method", "random", "--size", "0"], "--size must be 8·n³"),
        (["--method", "random", "--size", "60"], "--size must be 8·n³"),
        (["--method", "random", "--seeds", "0"], "--seeds must be from 1 to 1,000"),
        (["--method", "random", "--seeds", "1000000000000"], "--seeds must be from 1 to 1,000"),
        (["--method", "random", "--size", "32768"], "up to 4,096"),
        (["--max-atoms", "1"], "--max-atoms must be from 2 to 16"),
        (["--method", "magic"], "--method must be"),
        (["--format", "pdb"], "--format must be"),
        (["--model", "megnet-2018", "--fidelity", "exp"], "predicts PBE gaps only"),
    ],
)
def test_supercell_options_are_checked_before_any_work(extra, message, tmp_path, capsys):
    out = tmp_path / "cells"
    assert main(["supercells", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_supercells_out_naming_a_file_is_one_line(tmp_path, capsys):
    existing = tmp_path / "cells.txt"
    existing.write_text("keep me")
    assert main(["supercells", "--out", str(existing)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert existing.read_text() == "keep me"


def test_small_lgbm_stops_early_and_stays_small(small_gap_csv, tmp_path, capsys):
    from bandgaps.models.persist import load_model

    out = tmp_path / "small.model"
    args = ["train", "--data", str(small_gap_csv), "--target", "gap_eV", "--model", "lgbm"]
    assert main([*args, "--out", str(out)]) == 0
    assert out.stat().st_size < 1_000_000
    model, card, _ = load_model(out)
    boosters = model.pipeline_[-1].boosters_ + model.pipeline_[-1].quantile_boosters_
    limit = card.params.get("n_estimators", 3000)
    assert all(b.current_iteration() < limit for b in boosters)  # early stopping took effect


def test_non_finite_targets_are_dropped_and_reported(tmp_path, capsys, small_gap_csv):
    df = pd.read_csv(small_gap_csv, keep_default_na=False)
    df["gap_eV"] = df["gap_eV"].astype(object)
    df.loc[0, "gap_eV"], df.loc[1, "gap_eV"], df.loc[2, "gap_eV"] = "inf", "n/a", ""
    path = tmp_path / "dirty.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "m.model"
    args = ["train", "--data", str(path), "--target", "gap_eV", "--n-estimators", "5"]
    assert main([*args, "--out", str(out)]) == 0
    assert "dropped 3 row(s) whose gap_eV is not a finite number" in capsys.readouterr().out


def test_absurd_amount_is_one_short_line(gap_model):
    res = run_cli("predict", str(gap_model), "Si" + "1" * 9998)
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert "not a finite positive number" in res.stderr and len(res.stderr) < 300
