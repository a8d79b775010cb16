import gzip
import shutil

import pytest
from pymatgen.core import Composition, Structure

from bandgaps.data import catalog
from bandgaps.data.tables import load_table
from bandgaps.errors import InputError, SnapshotError


def test_catalog_checksums_agree_with_the_shared_sha256sums(shared):
    listed = {}
    for line in (shared / "SHA256SUMS").read_text().splitlines():
        sha, rel = line.split(maxsplit=1)
        listed[rel.strip()] = sha
    in_catalog = {rel: sha for e in catalog.CATALOG.values() for rel, sha in e.files}
    assert in_catalog == listed  # every shared file is catalogued, with the same checksum


def test_every_entry_verifies_against_the_real_snapshots():
    for name in catalog.names():
        assert catalog.verify(name).is_file()


@pytest.mark.parametrize(
    "name", ["matbench-mp-gap-val", "matbench-mp-e-form-val", "jarvis-kpoint-length-val"]
)
def test_formula_tables_load_with_compositions(name):
    df = catalog.load(name)
    assert len(df) == catalog.get(name).rows
    assert list(df.columns) == ["formula", "composition", "target"]
    assert all(isinstance(c, Composition) for c in df["composition"].head(50))
    assert df.attrs["sha256"] == catalog.get(name).sha256


def test_jarvis_train_drops_leftover_index_columns():
    df = catalog.load("jarvis-kpoint-length-train")
    assert list(df.columns) == ["formula", "composition", "target"]
    assert len(df.attrs["dropped_columns"]) == 12
    assert len(df) + len(df.attrs["dropped"]) == 37209


def test_mp_snapshot_loads_with_pymatgen_objects(mp_frame):
    assert len(mp_frame) == 5909
    assert list(mp_frame.columns[:5]) == [
        "formula",
        "composition",
        "structure",
        "band_gap",
        "e_above_hull",
    ]
    assert int((mp_frame["band_gap"] == 0).sum()) == 4249  # as the shared README states
    assert isinstance(mp_frame["structure"].iloc[0], Structure)
    assert (mp_frame["e_above_hull"] < 0.01).all()
    first = mp_frame.iloc[0]
    assert first["composition"].reduced_formula == first["formula"]


def test_structure_entry_loads_diamond_si():
    df = catalog.load("si-mp-149")
    s = df["structure"].iloc[0]
    assert len(s) == 8 and s.composition.reduced_formula == "Si"
    assert s.lattice.a == pytest.approx(5.4687, abs=1e-3)


def test_corrupted_copy_is_refused_with_name_expected_checksum_and_fix(shared_copy):
    rel = catalog.get("matbench-mp-gap-val").path
    root = shared_copy(rel)
    with (root / rel).open("a") as fh:
        fh.write("Si,0.5\n")
    with pytest.raises(SnapshotError) as err:
        catalog.load("matbench-mp-gap-val")
    message = str(err.value)
    assert "matbench-mp-gap-val" in message and str(root / rel) in message
    assert catalog.get("matbench-mp-gap-val").sha256 in message
    assert "restore" in message


def test_missing_file_is_named(shared_copy):
    root = shared_copy()
    with pytest.raises(SnapshotError, match="missing") as err:
        catalog.load("jarvis-kpoint-length-val")
    assert str(root) in str(err.value)


def test_model_entries_give_paths_not_tables():
    assert catalog.path("megnet-2018-band-gap").name == "band_gap_regression.hdf5"
    with pytest.raises(InputError, match="model file"):
        catalog.load("megnet-2018-band-gap")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(InputError, match="mp-bandstructure-binaries"):
        catalog.get("mp-everything")


def test_unreadable_snapshot_file_gives_one_clear_error(tmp_path):
    broken = tmp_path / "broken.json.gz"
    with gzip.open(broken, "wt") as fh:
        fh.write('{"columns": ["band_gap"], "index": [0], "data": [[')
    with pytest.raises(SnapshotError, match="Cannot read MP snapshot"):
        load_table(str(broken))
    empty = tmp_path / "empty.json.gz"
    empty.touch()
    with pytest.raises(InputError, match="empty"):
        load_table(str(empty))


def test_loaded_mp_frame_is_cached_by_checksum(shared_copy, shared):
    rel = catalog.get("mp-bandstructure-binaries").path
    root = shared_copy()
    (root / rel).parent.mkdir(parents=True)
    shutil.copy(shared / rel, root / rel)
    first = catalog.load("mp-bandstructure-binaries")
    second = catalog.load("mp-bandstructure-binaries")
    assert first is not second and first["formula"].equals(second["formula"])


def test_snapshot_without_a_table_is_one_clear_error(tmp_path):
    path = tmp_path / "nothing.json.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("{}")
    with pytest.raises(SnapshotError, match="holds no table"):
        load_table(str(path))
