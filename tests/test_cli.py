"""The ``bandgaps`` command, called in-process through ``main`` and as a real subprocess."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mp_standin import GOOD_KEY, StandInMP, documents_from_snapshot

from bandgaps.cli import main
from bandgaps.data import catalog

BANDGAPS = [sys.executable, "-m", "bandgaps.cli"]


def run_cli(*args, env=None, timeout=120):
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [*BANDGAPS, *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


def test_data_list_names_every_entry(capsys):
    assert main(["data", "list"]) == 0
    shown = capsys.readouterr().out
    assert all(
        name in shown
        for name in [
            "mp-bandstructure-binaries",
            "matbench-mp-gap-test",
            "jarvis-kpoint-length-train",
            "megnet-mf-ordered-5",
        ]
    )


def test_data_info_prints_rows_columns_checksum_and_provenance(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["data", "info", "mp-bandstructure-binaries"]) == 0
    shown = capsys.readouterr().out
    entry = catalog.get("mp-bandstructure-binaries")
    for fragment in [
        "5,909",
        "4,249 of 5,909",
        entry.sha256,
        "(verified)",
        "band_gap [eV]",
        "e_above_hull [eV/atom]",
        "2021-07-23",
        "has_props",
        "rewotes",
    ]:
        assert fragment in shown, fragment


def test_data_verify_checks_every_entry(capsys):
    assert main(["data", "verify"]) == 0
    assert f"{len(catalog.names())} catalog entries verified" in capsys.readouterr().out


def test_corrupted_snapshot_gives_one_line_and_no_traceback(shared_copy):
    rel = catalog.get("matbench-mp-gap-val").path
    root = shared_copy(rel)
    (root / rel).write_text("formula,target\nSi,0.6\n")
    result = run_cli("data", "info", "matbench-mp-gap-val", env={"BANDGAPS_SHARED": str(root)})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Checksum mismatch")
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_shared_folder_is_one_clear_line(tmp_path):
    result = run_cli("data", "info", "si-mp-149", env={"BANDGAPS_SHARED": str(tmp_path / "x")})
    assert result.returncode == 1
    assert result.stderr.startswith("error: Snapshot folder not found")
    assert "Traceback" not in result.stderr


def test_fetch_offline_fails_within_seconds_with_a_clear_message(tmp_path):
    start = time.monotonic()
    result = run_cli(
        "data",
        "fetch",
        "--out",
        str(tmp_path / "x.json.gz"),
        "--endpoint",
        "http://127.0.0.1:9/",
        env={"MP_API_KEY": GOOD_KEY},
    )
    assert time.monotonic() - start < 60  # includes interpreter start-up
    assert result.returncode == 1 and "Cannot reach" in result.stderr
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == []


def test_fetch_without_key_explains_how_to_get_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MP_API_KEY"}
    result = subprocess.run(
        [*BANDGAPS, "data", "fetch", "--out", str(tmp_path / "x.json.gz")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    assert "MP_API_KEY" in result.stderr and "materialsproject.org" in result.stderr


def test_fetch_refuses_data_sets_without_a_live_query(capsys):
    assert main(["data", "fetch", "matbench-mp-gap-val"]) == 1
    assert "no live query" in capsys.readouterr().err


def test_fetch_through_the_cli_and_inspect_the_result(mp_frame, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MP_API_KEY", GOOD_KEY)
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "live.json.gz"
    with StandInMP(documents_from_snapshot(mp_frame.head(5))) as mp:
        code = main(
            [
                "data",
                "fetch",
                "--out",
                str(out),
                "--endpoint",
                mp.url,
                "--chunk-size",
                "2",
                "--nelements",
                "1",
                "3",
                "--max-e-above-hull",
                "0.05",
            ]
        )
        sent = mp.summary_requests()[0]
    assert code == 0 and out.is_file()
    assert (sent["nelements_min"], sent["nelements_max"]) == ("1", "3")
    assert float(sent["energy_above_hull_max"]) == 0.05 and sent["has_props"] == "bandstructure"
    assert "5 rows" in capsys.readouterr().out
    assert main(["data", "info", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "provenance.db_version" in shown and "provenance.rows" in shown


@pytest.mark.parametrize("args", [["data", "info"], ["data", "nonsense"]])
def test_usage_errors_exit_2(args, capsys):
    assert main(args) == 2


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("bandgaps")
    assert script.exists()
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "data" in result.stdout
