"""Chemical formulas → pymatgen ``Composition``, with errors that name the row.

pymatgen is lenient: ``"Xx2"`` becomes a dummy species and ``"Si0"`` an empty composition.
Neither is a material, so both are refused here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import numpy as np
from pymatgen.core import Composition
from pymatgen.core.periodic_table import DummySpecies

from bandgaps.errors import InputError


def parse_formula(formula: object, row: object | None = None) -> Composition:
    """Parse one formula into a ``Composition`` of real elements.

    Args:
        formula: the formula's text (anything else is refused with one clear error).
        row: where it came from, named in the error (a row number, a name).

    Returns:
        The ``Composition``.

    Raises:
        InputError: empty, unparsable, an unknown element or an absurd amount.

    Examples:
        >>> parse_formula("Si49Ge51").reduced_formula
        'Si49Ge51'
        >>> parse_formula("Xx2", row=7)
        Traceback (most recent call last):
        ...
        bandgaps.errors.InputError: Cannot parse formula 'Xx2' (row 7): unknown element(s) Xx
    """
    where = f" (row {row})" if row is not None else ""
    if not isinstance(formula, str) or not formula.strip():
        raise InputError(f"Cannot parse formula {_short(formula)}{where}: empty or not text")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            comp = Composition(formula.strip())
    except Exception as exc:  # pymatgen raises ValueError, KeyError, ... depending on the flaw
        detail = str(exc).splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise InputError(f"Cannot parse formula {_short(formula)}{where}: {detail}") from None
    if not comp.valid:
        unknown = ", ".join(
            sorted(str(el.symbol) for el in comp.elements if isinstance(el, DummySpecies))
        )
        raise InputError(
            f"Cannot parse formula {_short(formula)}{where}: unknown element(s) {unknown}"
        )
    if comp.num_atoms <= 0:
        raise InputError(f"Cannot parse formula {_short(formula)}{where}: it contains no atoms")
    if not all(math.isfinite(amount) and amount > 0 for amount in comp.values()):
        raise InputError(
            f"Cannot parse formula {_short(formula)}{where}: an amount is not a finite positive "
            "number"
        )
    return comp


def _short(formula: object, limit: int = 40) -> str:
    """The formula for a message: long ones are cut, so an error stays one readable line."""
    text = repr(formula)
    return text if len(text) <= limit else f"{text[: limit - 5]}…' ({len(text) - 2} characters)"


def parse_formulas(
    formulas: Iterable[object], index: Iterable[object] | None = None, on_error: str = "raise"
) -> tuple[list[Composition | None], list[tuple]]:
    """Parse many formulas (each distinct text once).

    Args:
        formulas: the formulas' texts.
        index: the rows' names in errors (default 0, 1, …).
        on_error: ``"raise"`` stops at the first bad formula; ``"drop"`` puts ``None`` in its
            place.

    Returns:
        ``(compositions, failures)``, the failures as ``(row, formula, reason)``.
    """
    if on_error not in {"raise", "drop"}:
        raise ValueError("on_error must be 'raise' or 'drop'")
    formulas = list(formulas)
    index = list(index) if index is not None else list(range(len(formulas)))
    memo: dict[object, Composition] = {}
    out: list[Composition | None] = []
    failures: list[tuple] = []
    for row, formula in zip(index, formulas, strict=True):
        key = formula if isinstance(formula, str) else None
        if key is not None and key in memo:
            out.append(memo[key])
            continue
        try:
            comp = parse_formula(formula, row=row)
        except InputError as exc:
            if on_error == "raise":
                raise
            failures.append((row, formula, str(exc)))
            out.append(None)
            continue
        if key is not None:
            memo[key] = comp
        out.append(comp)
    return out, failures


def numbers_from_text(values: Iterable[object]) -> np.ndarray:
    """Floats of a column read as text, NaN where a cell is not a number.

    Python's own ``float`` reads each text cell: pandas' ``to_numeric`` hands text to a C
    parser that reads outside an array on an exponent past 2**31 (a crash that depends on
    the memory layout), and a user's table may hold anything.

    Args:
        values: the cells (text, numbers or ``None``), or a numeric array.

    Returns:
        A float array, NaN where a cell is not a number.

    >>> numbers_from_text(["1.5", " 2 ", "", "x", "1e2147483649", "nan", 3, None, "1_0"])
    array([1.5, 2. , nan, nan, inf, nan, 3. , nan, nan])
    """
    if getattr(values, "dtype", None) is not None and np.issubdtype(values.dtype, np.number):
        return np.asarray(values, dtype=float)  # a numeric column: nothing to parse
    return np.array([_number(value) for value in values], dtype=float)


def _number(value: object) -> float:
    # float() also reads "1_0" as 10; a table's cell with "_" is not a number
    if isinstance(value, str) and "_" in value:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def read_formula_csv(file, what: str = "Formula file"):
    """Read a user's CSV with a ``formula`` column; one clear error for a missing, empty,
    unreadable or formula-less file.

    Args:
        file: the CSV's path.
        what: how the messages name the file.

    Returns:
        The table as a ``DataFrame``.
    """
    from pathlib import Path

    import pandas as pd

    file = Path(file)
    if not file.is_file():
        raise InputError(f"{what} {file} does not exist")
    if file.stat().st_size == 0:
        raise InputError(f"{what} {file} is empty")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # keep_default_na=False: "NaN" (sodium nitride) and "NA" are formulas, not missing
            # values; index_col=False: a row with an extra field is an error, not an index;
            # dtype=str: every cell stays text, so pandas never runs its C number parser on a
            # user's cell (an exponent past 2**31, "1e2147483649", makes it read outside an
            # array: the fuzz suite's segfault, with either engine). Numbers are converted by
            # `numbers_from_text`, in Python.
            df = pd.read_csv(
                file,
                keep_default_na=False,
                na_values=[""],
                index_col=False,
                dtype=str,
                engine="python",
            )
    except Exception as exc:
        detail = " ".join(str(exc).split())[:200]
        raise InputError(f"Cannot read {file} as CSV: {detail}") from None
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        raise InputError(f"Cannot read {file} as CSV: some rows have more fields than the header")
    if "formula" not in df.columns:
        raise InputError(f"{file} has no 'formula' column (columns: {list(df.columns)})")
    return df
