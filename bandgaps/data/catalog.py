"""The catalog of every data set and model file the project reads from the shared snapshot folder.

Each :class:`Entry` names a file (or a model with its JSON sidecar) relative to the snapshot
root (:func:`bandgaps.config.shared_root`), its sha256, where it came from and what its columns
mean. :func:`load` verifies the checksum and returns a :class:`pandas.DataFrame` whose chemistry
columns hold pymatgen objects (``composition``: :class:`~pymatgen.core.Composition`,
``structure``: :class:`~pymatgen.core.Structure`).

>>> "mp-bandstructure-binaries" in names()
True
>>> get("matbench-mp-gap-val").rows
5714
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bandgaps.cache import cached
from bandgaps.config import progress_enabled, shared_root
from bandgaps.errors import InputError, SnapshotError
from bandgaps.files import sha256_file

log = logging.getLogger(__name__)

MP_JSON = "mp-json"  # pandas "split" JSON of MP rows with Structure dicts (matminer io)
FORMULA_CSV = "formula-csv"  # formula,target table
STRUCTURE = "structure"  # one crystal structure file (POSCAR, CIF)
MODEL = "model"  # Keras HDF5 weights with the JSON sidecar megnet reads

PROVENANCE_SUFFIX = ".provenance.json"


@dataclass(frozen=True)
class Column:
    """One column of a loaded data set: its name, unit and meaning."""

    name: str
    unit: str
    meaning: str


@dataclass(frozen=True)
class Entry:
    """A pinned snapshot: files with checksums, origin and the meaning of its columns."""

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


_MP_COLUMNS = (
    Column("formula", "", "reduced formula of the structure (pymatgen)"),
    Column("composition", "", "pymatgen Composition of the structure"),
    Column("structure", "", "pymatgen Structure as relaxed by MP"),
    Column("band_gap", "eV", "PBE (GGA/GGA+U) band gap from MP's band-structure workflow"),
    Column("e_above_hull", "eV/atom", "energy above the convex hull"),
)
_FORMULA_COLUMNS = (
    Column("formula", "", "chemical formula as given in the source"),
    Column("composition", "", "pymatgen Composition parsed from the formula"),
)
_MATBENCH = "anthony-wang/CrabNet data/matbench_cv/{task}/ at 457b4d4 (Matbench fold 0)"
_JARVIS = (
    "epatyukova/LLM-DFT-input-generation ML_models_for_properties/Kspacing/data/"
    "composition/ at d8b153b"
)
_MEGNET = "materialsvirtuallab/megnet mvl_models/ at f370576 (BSD-3-Clause)"

_ENTRIES: list[Entry] = [
    Entry(
        name="mp-bandstructure-binaries",
        kind=MP_JSON,
        files=(
            (
                "data/mp/mp-bandstructure-binaries-2021-07-23.json.gz",
                "0a43e14ed4681a39108c9df82a21111fbab36287ded0ca622edacd045de878d9",
            ),
        ),
        title="Materials Project binaries with a computed band structure (2021-07-23)",
        source="Materials Project API, summary endpoint: has_props=bandstructure, nelements=2, "
        "energy_above_hull 0-0.01 eV/atom (`bandgaps data fetch mp-bandstructure-binaries`)",
        origin="Exabyte-io/rewotes bandgaps/data/mp-query-exabyte-test_23_07_2021.json.gz at "
        "db11a0e (legacy API query {'has': 'bandstructure'}, binaries, e_above_hull < 0.01)",
        retrieved="2021-07-23",
        rows=5909,
        columns=_MP_COLUMNS,
        notes="Legacy MP API (database version not recorded); no material ids were stored. "
        "Band gaps are PBE/GGA+U from the line-mode band-structure workflow, so they avoid "
        "the loose-k-grid gaps of other MP entries (covariate shift).",
        query={
            "has_props": ["bandstructure"],
            "nelements": [2, 2],
            "energy_above_hull": [0.0, 0.01],
        },
    ),
    Entry(
        name="si-mp-149",
        kind=STRUCTURE,
        files=(
            (
                "data/mp/POSCAR.mp-149_Si",
                "02393d0f6628aeb4afcbb1e88ddc46b2874cf6207c4d15cab8087edb2811cffd",
            ),
        ),
        title="Diamond Si (mp-149), conventional 8-atom cell as relaxed by MP",
        source="Materials Project mp-149 structure",
        origin="Exabyte-io/rewotes bandgaps/data/POSCAR.mp-149_Si at db11a0e",
        retrieved="2021-07-23",
        rows=1,
        columns=_MP_COLUMNS[:3],
    ),
]

_MATBENCH_SHAS = {
    "mp_gap/train0": "54f7bf27ed82bea4573e04e316d8e776539ceea67e63c04e23fb78a533db7884",
    "mp_gap/val0": "6c5e33fd8d1b3a8adfdbb43b04dac79af2db57c0527f004aeed11c42b0488fb2",
    "mp_gap/test0": "ee0adb2327475e07a9ee25e2f46ce29260cb70a6541463d57bff5e0aaac8d40e",
    "mp_e_form/train0": "5e8e1d50dc2cf2041be89e8c7a3f6d334a11a0ee7b693ffc667c34995961db96",
    "mp_e_form/val0": "4768080a91a42090af7c728301dff86f6f6056992e589bd31719b9286bf3cfd6",
    "mp_e_form/test0": "41135ec92285dd31245c2829bb9c6bc7f9b5f1232f382f28590c320143412cbf",
}
_SPLITS = {
    "matbench-mp-gap": (
        "mp_gap",
        {"train": 58814, "val": 5714, "test": 13636},
        Column("target", "eV", "PBE band gap (MP, 2019-04-02)"),
        "Matbench matbench_mp_gap (composition-only form)",
    ),
    "matbench-mp-e-form": (
        "mp_e_form",
        {"train": 72082, "val": 6768, "test": 16268},
        Column("target", "eV/atom", "formation energy per atom (MP)"),
        "Matbench matbench_mp_e_form (composition-only form)",
    ),
}
for _prefix, (_task, _rows, _target, _title) in _SPLITS.items():
    for _split in ("train", "val", "test"):
        _ENTRIES.append(
            Entry(
                name=f"{_prefix}-{_split}",
                kind=FORMULA_CSV,
                files=(
                    (f"data/matbench/{_task}/{_split}0.csv", _MATBENCH_SHAS[f"{_task}/{_split}0"]),
                ),
                title=f"{_title}, fold 0, {_split}",
                source=f"Matbench v0.1 matbench_{_task} via matminer/matbench; "
                "fold 0 of the CrabNet benchmark split",
                origin=_MATBENCH.format(task=_task),
                retrieved="2019-04-02 (MP data) / CrabNet split",
                rows=_rows[_split],
                columns=(*_FORMULA_COLUMNS, _target),
                notes="Entries with E_hull > 150 meV/atom and noble gases removed by Matbench.",
            )
        )

_JARVIS_SHAS = {
    "train": ("33e64271a02464235f373570aa8112aad0ebd9eb8a8724630553a39699613f91", 37209),
    "val": ("9fd09ee53d61d7e0b9ab89d3aa61bdf19605474774268e345a40a5a0fb32bbfc", 4136),
    "test": ("c77c4984ef950739d87ad85606ba31f7b31323308d4c4f8ac1680902d36a4543", 10340),
}
for _split, (_sha, _n) in _JARVIS_SHAS.items():
    _ENTRIES.append(
        Entry(
            name=f"jarvis-kpoint-length-{_split}",
            kind=FORMULA_CSV,
            files=((f"data/jarvis/kpoint_length_unit/{_split}.csv", _sha),),
            title=f"JARVIS-DFT dft_3d converged k-point length, {_split} split",
            source="JARVIS-DFT dft_3d (jarvis-tools figshare download), "
            "property kpoint_length_unit",
            origin=_JARVIS,
            retrieved="k-spacing study split",
            rows=_n,
            columns=(
                *_FORMULA_COLUMNS,
                Column("target", "Å", "converged k-point length (JARVIS automatic scheme)"),
            ),
            notes="train.csv carries leftover 'Unnamed: …' index columns, dropped on load.",
        )
    )

_MEGNET_MODELS = {
    "megnet-2018-band-gap": (
        "models/megnet/mp-2018.6.1/band_gap_regression.hdf5",
        "e149197440863b06e819c3cc11550f7c78eee329b916112dab84d884d21306de",
        "96285e10309b8bc4091ec5c45b784958b3626e3b0d70ace96493717341438be9",
        "MEGNet 2018 band-gap regressor (MP 2018.6.1 non-metals; MAE 0.33 eV)",
    ),
    "megnet-2018-metal-classifier": (
        "models/megnet/mp-2018.6.1/band_classification.hdf5",
        "51ce69de769f5f8164bfe316d027b18d9b04cec7c06f88d451956aa3319ed9e0",
        "e7532faf49026e7384c906c389b5e0f8ef9bf586504ef0ff65e3b42897b96190",
        "MEGNet 2018 metal / non-metal classifier",
    ),
}
_MF_SHAS = {
    "pbe_gllb_hse_exp": [
        (
            "45c39055cca97d790fd96a2147283c3c3a3093bf050adf1342f29e3063a67ea7",
            "939a4fd30a972e53a3c7d7c3debc5524f90084fe51639a1a6488b808c685497d",
        ),
        (
            "23e780e2962259a94c0d1da47a3d1127c6626d784ade7fcdbba8867c12a35a6f",
            "c251decd9abb36baeadff411e285665d79b1293cf027a907fc5ba9a8733a2be9",
        ),
        (
            "fd058c748914aa08322b9f137813792d1278b6d1cfa36c779fefe357f35c9281",
            "939a4fd30a972e53a3c7d7c3debc5524f90084fe51639a1a6488b808c685497d",
        ),
        (
            "9473604cbf6e29d5c48ca29bca90f92335852bfb7992ddb89f93412d0cec298d",
            "939a4fd30a972e53a3c7d7c3debc5524f90084fe51639a1a6488b808c685497d",
        ),
        (
            "a3a03cdef2cad253762208d07f781bc3ea35e8540e4e4ad124078e06681eed3d",
            "939a4fd30a972e53a3c7d7c3debc5524f90084fe51639a1a6488b808c685497d",
        ),
        (
            "2c3eeb115451aaf181cba407a8998a5f73e2bc3781f83ab0cf8849953c2f154c",
            "939a4fd30a972e53a3c7d7c3debc5524f90084fe51639a1a6488b808c685497d",
        ),
    ],
    "pbe_gllb_hse_exp_disorder": [
        (
            "7edc840a77821234878e4b0e9cd60a92f07ae3789e1529853104c7ed4e3e745a",
            "a25e1d830d4ee988d6ba79ae98d919fdda2ba7444e376cca3f0aa5185f1d3341",
        ),
        (
            "3a0e12c48cbe35aa0bc4a8a25383dcbd7defa09fe5b61df8cce7b1a7d0008d58",
            "102bf92e2a01a5bd66dffb5f762b1d7775e4eba3cbbba263731bfc8aaa2f4983",
        ),
        (
            "c9cafeced3fafb45f1c031b1c331e17121b518fa3c5ba1de3df6d4aff1d98cfa",
            "102bf92e2a01a5bd66dffb5f762b1d7775e4eba3cbbba263731bfc8aaa2f4983",
        ),
        (
            "5e94a2f25f2b3018422eceb2ee5fdf079f9a8c1dfda8e609bca7f8216be902ce",
            "102bf92e2a01a5bd66dffb5f762b1d7775e4eba3cbbba263731bfc8aaa2f4983",
        ),
        (
            "18e6a6d19d65d822bc555c09a87ed90c7e674d93461bafc5efee040ac00dc03f",
            "102bf92e2a01a5bd66dffb5f762b1d7775e4eba3cbbba263731bfc8aaa2f4983",
        ),
        (
            "7c534e27e388de5397d8c107797a536bac22feb620f8c04e05178140304aaddd",
            "5734dbf59e29f48749f399d834ad31f03bf58b9bcae8c34ebe605e0a4c76c114",
        ),
    ],
}
for _name, (_path, _sha, _sidecar, _title) in _MEGNET_MODELS.items():
    _ENTRIES.append(
        Entry(
            name=_name,
            kind=MODEL,
            files=((_path, _sha), (_path + ".json", _sidecar)),
            title=_title,
            source="megnet.utils.models.load_model (downloads from the megnet GitHub repository)",
            origin=_MEGNET,
            retrieved="megnet mvl_models at f370576",
        )
    )
for _variant, _pairs in _MF_SHAS.items():
    _label = "disorder" if _variant.endswith("disorder") else "ordered"
    for _i, (_sha, _sidecar) in enumerate(_pairs):
        _path = f"models/megnet/mf_2020/{_variant}/{_i}/best_model.hdf5"
        _ENTRIES.append(
            Entry(
                name=f"megnet-mf-{_label}-{_i}",
                kind=MODEL,
                files=((_path, _sha), (_path + ".json", _sidecar)),
                title=f"Multi-fidelity MEGNet ({_variant}), random split {_i}",
                source="materialsvirtuallab/megnet mvl_models/mf_2020 (Chen et al. 2021)",
                origin=_MEGNET,
                retrieved="megnet mvl_models at f370576",
                notes="Fidelity in structure.state = [k]: 0 PBE, 1 GLLB-SC, 2 HSE, 3 experiment.",
            )
        )

CATALOG: dict[str, Entry] = {entry.name: entry for entry in _ENTRIES}


def names(kind: str | None = None) -> list[str]:
    """Names of the catalog entries, optionally of one kind (``mp-json``, ``model``, …)."""
    return [n for n, e in CATALOG.items() if kind is None or e.kind == kind]


def get(name: str) -> Entry:
    """The :class:`Entry` called ``name``; an unknown name lists the known ones."""
    try:
        return CATALOG[name]
    except KeyError:
        raise InputError(f"Unknown data set {name!r}. Known: {', '.join(CATALOG)}") from None


def verify(name: str) -> Path:
    """Check every file of entry ``name`` against its sha256 and return the main file's path."""
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
    """Verified path of the main file of entry ``name`` (for model weights and raw files)."""
    return verify(name)


