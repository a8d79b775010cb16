"""Issue 23's remaining bad-input cases, each reproduced: one clear line (exit 1 for input that
cannot be used, 2 for a wrong command line), checked before the work, and nothing left behind."""

import json
import zipfile

import pandas as pd
import pytest

from bandgaps import cache
from bandgaps.cli import main
from bandgaps.files import atomic_folder

SILICON = "Si2\n1.0\n5.43 0 0\n0 5.43 0\n0 0 5.43\nSi\n2\ndirect\n0 0 0\n0.25 0.25 0.25\n"


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1, err
    assert "unexpected" not in err and "Traceback" not in err
    return err


@pytest.mark.parametrize("variable", ["BANDGAPS_CACHE", "BANDGAPS_MODELS"])
def test_a_file_where_a_settings_folder_belongs_is_named(variable, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    for value in (blocker, blocker / "below"):
        monkeypatch.setenv(variable, str(value))
        assert main(["models"]) == 1
        err = one_line(capsys)
        assert variable in err and str(blocker) in err


def test_a_cache_entry_that_is_a_folder_or_another_type_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("BANDGAPS_CACHE", str(tmp_path))
    stage = cache.stage("test-bad-entry", __name__)
    assert stage({"x": 1}, lambda: [1, 2]) == [1, 2]
    path = stage.path({"x": 1})
    path.unlink()
    path.mkdir()  # a folder where the entry was
    (path / "inside").write_text("x")
    assert stage({"x": 1}, lambda: [3]) == [3] and path.is_file()
    # an entry replaced by a value of another type (its record names the type it was written as)
    import pickle

    path.write_bytes(pickle.dumps({"not": "a list"}))
    assert stage({"x": 1}, lambda: [4]) == [4]
    assert json.loads(path.with_suffix(".json").read_text())["type"] == "builtins.list"


def test_an_integer_formula_column_in_parquet_is_refused_before_the_screen(tmp_path, capsys):
    table = tmp_path / "numbers.parquet"
    pd.DataFrame({"formula": [1, 2, 3]}).to_parquet(table)
    out = tmp_path / "out"
    assert main(["screen", str(table), "--out", str(out), "-m", "pbe-gap"]) == 1
    assert "holds int64 values, not text formulas" in one_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("POSCAR_Xx", SILICON.replace("\nSi\n", "\nXx\n"), "unknown element(s) Xx"),
        (
            "negative.cif",
            "data_Si\n_cell_length_a -5.43\n_cell_length_b 5.43\n_cell_length_c 5.43\n"
            "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
            "_symmetry_space_group_name_H-M 'P 1'\nloop_\n_atom_site_label\n"
            "_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
            "_atom_site_fract_z\nSi1 Si 0 0 0\nSi2 Si 0.25 0.25 0.25\n",
            "zero or negative",
        ),
        ("POSCAR_flat", SILICON.replace("0 0 5.43", "0 0 0"), "degenerate"),
    ],
)
def test_broken_structures_are_one_line_before_tensorflow(name, text, message, tmp_path, capsys):
    path = tmp_path / name
    path.write_text(text)
    assert main(["predict-structure", str(path), "--model", "megnet-2018"]) == 1
    assert message in one_line(capsys)


def test_screen_inputs_past_their_ceilings_are_refused_from_the_directory(tmp_path, capsys):
    from bandgaps.screening.sources import MAX_STRUCTURE_BYTES, open_source

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.cif", b" " * (MAX_STRUCTURE_BYTES + 1))
        zf.writestr("POSCAR_Si", SILICON)
    assert bomb.stat().st_size < 1 << 20  # small on disk
    out = tmp_path / "out"
    assert main(["screen", str(bomb), "--out", str(out), "-m", "megnet-2018"]) == 1
    assert "big.cif holds 16,777,217 bytes" in one_line(capsys) and not out.exists()
    xyz = tmp_path / "huge.xyz"
    xyz.write_text("99999999999\ncomment\nSi 0 0 0\n")
    assert main(["screen", str(xyz), "--out", str(out), "-m", "megnet-2018"]) == 1
    assert "a frame of 99,999,999,999 atoms" in one_line(capsys)
    # files named as pymatgen names POSCARs (Si.poscar, Ge_POSCAR.txt) are structures here too
    folder = tmp_path / "cells"
    folder.mkdir()
    for name in ("Si.poscar", "Ge_POSCAR.txt", "notes.txt"):
        (folder / name).write_text(SILICON)
    src = open_source(folder)
    assert src.n_rows == 2 and src.ignored == ["notes.txt"]


def test_supercells_replace_their_own_folder_whole_and_refuse_others(tmp_path, capsys):
    out = tmp_path / "cells"
    assert main(["supercells", "--max-atoms", "4", "--out", str(out)]) == 0
    assert len(list(out.glob("*.cif"))) == 10
    assert main(["supercells", "--max-atoms", "2", "--out", str(out)]) == 0
    table = pd.read_csv(out / "cells.csv")
    assert sorted(p.name for p in out.glob("*.cif")) == sorted(table["file"])  # no stale cell
    (out / "mine.txt").write_text("keep me")
    capsys.readouterr()
    assert main(["supercells", "--max-atoms", "2", "--out", str(out)]) == 2
    assert "did not write" in one_line(capsys) and (out / "mine.txt").read_text() == "keep me"


def test_a_failed_folder_write_leaves_nothing(tmp_path):
    target = tmp_path / "cells"
    with pytest.raises(RuntimeError), atomic_folder(target) as folder:
        (folder / "a.cif").write_text("x")
        raise RuntimeError("stopped")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--nelements", "-1", "100"], "--nelements takes a min and a max"),
        (["--nelements", "3", "2"], "--nelements takes a min and a max"),
        (["--max-e-above-hull", "-1"], "--max-e-above-hull is in eV/atom"),
        (["--chunk-size", "0"], "--chunk-size must be from 1"),
        (["--out", "snapshot.csv"], "ends with .json.gz"),
    ],
)
def test_fetch_options_are_checked_before_the_key(extra, message, monkeypatch, capsys):
    monkeypatch.delenv("MP_API_KEY", raising=False)  # the key's absence must not come first
    assert main(["data", "fetch", *extra]) == 2
    assert message in one_line(capsys)


def test_help_shows_no_type_for_flags_and_no_doubled_percent(capsys):
    assert main(["predict", "--help"]) == 0
    shown = capsys.readouterr().out
    assert "--help" in shown and "<bool>" not in shown
    assert "95 %" in shown and "%%" not in shown
