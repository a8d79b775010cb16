import pytest

from bandgaps.data.formulas import parse_formula, parse_formulas
from bandgaps.errors import InputError


@pytest.mark.parametrize(
    "formula, reduced",
    [("Si", "Si"), ("Si49Ge51", "Si49Ge51"), ("GaAs", "GaAs"), ("Fe2O3", "Fe2O3")],
)
def test_valid_formulas_parse(formula, reduced):
    assert parse_formula(formula).reduced_formula == reduced


@pytest.mark.parametrize(
    "formula, fragment",
    [
        ("", "empty"),
        ("   ", "empty"),
        (None, "empty"),
        ("Xx2", "unknown element"),
        ("si", "invalid formula"),
        ("NaCl)", "invalid"),
        ("Si0", "no atoms"),
        ("Uuo", "Uuo"),
    ],
)
def test_bad_formulas_raise_one_clear_error(formula, fragment):
    with pytest.raises(InputError) as err:
        parse_formula(formula, row=3)
    assert "(row 3)" in str(err.value) and fragment in str(err.value)


def test_parse_many_can_drop_and_report():
    comps, failures = parse_formulas(["Si", "Qq", "Ge"], on_error="drop")
    assert [c is None for c in comps] == [False, True, False]
    assert failures[0][:2] == (1, "Qq")
    with pytest.raises(InputError, match="row 1"):
        parse_formulas(["Si", "Qq"], on_error="raise")


# An exponent past 2**31 makes pandas' C number parser (used by read_csv's type inference and by
# to_numeric) read outside an array: a crash that depends on the memory layout. It crashed the
# CLI fuzz suite in CI. User tables are read as text and converted in Python instead.
OVERFLOWING = "-2.8e2147483649"


def _table_with_overflowing_cells(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text(
        f"formula,target\nSi,1.1\nGe,{OVERFLOWING}\nGaAs,1e-2147483649\n{OVERFLOWING},2\n"
    )
    return path


def test_user_tables_never_reach_pandas_number_parser(tmp_path, monkeypatch):
    from pandas._libs import lib

    from bandgaps.data.formulas import read_formula_csv
    from bandgaps.data.tables import training_table

    def refuse(*args, **kwargs):
        raise AssertionError("a user's cell reached pandas' C number parser")

    monkeypatch.setattr(lib, "maybe_convert_numeric", refuse)
    path = _table_with_overflowing_cells(tmp_path)
    df = read_formula_csv(path)
    assert list(df["formula"]) == ["Si", "Ge", "GaAs", OVERFLOWING]
    with pytest.raises(InputError, match=r"Cannot parse formula '-2\.8e2147483649' \(row 5\)"):
        training_table(path)
    path.write_text(f"formula,target\nSi,1.1\nGe,{OVERFLOWING}\nGaAs,1e-2147483649\nNaN,x\n")
    table = training_table(path)
    assert table.formulas == ["Si", "GaAs"] and list(table.y) == [1.1, 0.0]
    assert table.source["rows without a finite numeric target"] == 2


@pytest.mark.slow  # Python under valgrind: about two minutes
@pytest.mark.skipif(not __import__("shutil").which("valgrind"), reason="valgrind not installed")
def test_reading_an_overflowing_exponent_reads_no_memory_outside_pandas_arrays(tmp_path):
    """The real check behind the one above: valgrind sees no invalid read in pandas' C code
    while a table with such cells is read and its targets converted."""
    import subprocess
    import sys

    path = _table_with_overflowing_cells(tmp_path)
    path.write_text(path.read_text().replace(f"{OVERFLOWING},2\n", "NaN,3\n"))
    script = (
        "import sys; from bandgaps.data.tables import training_table; "
        "t = training_table(sys.argv[1]); print(len(t.y))"
    )
    run = subprocess.run(
        ["valgrind", "--error-exitcode=0", sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "3"
    reports = run.stderr.split("==\n")
    bad = [r for r in reports if "Invalid read" in r and "pandas" in r]
    assert not bad, bad[0][-2000:]
