"""``bandgaps screen`` on real Dask clusters on 127.0.0.1: partitions, resume after a killed
driver, a worker killed mid-run, bad rows, and a separately started scheduler and worker."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli import run_cli

from bandgaps.cli import main
from bandgaps.errors import InputError
from bandgaps.screening import chemical_space, open_source, screen
from bandgaps.screening.engine import read_screen
from bandgaps.screening.predictors import predict_partition, resolve_models
from bandgaps.screening.sources import Partition

ELEMENTS = "Li Na K Mg Ca Al Ga In Si Ge Sn Zn Cu Ti Fe N P As O S Se F Cl Br I".split()  # noqa: SIM905


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, shared):
    """A random forest of 20 trees on 300 real PBE gaps: fast enough to screen thousands."""
    df = pd.read_csv(shared / "data/matbench/mp_gap/train0.csv", keep_default_na=False)
    folder = tmp_path_factory.mktemp("screen-model")
    data = folder / "gaps.csv"
    df.sample(300, random_state=0).rename(columns={"target": "gap"}).to_csv(data, index=False)
    out = folder / "gap.bgm"
    args = ["train", "--data", str(data), "--target", "gap", "--out", str(out)]
    assert main([*args, "--n-estimators", "20"]) == 0
    return out


@pytest.fixture(scope="module")
def formulas(tmp_path_factory) -> Path:
    """40,000 generated formulas with three bad rows in known places."""
    items = chemical_space(ELEMENTS, 3, 3)[:40_000]
    items[5], items[777], items[30_001] = "", "Qq2", "Og2"
    path = tmp_path_factory.mktemp("screen-input") / "space.csv"
    pd.DataFrame({"formula": items, "tag": [f"c{i}" for i in range(len(items))]}).to_csv(
        path, index=False
    )
    return path


def cli(args: list[str]) -> tuple[int, str, str]:
    result = run_cli(*args, timeout=300)
    return result.returncode, result.stdout, result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _exactly_once(out: Path, n_rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    predictions, errors = read_screen(out)
    rows = np.sort(np.concatenate([predictions["row"], errors["row"]]))
    assert np.array_equal(rows, np.arange(n_rows)), "every input row exactly once"
    return predictions, errors


# sources --------------------------------------------------------------------------------------


def test_partitions_of_csv_and_parquet_are_the_same_rows(tmp_path, formulas):
    frame = pd.read_csv(formulas, keep_default_na=False)[:2500]
    frame.to_parquet(tmp_path / "f.parquet")
    frame.to_csv(tmp_path / "f.csv", index=False)
    for name in ("f.parquet", "f.csv"):
        src = open_source(tmp_path / name, id_column="tag")
        parts = list(src.partitions(1000))
        assert [(p.index, p.start, len(p)) for p in parts] == [(0, 0, 1000), (1, 1000, 1000),
                                                               (2, 2000, 500)]  # fmt: skip
        assert parts[1].items[0] == frame["formula"][1000] and parts[2].ids[-1] == "c2499"
        assert [p.index for p in src.partitions(1000, skip={0, 2})] == [1]


def test_bad_inputs_fail_before_work(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "noformula.csv").write_text("name,gap\nSi,1\n")
    (tmp_path / "ragged.csv").write_text("formula\nSi\nGe,1,2\n")
    (tmp_path / "notes.txt").write_text("hello")
    cases = {
        "missing.csv": "does not exist",
        "empty.csv": "is empty",
        "noformula.csv": "has no column 'formula'",
        "ragged.csv": "Cannot read the formula table",
        "notes.txt": "give a formula table",
    }
    for name, message in cases.items():
        with pytest.raises(InputError, match=message):
            open_source(tmp_path / name)


def test_structure_collections(tmp_path):
    from bandgaps.structures.alloys import silicon_cell

    poscar = silicon_cell().to(fmt="poscar")
    cif = silicon_cell().to(fmt="cif")
    folder = tmp_path / "cells"
    folder.mkdir()
    (folder / "POSCAR_si").write_text(poscar)
    (folder / "si.cif").write_text(cif)
    (folder / "cells.csv").write_text("a,b\n")
    src = open_source(folder)
    assert src.kind == "structures" and src.n_rows == 2 and src.ignored == ["cells.csv"]
    with zipfile.ZipFile(tmp_path / "cells.zip", "w") as zf:
        zf.writestr("a/POSCAR", poscar)
        zf.writestr("b.cif", cif)
    assert [p.names for p in open_source(tmp_path / "cells.zip").partitions(5)] == [
        ["a/POSCAR", "b.cif"]
    ]
    from ase.io import write

    from bandgaps.structures.alloys import _to_ase

    write(tmp_path / "three.extxyz", [_to_ase(silicon_cell())] * 3, format="extxyz")
    parts = list(open_source(tmp_path / "three.extxyz").partitions(2))
    assert [len(p) for p in parts] == [2, 1] and parts[1].names == ["three.extxyz#2"]


# one partition, in process --------------------------------------------------------------------


def test_screen_and_predict_give_one_table_and_no_bound_below_zero(model_file, capsys):
    """A screen writes the table `bandgaps predict` prints, column for column, with the
    model's name in front (σ scaled on the calibration rows, the intervals at each level, the
    domain), and no interval reaches below the target's minimum (0 eV)."""
    specs = resolve_models([str(model_file)], "formulas")
    formulas = ["Si", "Ge", "GaAs", "Cu", "ZnO", "Og2Xe"]
    part = Partition(0, 0, formulas)
    predictions, _ = predict_partition(part, specs, "formulas", level=[0.68, 0.95])
    args = ["predict", str(model_file), *formulas[:5], "--csv", "--level", "0.68", "--level"]
    assert main([*args, "0.95"]) == 0
    printed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert [f"gap: {c}" for c in printed.columns[1:]] == list(predictions.columns[2:])
    assert "gap: σ" in predictions and "gap: in domain" in predictions
    for column in printed.columns[1:]:
        ours, shown = predictions[f"gap: {column}"], printed[column]
        if ours.dtype == bool:
            assert list(ours) == list(shown)
        else:  # printed with %.4g
            np.testing.assert_allclose(ours, shown, rtol=1e-3)
    lower = [c for c in predictions.columns if ": lower " in c]
    assert len(lower) == 2 and (predictions[lower].to_numpy() >= 0).all()


