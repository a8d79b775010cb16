"""The Screening page's studies: a generated chemical space screened with the named models, and
the throughput, scaling and memory of ``bandgaps screen`` measured on this machine.

Each run is a real ``bandgaps.screening.screen`` on an embedded Dask cluster; the results are
cached by their inputs (the package code included), so a warm rebuild reads them back.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bandgaps.cache import Stage
from bandgaps.config import cache_dir

_SCREENING_SPACE = Stage("screening-space", __name__)
_SCREENING_THROUGHPUT = Stage("screening-throughput", __name__)
_SCREENING_STRUCTURES = Stage("screening-structures", __name__)


#: Elements of the page's chemical space: main-group and common transition metals, the
#: chalcogens, pnictogens and halogens of semiconductor chemistry.
SPACE_ELEMENTS = [
    "Li",
    "Na",
    "K",
    "Cs",
    "Mg",
    "Ca",
    "Sr",
    "Ba",
    "B",
    "Al",
    "Ga",
    "In",
    "Si",
    "Ge",
    "Sn",
    "Pb",
    "Zn",
    "Cd",
    "Cu",
    "Ag",
    "Ti",
    "Zr",
    "N",
    "P",
    "As",
    "Sb",
    "Bi",
    "O",
    "S",
    "Se",
    "Te",
    "I",
]

#: The elements of the throughput benchmark's formulas (quaternary compositions of these).
BENCH_ELEMENTS = [
    "H",
    "Li",
    "Be",
    "B",
    "C",
    "N",
    "O",
    "F",
    "Na",
    "Mg",
    "Al",
    "Si",
    "P",
    "S",
    "Cl",
    "K",
    "Ca",
    "Sc",
    "Ti",
    "V",
    "Cr",
    "Mn",
    "Fe",
    "Co",
    "Ni",
    "Cu",
    "Zn",
    "Ga",
    "Ge",
    "As",
    "Se",
    "Br",
    "Rb",
    "Sr",
    "Y",
    "Zr",
    "Nb",
    "Mo",
    "Ru",
    "Rh",
    "Pd",
    "Ag",
    "Cd",
    "In",
    "Sn",
    "Sb",
    "Te",
    "I",
    "Cs",
    "Ba",
    "La",
]

#: Photovoltaic window of measured gaps (eV): single-junction absorbers near the
#: Shockley–Queisser optimum.
PV_WINDOW = (1.1, 1.7)
#: The space screen's columns: each model's prediction table with the model's name in front.
MEASURED, SPREAD = "measured-gap: measured gap (eV)", "measured-gap: σ"
METAL_PROB, PBE = "measured-gap: metal probability", "pbe-gap: PBE gap (eV)"


def space_formulas() -> list[str]:
    """All binaries and ternaries of ``SPACE_ELEMENTS`` with coefficients up to 3."""
    from bandgaps.screening import chemical_space

    return chemical_space(SPACE_ELEMENTS, max_elements=3, max_coefficient=3)


def _table(name: str, formulas: list[str]) -> Path:
    """A formula table in the cache folder, written once (its timestamp is part of a screen's
    arguments, so an unchanged table lets a screen resume instead of starting again)."""
    from bandgaps.files import atomic_path

    path = cache_dir() / "screening" / f"{name}.parquet"
    if not path.is_file():
        with atomic_path(path, suffix=".parquet") as tmp:
            pd.DataFrame({"formula": formulas}).to_parquet(tmp, index=False)
    return path


@dataclass
class SpaceScreen:
    """The chemical-space screen: every row's predictions and the run's report.

    Attributes:
        predictions: every row's predictions.
        errors: rows that could not be predicted.
        rows: the input's rows.
        seconds: the run's wall time.
        rows_per_second: its rate.
        workers: worker processes.
    """

    predictions: pd.DataFrame
    errors: pd.DataFrame
    rows: int
    seconds: float
    rows_per_second: float
    workers: int


def space_screen() -> SpaceScreen:
    """Screen ``space_formulas()`` with the measured-gap and PBE-gap models (no filter)."""
    formulas = space_formulas()

    def compute() -> SpaceScreen:
        from bandgaps.screening import screen
        from bandgaps.screening.engine import read_screen

        out = cache_dir() / "screening" / "space"
        report = screen(
            _table("space", formulas),
            ["measured-gap", "pbe-gap"],
            out,
            overwrite=True,
            progress=False,
        )
        predictions, errors = read_screen(out)
        return SpaceScreen(
            predictions,
            errors,
            report.rows,
            report.seconds,
            report.rows_per_second,
            report.workers,
        )

    return _SCREENING_SPACE(
        {"elements": SPACE_ELEMENTS, "n": len(formulas)},
        compute,
    )


def pv_candidates(result: SpaceScreen, window: tuple[float, float] = PV_WINDOW) -> pd.DataFrame:
    """Rows whose measured gap lies in ``window``, the surest non-metals first (lowest metal
    probability, then lowest committee spread), with the PBE gap beside them.

    Args:
        result: the space screen.
        window: the measured-gap window (eV).

    Returns:
        The rows inside it, ordered.
    """
    p = result.predictions
    inside = p[p[MEASURED].between(*window)].copy()
    inside["n_elements"] = [len(_elements(f)) for f in inside["formula"]]
    order = [METAL_PROB, SPREAD, "row"]
    return inside.sort_values(order).reset_index(drop=True)


def _elements(formula: str) -> set[str]:
    from pymatgen.core import Composition

    return {el.symbol for el in Composition(formula).elements}


class _PeakMemory:
    """Peak resident memory (GiB) of this process and all its children, sampled every 0.1 s."""

    def __enter__(self):
        import psutil

        self.peak, self._stop = 0.0, threading.Event()
        me = psutil.Process()

        def sample():
            while not self._stop.is_set():
                total = 0
                for proc in [me, *me.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):  # a process that just ended
                        total += proc.memory_info().rss
                self.peak = max(self.peak, total / 2**30)
                time.sleep(0.1)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


#: ``(rows, workers)`` of the throughput runs: scaling at 200,000 rows, memory from 100,000 to
#: 1,000,000 rows.
BENCH_RUNS = ((100_000, 2), (200_000, 1), (200_000, 2), (1_000_000, 2))


def throughput(runs=BENCH_RUNS, model: str = "pbe-gap") -> pd.DataFrame:
    """Composition screens of generated formulas end to end (read → features → LightGBM →
    Parquet) on embedded clusters of 1 or 2 workers: rate, start-up and peak memory per run.

    Args:
        runs: ``(rows, workers)`` pairs.
        model: the model screened.

    Returns:
        One row per run.
    """
    from bandgaps.screening import chemical_space

    def compute() -> pd.DataFrame:
        import shutil

        from bandgaps.screening import screen

        largest = max(n for n, _ in runs)
        formulas = chemical_space(BENCH_ELEMENTS, max_elements=4, max_coefficient=2, limit=largest)
        rows = []
        for n, workers in runs:
            source = _table(f"bench-{n}", formulas[:n])
            out = cache_dir() / "screening" / f"bench-{n}-{workers}"
            shutil.rmtree(out, ignore_errors=True)
            with _PeakMemory() as memory:
                report = screen(source, [model], out, workers=workers, progress=False)
            shutil.rmtree(out, ignore_errors=True)
            rows.append(
                {
                    "rows": n,
                    "workers": workers,
                    "seconds": report.seconds,
                    "startup_seconds": report.startup_seconds,
                    "rows_per_second": report.rows_per_second,
                    "steady_rows_per_second": report.steady_rows_per_second,
                    "peak_rss_gib": memory.peak,
                    "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                }
            )
        return pd.DataFrame(rows)

    return _SCREENING_THROUGHPUT({"runs": list(runs), "model": model}, compute)


def structure_throughput(max_atoms: int = 12, n_cells: int = 20_000, workers: int = 2) -> dict:
    """The pretrained 2018 MEGNet band-gap model screening ``n_cells`` rows of enumerated Si–Ge
    cells (every cell of up to ``max_atoms`` atoms, repeated in order) written as one extended
    XYZ file: structures per second end to end and once the workers are up, and each step's
    worker time per structure.

    Args:
        max_atoms: the largest enumerated cell.
        n_cells: rows screened.
        workers: worker processes.

    Returns:
        Cells, rates, start-up, and each step's worker milliseconds per structure.
    """

    def compute() -> dict:
        import shutil

        from ase.io import write

        from bandgaps.screening import screen
        from bandgaps.structures.alloys import _to_ase, enumerated_cells

        cells = enumerated_cells(max_atoms)
        # every enumerated cell, repeated in order up to n_cells rows
        frames = [_to_ase(s) for s in cells["structure"]]
        folder = cache_dir() / "screening"
        folder.mkdir(parents=True, exist_ok=True)
        source = folder / f"si-ge-{max_atoms}.extxyz"
        write(source, [frames[k % len(frames)] for k in range(n_cells)], format="extxyz")
        out = folder / "si-ge-screen"
        shutil.rmtree(out, ignore_errors=True)
        report = screen(source, ["megnet-2018"], out, workers=workers, progress=False)
        shutil.rmtree(out, ignore_errors=True)
        return {
            "cells": report.rows,
            "distinct_cells": len(frames),
            "errors": report.errors,
            "max_atoms": max_atoms,
            "workers": report.workers,
            "seconds": report.seconds,
            "startup_seconds": report.startup_seconds,
            "rows_per_second": report.rows_per_second,
            "steady_rows_per_second": report.steady_rows_per_second,
            # worker milliseconds per structure in each step (summed over both workers)
            "step_ms": {k: 1000 * v / report.rows for k, v in report.step_seconds.items()},
        }

    key = {"max_atoms": max_atoms, "n": n_cells, "workers": workers}
    return _SCREENING_STRUCTURES(key, compute)


__all__ = [
    "BENCH_RUNS",
    "PV_WINDOW",
    "SPACE_ELEMENTS",
    "SpaceScreen",
    "pv_candidates",
    "space_formulas",
    "space_screen",
    "structure_throughput",
    "throughput",
]
