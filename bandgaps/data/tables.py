"""The one place that turns a name or a path into a table: catalog entries, fetched MP
snapshots, a user's CSV or Parquet file, and the data sets the models train on.

* ``load_table(source)`` — any source as a DataFrame with pymatgen objects
  (``composition``; ``structure`` for structure data);
* ``composition_model_table`` / ``snapshot_composition_table`` — one lowest-energy polymorph per
  formula, isolated-atom structures dropped (what composition models learn);
* ``structure_table`` — every polymorph, isolated-atom structures dropped (structure models);
* ``training_table(source, target)`` — formulas and a numeric target, with where they came from.

The CLI, the training code and the analyses all call these, so "which file is this and how is it
read" is decided once.

Examples:
    >>> t = training_table("matbench-expt-gap")
    >>> t.target, len(t.y) == len(t.formulas), t.source["dataset"]
    ('target', True, 'matbench-expt-gap')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bandgaps.cache import Stage
from bandgaps.data import catalog
from bandgaps.data.cleaning import (
    cleaning_report,
    drop_isolated_atoms,
    keep_lowest_energy_polymorph,
)
from bandgaps.data.formulas import numbers_from_text
from bandgaps.errors import InputError

_COMPOSITION_TABLE = Stage("composition-table", __name__)


#: The MP band-structure snapshot the study is built on.
SNAPSHOT = "mp-bandstructure-binaries"

_SNAPSHOT_SUFFIXES = (".json.gz", ".json")
_FORMULA_SUFFIXES = (".csv", ".parquet")


def source_kind(source: str | Path) -> str:
    """What ``source`` names: ``catalog``, ``snapshot`` (fetched MP JSON), ``csv`` or ``parquet``.

    Examples:
        >>> source_kind("matbench-mp-gap-val"), source_kind("my_gaps.csv")
        ('catalog', 'csv')
    """
    text = str(source)
    if text in catalog.CATALOG:
        return "catalog"
    lower = text.lower()
    if lower.endswith(_SNAPSHOT_SUFFIXES):
        return "snapshot"
    for suffix in _FORMULA_SUFFIXES:
        if lower.endswith(suffix):
            return suffix[1:]
    raise InputError(
        f"{text!r} is neither a catalog name nor a file this package reads "
        f"(.csv or .parquet with a 'formula' column, or a fetched .json.gz MP snapshot). "
        f"Catalog names: {', '.join(catalog.names())}"
    )


def load_table(source: str | Path) -> pd.DataFrame:
    """Load a catalog data set, a fetched MP snapshot or a formula CSV/Parquet file.

    Catalog entries and snapshots are checksum-verified; ``attrs["sha256"]`` is the checksum of
    the file read and ``attrs["dataset"]`` its name or path. Formula files must parse in every
    row: the first bad formula is named with its line.
    """
    kind = source_kind(source)
    if kind == "catalog":
        return catalog.load(str(source))
    if kind == "snapshot":
        return catalog.load_snapshot_file(source)
    return _read_formula_file(Path(source), kind)


def _read_formula_file(path: Path, kind: str) -> pd.DataFrame:
    from bandgaps.data.formulas import parse_formulas, read_formula_csv
    from bandgaps.files import sha256_file

    if kind == "csv":
        df = read_formula_csv(path, what="Table")
        first_line = 2  # the header is line 1
    else:
        if not path.is_file():
            raise InputError(f"Table {path} does not exist")
        try:
            df = pd.read_parquet(path)
        except Exception as exc:
            raise InputError(f"Cannot read {path} as Parquet: {type(exc).__name__}") from None
        if "formula" not in df.columns:
            raise InputError(f"{path} has no 'formula' column (columns: {list(df.columns)})")
        df = df.reset_index(drop=True)
        first_line = 1
    comps, _ = parse_formulas(df["formula"], index=df.index + first_line, on_error="raise")
    df.insert(list(df.columns).index("formula") + 1, "composition", comps)
    df.attrs["dataset"] = str(path)
    df.attrs["sha256"] = sha256_file(path)
    return df


def is_mp_snapshot(df: pd.DataFrame) -> bool:
    """An MP snapshot (structures with energies above hull), as opposed to a formula table."""
    return {"structure", "e_above_hull"} <= set(df.columns)


def composition_model_table(df: pd.DataFrame) -> pd.DataFrame:
    """The table composition models train on: isolated-atom structures dropped first, then one
    polymorph (the lowest in energy above hull) per formula. The rules' effect is recorded in
    ``attrs["cleaning"]`` (see ``bandgaps.data.cleaning.cleaning_report``)."""
    return keep_lowest_energy_polymorph(drop_isolated_atoms(df))


def snapshot_composition_table(name: str = SNAPSHOT) -> pd.DataFrame:
    """``composition_model_table`` of a catalog snapshot without its structures, cached by the
    snapshot's checksum (composition models need no structures, and unpickling thousands of
    them costs seconds on every page)."""

    def compute() -> pd.DataFrame:
        table = composition_model_table(catalog.load(name))
        return table.drop(columns=["structure"], errors="ignore")

    catalog.verify(name)
    key = {"snapshot": catalog.get(name).sha256, "rules": "composition_model_table"}
    out = _COMPOSITION_TABLE(key, compute)
    out.attrs.update(dataset=name, sha256=catalog.get(name).sha256)
    return out


def structure_table(name: str = SNAPSHOT) -> pd.DataFrame:
    """An MP snapshot for structure models: every polymorph kept, isolated-atom cells dropped."""
    mp = load_table(name)
    out = drop_isolated_atoms(mp)
    out.attrs["sha256"] = mp.attrs["sha256"]
    out.attrs["dataset"] = mp.attrs.get("dataset", str(name))
    return out


@dataclass
class TrainingTable:
    """Formulas and a numeric target to train on, with where they came from."""

    formulas: list[str]
    y: np.ndarray
    target: str
    source: dict


def training_table(source: str | Path, target: str | None = None) -> TrainingTable:
    """Formulas and targets of any source ``load_table`` reads.

    An MP snapshot is reduced to the composition-model table first. ``target`` defaults to
    ``band_gap`` where the table has one, else ``target``. Rows whose target is not a finite
    number (text, empty, NaN, ±inf) are dropped and counted in ``source``; the CLI says so.
    """
    df = load_table(source)
    info = {"dataset": df.attrs.get("dataset", str(source)), "sha256": df.attrs.get("sha256")}
    if is_mp_snapshot(df):
        df = composition_model_table(df)
        info["cleaning"] = cleaning_report(df)[["rule", "before", "after"]].to_dict("records")
    if df.attrs.get("dropped"):
        info["dropped formulas"] = df.attrs["dropped"]
    if target is None:
        target = "band_gap" if "band_gap" in df.columns else "target"
    if target not in df.columns:
        raise InputError(f"No column {target!r} in {source}; columns: {list(df.columns)}")
    y = numbers_from_text(df[target])
    keep = np.isfinite(y)
    if not keep.any():
        raise InputError(f"Column {target!r} of {source} has no finite numeric values")
    info["rows"] = int(keep.sum())
    info["rows without a finite numeric target"] = int((~keep).sum())
    return TrainingTable(
        formulas=[str(f) for f in df.loc[keep, "formula"]],
        y=y[keep],
        target=target,
        source=info,
    )


__all__ = [
    "SNAPSHOT",
    "TrainingTable",
    "composition_model_table",
    "is_mp_snapshot",
    "load_table",
    "snapshot_composition_table",
    "source_kind",
    "structure_table",
    "training_table",
]