def test_bad_rows_go_to_the_errors_with_reasons(model_file):
    from bandgaps.structures.alloys import silicon_cell

    specs = resolve_models([str(model_file)], "formulas")
    part = Partition(3, 300, ["GaAs", "", "Qq2", "Og2", "SiGe"], ids=list("abcde"))
    predictions, errors = predict_partition(part, specs, "formulas")
    assert list(predictions["row"]) == [300, 304] and list(predictions["id"]) == ["a", "e"]
    assert {"gap: gap", "gap: σ", "gap: lower 0.9", "gap: upper 0.9"} <= set(predictions.columns)
    assert list(errors["row"]) == [301, 302, 303]
    reasons = list(errors["reason"])
    assert "empty" in reasons[0] and "unknown element(s) Qq" in reasons[1]
    assert "no tabulated element data" in reasons[2]

    specs = resolve_models([str(model_file)], "structures")
    broken = "data_x\n_cell_length_a 5.4\nloop_\n_atom_site_label\nSi1 0 0\n"
    part = Partition(0, 0, [silicon_cell().to(fmt="poscar"), broken], names=["POSCAR", "bad.cif"])
    predictions, errors = predict_partition(part, specs, "structures")
    assert list(predictions["formula"]) == ["Si"] and list(errors["input"]) == ["bad.cif"]
    assert "Cannot read a crystal structure from bad.cif" in errors["reason"][0]


