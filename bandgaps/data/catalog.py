"""The catalog of every data set and model file the project reads from the shared snapshot folder.

The entries are data, in ``catalog.yaml`` beside this module. Each ``Entry`` names a
file (or a model with its JSON sidecar) relative to the snapshot root
(``bandgaps.config.shared_root``), its sha256, where it came from and what its columns mean.
``load`` verifies the checksum and returns a ``pandas.DataFrame`` whose chemistry
columns hold pymatgen objects (``composition``: ``Composition``,
``structure``: ``Structure``).

Examples:
    >>> "mp-bandstructure-binaries" in names()
    True
    >>> get("matbench-mp-gap-val").rows
    5714
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from bandgaps.cache import Stage
from bandgaps.config import progress_enabled, shared_root
from bandgaps.errors import InputError, SnapshotError
from bandgaps.files import sha256_file

_FORMULA_TABLE = Stage("formula-table", __name__)
_MP_FRAME = Stage("mp-frame", __name__)


MP_JSON = "mp-json"  # pandas "split" JSON of MP rows with Structure dicts (matminer io)
FORMULA_CSV = "formula-csv"  # formula,target table
STRUCTURE = "structure"  # one crystal structure file (POSCAR, CIF)
MODEL = "model"  # Keras HDF5 weights with the JSON sidecar megnet reads
TABLE = "table"  # a plain CSV table (no formulas to parse): published scores, predictions

PROVENANCE_SUFFIX = ".provenance.json"


@dataclass(frozen=True)
class Column:
    """One column of a loaded data set.

    Attributes:
        name: the column's name.
        unit: its unit ('' when none).
        meaning: what it holds.
    """

    name: str
    unit: str
    meaning: str


@dataclass(frozen=True)
class Entry:
    """A pinned snapshot: files with checksums, origin and the meaning of its columns.

    Attributes:
        name: what the CLI and the code call it.
        kind: ``mp-json``, ``formula-csv``, ``model``, …
        files: ``(path relative to the snapshot root, sha256)`` pairs, the main file first.
        title: one line.
        source: the live source a user with network access regenerates it from.
        origin: where this exact snapshot was taken from.
        retrieved: when.
        rows: its rows (data sets).
        columns: the meaning of its columns.
        notes: anything else a user should know.
        query: the live query's criteria (Materials Project entries).
    """

    name: str
    kind: str
    files: tuple[tuple[str, str], ...]  # (path relative to the snapshot root, sha256); main first
    title: str
    source: str  # the live source a user with network access regenerates it from
    origin: str  # where this exact snapshot was taken from
    retrieved: str
    rows: int | None = None
    columns: tuple[Column, ...] = ()
    notes: str = ""
    query: dict = field(default_factory=dict)  # live-query criteria (MP entries)

    @property
    def path(self) -> str:
        """Path of the main file relative to the snapshot root."""
        return self.files[0][0]

    @property
    def sha256(self) -> str:
        """Expected sha256 of the main file."""
        return self.files[0][1]


CATALOG_FILE = Path(__file__).with_name("catalog.yaml")


def _read_catalog(file: Path = CATALOG_FILE) -> dict[str, Entry]:
    """Build the entries from ``catalog.yaml`` (data lives in data, not in code)."""
    raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    entries: dict[str, Entry] = {}
    for item in raw["entries"]:
        entry = Entry(
            name=item["name"],
            kind=item["kind"],
            files=tuple((f["path"], f["sha256"]) for f in item["files"]),
            title=item["title"],
            source=item["source"],
            origin=item["origin"],
            retrieved=str(item["retrieved"]),
            rows=item.get("rows"),
            columns=tuple(
                Column(c["name"], c.get("unit", ""), c["meaning"]) for c in item.get("columns", [])
            ),
            notes=item.get("notes", ""),
            query=item.get("query", {}),
        )
        if entry.name in entries:
            raise ValueError(f"{file}: duplicate catalog entry {entry.name!r}")
        entries[entry.name] = entry
    return entries


CATALOG: dict[str, Entry] = _read_catalog()


def names(kind: str | None = None) -> list[str]:
    """Names of the catalog entries.

    Args:
        kind: only entries of this kind (``mp-json``, ``model``, …).

    Returns:
        The names, in catalog order.
    """
    return [n for n, e in CATALOG.items() if kind is None or e.kind == kind]


def get(name: str) -> Entry:
    """The ``Entry`` called ``name``.

    Args:
        name: a catalog name.

    Returns:
        The entry.

    Raises:
        InputError: an unknown name, with the known ones.
    """
    try:
        return CATALOG[name]
    except KeyError:
        raise InputError(f"Unknown data set {name!r}. Known: {', '.join(CATALOG)}") from None


def verify(name: str) -> Path:
    """Check every file of entry ``name`` against its sha256.

    Args:
        name: a catalog name.

    Returns:
        The main file's path.

    Raises:
        SnapshotError: a missing file or a checksum mismatch, with the fix.
    """
    entry = get(name)
    root = shared_root()
    for rel, expected in entry.files:
        path = root / rel
        if not path.is_file():
            raise SnapshotError(
                f"Snapshot file missing for {name!r}: {path}. Restore the shared snapshot folder "
                f"(its SHA256SUMS lists every file) or point BANDGAPS_SHARED at a complete copy."
            )
        actual = sha256_file(path)
        if actual != expected:
            raise SnapshotError(
                f"Checksum mismatch for {name!r}: {path} has sha256 {actual}, expected {expected}. "
                "The file is corrupt or a different version: restore it from the pinned snapshot "
                "(`sha256sum -c SHA256SUMS` in the shared folder shows which files differ)."
            )
    return root / entry.path


def path(name: str) -> Path:
    """Verified path of the main file of entry ``name`` (for model weights and raw files).

    Args:
        name: a catalog name.

    Returns:
        The main file's path, its checksum verified.
    """
    return verify(name)


def load(name: str) -> pd.DataFrame:
    """Load the catalog data set ``name`` as a DataFrame (files and other sources:
    ``bandgaps.data.tables.load_table``).

    The checksum is verified first. MP snapshots come with ``formula``, ``composition`` and
    ``structure`` columns; formula tables with ``formula``, ``composition`` and ``target``.
    Formulas pymatgen cannot parse are dropped with a warning and listed in
    ``df.attrs["dropped"]``.

    Args:
        name: a catalog name.

    Returns:
        The data set.
    """
    entry = get(name)
    file = verify(name)
    if entry.kind == MP_JSON:
        df = _cached_mp_frame(file, entry.sha256)
    elif entry.kind == FORMULA_CSV:
        df = _memo(
            ("formula-table", entry.sha256),
            lambda: _FORMULA_TABLE(
                {"sha256": entry.sha256},
                lambda: _read_formula_csv(file),
            ),
        )
    elif entry.kind == STRUCTURE:
        df = _read_structure_file(file)
    elif entry.kind == TABLE:
        df = _memo(("table", entry.sha256), lambda: pd.read_csv(file))
    else:
        raise InputError(
            f"{name!r} is a model file, not a table: use "
            f"bandgaps.data.catalog.path({name!r}) to get its verified path."
        )
    df.attrs["dataset"] = entry.name
    df.attrs["sha256"] = entry.sha256
    return df


def load_snapshot_file(file: str | Path) -> pd.DataFrame:
    """Load an MP snapshot written by ``bandgaps.data.mp_query.fetch_snapshot``.

    When the provenance record sits beside the file its checksum is verified too, and the
    record is kept in ``df.attrs["provenance"]``.

    Args:
        file: the ``.json.gz`` snapshot.

    Returns:
        The data set, as ``load`` returns a catalog one.
    """
    file = Path(file)
    if not file.is_file():
        raise InputError(f"No such snapshot file: {file}")
    if file.stat().st_size == 0:
        raise InputError(f"Snapshot file is empty: {file}")
    actual = sha256_file(file)
    prov = read_provenance(file)
    if prov and prov.get("sha256") and prov["sha256"] != actual:
        raise SnapshotError(
            f"Checksum mismatch for {file}: sha256 {actual}, provenance record "
            f"says {prov['sha256']}. Re-run `bandgaps data fetch` to rewrite it."
        )
    df = _cached_mp_frame(file, actual)
    df.attrs["dataset"] = str(file)
    df.attrs["sha256"] = actual
    df.attrs["provenance"] = prov
    return df


def read_provenance(file: str | Path) -> dict:
    """The provenance record beside a fetched snapshot.

    Args:
        file: the snapshot.

    Returns:
        The record (``{}`` when there is none).
    """
    prov_path = Path(str(file) + PROVENANCE_SUFFIX)
    if not prov_path.is_file():
        return {}
    try:
        return json.loads(prov_path.read_text())
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"Unreadable provenance record {prov_path}: {exc}") from None


_MEMO: dict[tuple, pd.DataFrame] = {}


def _memo(key: tuple, load) -> pd.DataFrame:
    """Load a table once per process; every caller gets its own copy of the frame (the
    pymatgen objects in it are shared and must not be modified in place)."""
    if key not in _MEMO:
        _MEMO[key] = load()
    df = _MEMO[key].copy()
    df.attrs = dict(_MEMO[key].attrs)
    return df


def _cached_mp_frame(file: Path, sha: str) -> pd.DataFrame:
    # a fresh frame on every call, so callers may add or drop columns freely
    return _memo(
        ("mp-frame", sha),
        lambda: _MP_FRAME({"sha256": sha}, lambda: _read_mp_json(file)),
    )


def _read_mp_json(file: Path) -> pd.DataFrame:
    """Read matminer's split-JSON of MP rows and standardise the column names."""
    from matminer.utils.io import load_dataframe_from_json
    from pymatgen.core import Structure

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = load_dataframe_from_json(str(file), pbar=progress_enabled())
    except Exception as exc:
        raise SnapshotError(
            f"Cannot read MP snapshot {file}: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(raw, pd.DataFrame) or raw.empty:
        raise SnapshotError(f"MP snapshot {file} holds no table of materials")
    raw = raw.rename(columns={"final_structure": "structure", "energy_above_hull": "e_above_hull"})
    missing = {"structure", "band_gap", "e_above_hull"} - set(raw.columns)
    if missing:
        raise SnapshotError(f"MP snapshot {file} lacks the column(s) {sorted(missing)}")
    bad = [
        i for i, s in zip(raw.index, raw["structure"], strict=True) if not isinstance(s, Structure)
    ]
    if bad:
        raise SnapshotError(f"MP snapshot {file}: rows {bad[:5]} hold no decodable Structure")
    comps = [s.composition for s in raw["structure"]]
    front = pd.DataFrame(
        {"formula": [c.reduced_formula for c in comps], "composition": comps}, index=raw.index
    )
    df = pd.concat([front, raw], axis=1)
    ordered = ["material_id", "formula", "composition", "structure", "band_gap", "e_above_hull"]
    cols = [c for c in ordered if c in df.columns] + [c for c in df.columns if c not in ordered]
    return df[cols].reset_index(drop=True)


def _read_formula_csv(file: Path) -> pd.DataFrame:
    """Read a ``formula,target`` table, drop leftover index columns, parse the formulas."""
    from bandgaps.data.formulas import parse_formulas

    try:
        # keep_default_na=False: "NaN" (sodium nitride) and "NA" are formulas, not missing values
        raw = pd.read_csv(file, keep_default_na=False, na_values=[""])
    except Exception as exc:
        raise SnapshotError(f"Cannot read table {file}: {type(exc).__name__}: {exc}") from None
    leftovers = [c for c in raw.columns if c.startswith("Unnamed")]
    raw = raw.drop(columns=leftovers)
    if not {"formula", "target"} <= set(raw.columns):
        raise SnapshotError(
            f"Table {file} needs 'formula' and 'target' columns, has {list(raw.columns)}"
        )
    comps, failures = parse_formulas(raw["formula"], index=raw.index, on_error="drop")
    raw.insert(1, "composition", comps)
    if failures:
        for row, formula, _ in failures:
            warnings.warn(
                f"{file.name}: dropped unparsable formula {formula!r} (row {row})", stacklevel=3
            )
        raw = raw[raw["composition"].notna()].reset_index(drop=True)
    raw.attrs["dropped"] = [{"row": r, "formula": f, "reason": why} for r, f, why in failures]
    raw.attrs["dropped_columns"] = leftovers
    return raw


def _read_structure_file(file: Path) -> pd.DataFrame:
    from bandgaps.data.structures import read_structure

    structure = read_structure(file)
    comp = structure.composition
    return pd.DataFrame(
        {"formula": [comp.reduced_formula], "composition": [comp], "structure": [structure]}
    )
