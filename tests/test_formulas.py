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