def test_unknown_models_and_structure_models_on_formulas_are_refused(model_file):
    with pytest.raises(InputError, match="Unknown model 'gapnet'"):
        resolve_models(["gapnet"], "formulas")
    with pytest.raises(InputError, match="predicts from crystal structures"):
        resolve_models(["megnet-2018"], "formulas")
    with pytest.raises(InputError, match="named twice"):
        resolve_models([str(model_file), str(model_file)], "formulas")


# whole screens on a LocalCluster ----------------------------------------------------------


def test_screen_writes_every_row_once_and_filters(tmp_path, formulas, model_file):
    n = 3000
    small = tmp_path / "small.csv"
    pd.read_csv(formulas, keep_default_na=False)[:n].to_csv(small, index=False)
    report = screen(small, [str(model_file)], tmp_path / "all", workers=2, partition_rows=700)
    assert (report.rows, report.errors, report.partitions, report.workers) == (n, 2, 5, 2)
    predictions, errors = _exactly_once(tmp_path / "all", n)
    assert list(errors["row"]) == [5, 777]

    report = screen(
        small,
        [str(model_file)],
        tmp_path / "window",
        gap_min=1.0,
        gap_max=2.0,
        top=7,
        workers=2,
        partition_rows=700,
    )
    kept, _ = read_screen(tmp_path / "window")
    inside = predictions[(predictions["gap: gap"] >= 1.0) & (predictions["gap: gap"] <= 2.0)]
    assert report.kept == len(kept) == len(inside) > 0
    top = pd.read_parquet(tmp_path / "window" / "top.parquet")
    assert list(top["row"]) == list(inside.nlargest(7, "gap: gap", keep="first")["row"])
    manifest = json.loads((tmp_path / "window" / "screen.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["kept"] == len(kept)
    # every input row is accounted for: kept, outside the window, or an error
    counts = manifest["counts"]
    assert counts["kept"] + counts["filtered"] + counts["errors"] == counts["rows"] == n


def test_a_worker_killed_mid_run_loses_no_row(tmp_path, formulas, model_file):
    from dask.distributed import Client, LocalCluster

    out = tmp_path / "out"
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            pids = list(client.run(os.getpid).values())
        killed = []

        def kill_one_worker():
            while len(list((out / "predictions").glob("part-*.parquet"))) < 4:
                time.sleep(0.02)
            killed.append(len(list((out / "predictions").glob("part-*.parquet"))))
            os.kill(pids[0], signal.SIGKILL)

        killer = threading.Thread(target=kill_one_worker, daemon=True)
        killer.start()
        report = screen(
            formulas, [str(model_file)], out, scheduler=cluster.scheduler_address,
            partition_rows=500,
        )  # fmt: skip
        killer.join(5)
    assert killed and killed[0] < report.partitions, "the worker died while partitions remained"
    _exactly_once(out, 40_000)
    assert report.errors == 3


def test_a_killed_driver_resumes_without_recomputing(tmp_path, formulas, model_file):
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "bandgaps.cli", "screen", str(formulas), "--out", str(out),
        "-m", str(model_file), "--workers", "2", "--partition-rows", "500",
    ]  # fmt: skip
    driver = subprocess.Popen(command, start_new_session=True, stderr=subprocess.PIPE)
    parts = out / "predictions"
    deadline = time.time() + 120
    while len(list(parts.glob("part-*.parquet"))) < 5 and time.time() < deadline:
        assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
        time.sleep(0.02)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and its local workers, mid-run
    driver.wait()
    before = {p.name: p.stat().st_mtime_ns for p in parts.glob("part-*.parquet")}
    assert 5 <= len(before) < 80
    assert json.loads((out / "screen.json").read_text())["status"] == "running"

    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert f"{len(before)} of 80 partitions resumed" in finished.stdout
    after = {p.name: p.stat().st_mtime_ns for p in parts.glob("part-*.parquet")}
    assert all(after[name] == mtime for name, mtime in before.items()), "not recomputed"
    assert not list(out.rglob("*.partial*")), "no partial files left"
    _exactly_once(out, 40_000)


def test_separately_started_scheduler_and_worker(tmp_path, formulas, model_file):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    scheduler = subprocess.Popen(
        [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [str(bin_dir / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        small = tmp_path / "small.csv"
        pd.read_csv(formulas, keep_default_na=False)[:2000].to_csv(small, index=False)
        code, stdout, stderr = cli(
            ["screen", str(small), "--out", str(tmp_path / "out"), "-m", str(model_file),
             "--scheduler", address, "--partition-rows", "600"]
        )  # fmt: skip
        assert code == 0, stderr
        assert "screened 2,000 rows on 1 worker in" in stdout
        _exactly_once(tmp_path / "out", 2000)
    finally:
        for proc in (worker, scheduler):
            proc.terminate()
            proc.wait(30)


def test_cli_errors_are_one_line_and_quick(tmp_path, formulas, model_file):
    port = _free_port()  # nothing listens there
    t0 = time.perf_counter()
    code, _, stderr = cli(
        ["screen", str(formulas), "--out", str(tmp_path / "o"), "-m", str(model_file),
         "--scheduler", f"tcp://127.0.0.1:{port}"]
    )  # fmt: skip
    assert code == 1 and time.perf_counter() - t0 < 30
    assert stderr.strip().count("\n") == 0 and "No Dask scheduler answered" in stderr
    assert not (tmp_path / "o").exists()  # the failed run made the folder: it is gone
    # a value outside its range is a wrong command line (2, as an unparsable one); a model
    # that is neither a file nor a name is input that cannot be used (1)
    for args, message, expected in (
        (["--gap-min", "2", "--gap-max", "1"], "is above --gap-max", 2),
        (["--top", "0"], "--top must be at least 1", 2),
        (["--top", "x"], "'--top'", 2),
        (["-m", "nonsense"], "Unknown model 'nonsense'", 1),
        (["--workers", "1000"], "more than this machine's", 2),
        (["--partition-rows", "99999999999"], "--partition-rows must be from 1 to 1,000,000", 2),
    ):
        code, _, stderr = cli(
            ["screen", str(formulas), "--out", str(tmp_path / "p"), "-m", str(model_file), *args]
        )
        assert code == expected and message in stderr and stderr.strip().count("\n") == 0
        assert not (tmp_path / "p").exists()
    other = tmp_path / "other"
    assert cli(["screen", str(formulas), "--out", str(other), "-m", str(model_file),
                    "--partition-rows", "10000", "--workers", "1"])[0] == 0  # fmt: skip
    code, _, stderr = cli(
        ["screen", str(formulas), "--out", str(other), "-m", str(model_file), "--workers", "1"]
    )
    assert code == 1 and "holds a screen with other arguments (differs in: partition_rows)" in (
        stderr
    )


@pytest.mark.slow
def test_megnet_screen_of_si_ge_cells(tmp_path):
    """The pretrained 2018 model in the workers, on a zip of enumerated Si–Ge cells."""
    from bandgaps.models.megnet import PretrainedEnsemble
    from bandgaps.structures.alloys import enumerated_cells

    cells = enumerated_cells(6)
    with zipfile.ZipFile(tmp_path / "cells.zip", "w") as zf:
        for i, s in enumerate(cells["structure"]):
            zf.writestr(f"cell{i:03d}.cif", s.to(fmt="cif"))
        zf.writestr("broken.cif", "data_x\n")
    report = screen(tmp_path / "cells.zip", ["megnet-2018"], tmp_path / "out", workers=2,
                    partition_rows=10)  # fmt: skip
    predictions, errors = _exactly_once(tmp_path / "out", len(cells) + 1)
    assert list(errors["input"]) == ["broken.cif"] and report.kept == len(cells)
    expected = PretrainedEnsemble("megnet-2018").predict(list(cells["structure"]))
    assert np.allclose(predictions["megnet-2018: PBE gap (eV)"], expected, atol=1e-4)