def load(name: str, *, use_cache: bool = True) -> pd.DataFrame:
    """Load a catalog data set (or a snapshot written by ``bandgaps data fetch``) as a DataFrame.

    The checksum is verified first. MP snapshots come with ``formula``, ``composition`` and
    ``structure`` columns; formula tables with ``formula``, ``composition`` and ``target``.
    Formulas pymatgen cannot parse are dropped with a warning and listed in
    ``df.attrs["dropped"]``.
    """
    candidate = Path(name)
    if name not in CATALOG and candidate.suffix in {".gz", ".json"} and candidate.is_file():
        return load_snapshot_file(candidate, use_cache=use_cache)
    entry = get(name)
    file = verify(name)
    if entry.kind == MP_JSON:
        df = _cached_mp_frame(file, entry.sha256, use_cache)
    elif entry.kind == FORMULA_CSV:
        df = _read_formula_csv(file)
    elif entry.kind == STRUCTURE:
        df = _read_structure_file(file)
    else:
        raise InputError(
            f"{name!r} is a model file, not a table: use "
            f"bandgaps.data.catalog.path({name!r}) to get its verified path."
        )
    df.attrs["dataset"] = entry.name
    df.attrs["sha256"] = entry.sha256
    return df


def load_snapshot_file(file: str | Path, *, use_cache: bool = True) -> pd.DataFrame:
    """Load an MP snapshot written by :func:`bandgaps.data.mp_query.fetch_snapshot`.

    When the provenance record sits beside the file its checksum is verified too.
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
    df = _cached_mp_frame(file, actual, use_cache)
    df.attrs["dataset"] = str(file)
    df.attrs["sha256"] = actual
    return df


def read_provenance(file: str | Path) -> dict:
    """The provenance record beside a fetched snapshot (``{}`` when there is none)."""
    prov_path = Path(str(file) + PROVENANCE_SUFFIX)
    if not prov_path.is_file():
        return {}
    try:
        return json.loads(prov_path.read_text())
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"Unreadable provenance record {prov_path}: {exc}") from None


def _cached_mp_frame(file: Path, sha: str, use_cache: bool) -> pd.DataFrame:
    frame = cached("mp-frame", {"sha256": sha}, lambda: _read_mp_json(file), enabled=use_cache)
    return frame.copy()


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
