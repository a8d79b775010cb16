"""The command line under generated input (Hypothesis): formulas, option values, CSV files and
structure files. Whatever the input, a run ends with exit status 0, 1 or 2; a failure prints at
most one line on stderr, starting with ``error:``, never a traceback and never "unexpected"
(the wording of a bug); and a failed run leaves no file behind.

``FUZZ_EXAMPLES`` (the environment variable) scales the number of generated invocations; the
default runs over 5,000 of them.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bandgaps.cli import main

SCALE = float(os.environ.get("FUZZ_EXAMPLES", "1"))
RUNS = {"count": 0}


def examples(n: int) -> settings:
    return settings(
        max_examples=max(1, round(n * SCALE)),
        deadline=None,
        derandomize=True,  # the same examples on every run: a failure reproduces
        suppress_health_check=list(HealthCheck),
        database=None,
    )


def run(args: list[str], workdir: Path) -> tuple[int, str, str]:
    """Run the CLI in-process; check the contract every invocation must keep."""
    before = set(workdir.rglob("*"))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    RUNS["count"] += 1
    stderr = err.getvalue()
    assert code in (0, 1, 2), (args, code, stderr)
    assert "Traceback" not in stderr and "please report" not in stderr, (args, stderr)
    if code != 0:
        lines = stderr.strip().splitlines()
        assert len(lines) <= 1, (args, stderr)
        if lines:
            assert lines[0].startswith("error:"), (args, stderr)
        leftovers = set(workdir.rglob("*")) - before
        assert not leftovers, (args, sorted(map(str, leftovers)))
    return code, out.getvalue(), stderr


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, shared) -> Path:
    df = pd.read_csv(shared / "data/matbench/mp_gap/val0.csv", keep_default_na=False).head(200)
    folder = tmp_path_factory.mktemp("fuzz-model")
    data = folder / "gaps.csv"
    df.to_csv(data, index=False)
    out = folder / "gap.model"
    assert main(["train", "--data", str(data), "--out", str(out), "--n-estimators", "5"]) == 0
    return out


SYMBOLS = ["Si", "Ge", "O", "Na", "Cl", "Fe", "Ga", "As", "Xx", "Q", "e", "H", "Og", "Lr", "D"]
formula_text = st.one_of(
    st.text(max_size=30),
    st.lists(
        st.one_of(
            st.sampled_from(SYMBOLS),
            st.sampled_from(["(", ")", "[", "]", ".", "-", " ", "+", "*", "0", "1e9", "1" * 400]),
            st.integers(-5, 10**6).map(str),
            st.floats(allow_nan=True, allow_infinity=True).map(str),
        ),
        max_size=8,
    ).map("".join),
)


@examples(2800)
@given(formulas=st.lists(formula_text, min_size=1, max_size=3), csv=st.booleans())
def test_predict_any_formula(model_file, workdir, formulas, csv):
    args = ["predict", str(model_file), "--", *formulas]
    if csv:
        args.insert(3, "--csv")
    code, out, _ = run(args, workdir)
    if code == 0:
        assert out.strip()


number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10, 10).map(str),
    st.sampled_from(["", "x", "1e999", "-0", "0.5", "nan", "inf"]),
)


@examples(600)
@given(
    calibration=number,
    interval=number,
    n_estimators=st.one_of(st.integers(-3, 4).map(str), st.sampled_from(["", "x", "2.5"])),
    model=st.sampled_from(["rf", "lgbm", "svm", ""]),
    out=st.sampled_from(["new.model", ".", "missing/dir/m.model", "model.txt"]),
)
def test_train_and_predict_options(
    model_file, workdir, shared, calibration, interval, n_estimators, model, out
):
    data = workdir / "train.csv"
    if not data.exists():
        rows = pd.read_csv(shared / "data/matbench/mp_gap/val0.csv", keep_default_na=False)
        rows.head(40).to_csv(data, index=False)
    target = workdir / out
    args = ["train", "--data", str(data), "--out", str(target), "--model", model]
    args += ["--calibration", calibration, "--n-estimators", n_estimators]
    code, _, _ = run(args, workdir)
    if code == 0:
        target.unlink()
    run(["predict", str(model_file), "Si", "GaAs", "--interval", interval], workdir)


table_cell = st.one_of(formula_text, number, st.just("NaN"), st.just(""))


@examples(600)
@given(
    header=st.sampled_from(["formula,target", "formula", "target", "", "formula,target,extra"]),
    rows=st.lists(st.lists(table_cell, min_size=1, max_size=3), max_size=12),
    raw=st.one_of(st.none(), st.binary(max_size=60)),
)
def test_any_csv_for_predict_and_train(model_file, workdir, header, rows, raw):
    path = workdir / "input.csv"
    if raw is not None:
        path.write_bytes(raw)
    else:
        lines = [header] + [",".join(r).replace("\n", " ") for r in rows]
        path.write_text("\n".join(lines) + "\n")
    try:
        run(["predict", str(model_file), "--file", str(path), "--csv"], workdir)
        out = workdir / "from-csv.model"
        code, _, _ = run(
            ["train", "--data", str(path), "--out", str(out), "--n-estimators", "2"], workdir
        )
        if code == 0:
            out.unlink()
    finally:
        path.unlink()


@examples(350)
@given(
    method=st.sampled_from(["random", "enumerate", "magic"]),
    x=st.lists(st.one_of(st.floats(-2, 2), st.just(float("nan"))), max_size=2),
    size=st.sampled_from([-8, 0, 1, 7, 8, 60]),
    seeds=st.integers(-1, 1),
    max_atoms=st.integers(-1, 3),
    fmt=st.sampled_from(["cif", "extxyz", "pdb"]),
    scale=st.sampled_from(["vegard", "none", "linear"]),
    out_is_file=st.booleans(),
)
def test_supercell_options(workdir, method, x, size, seeds, max_atoms, fmt, scale, out_is_file):
    out = workdir / ("cells.txt" if out_is_file else "cells")
    if out_is_file:
        out.write_text("keep")
    args = ["supercells", "--out", str(out), "--method", method, "--size", str(size)]
    args += ["--seeds", str(seeds), "--max-atoms", str(max_atoms), "--format", fmt]
    args += ["--scale", scale]
    for v in x:
        args += ["--x", repr(v)]
    code, _, _ = run(args, workdir)
    if out_is_file:
        assert out.read_text() == "keep"
        out.unlink()
    elif code == 0:
        import shutil

        shutil.rmtree(out)


POSCAR_LINES = [
    "Si",
    "1.0",
    "5.43 0 0",
    "0 5.43 0",
    "0 0 5.43",
    "Si",
    "2",
    "Direct",
    "0 0 0",
    "0.25 0.25 0.25",
]


@pytest.mark.slow  # a file that happens to parse is predicted: TensorFlow starts
@examples(300)
@given(
    drop=st.sets(st.integers(0, len(POSCAR_LINES) - 1), max_size=3),
    junk=st.lists(st.text(max_size=12), max_size=3),
    suffix=st.sampled_from(["", ".cif", ".xyz", ".vasp"]),
)
def test_any_structure_file_before_tensorflow(workdir, drop, junk, suffix):
    """Damaged structure files: one line each, or a prediction where the damage left a
    readable crystal."""
    lines = [line for i, line in enumerate(POSCAR_LINES) if i not in drop] + junk
    path = workdir / f"POSCAR{suffix}"
    path.write_text("\n".join(lines) + "\n")
    try:
        run(["predict-structure", str(path), "--model", "megnet-2018"], workdir)
    finally:
        path.unlink()


def test_the_fuzzing_ran_thousands_of_invocations():
    """Run last in this module: the generated invocations above add up to at least 5,000 (the
    quick ones alone: 2,800 + 2 × 600 + 2 × 600 + 350)."""
    expected = 5000 * SCALE
    assert RUNS["count"] >= expected, RUNS["count"]
