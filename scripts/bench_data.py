"""Time the data layer: checksum verification, snapshot loading (cold and warm cache), cleaning.

Run: .venv/bin/python scripts/bench_data.py   (prints a table; uses a throw-away cache folder)
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable


def timed(label: str, func: Callable[[], object], rows: list[tuple[str, float]]) -> object:
    start = time.perf_counter()
    value = func()
    rows.append((label, time.perf_counter() - start))
    return value


def main() -> None:
    os.environ["BANDGAPS_CACHE"] = tempfile.mkdtemp(prefix="bandgaps-bench-")
    os.environ.setdefault("BANDGAPS_PROGRESS", "0")
    from bandgaps.data import catalog
    from bandgaps.data.tables import composition_model_table

    rows: list[tuple[str, float]] = []
    timed(
        "verify all 25 catalog entries (sha256)",
        lambda: [catalog.verify(n) for n in catalog.names()],
        rows,
    )
    timed(
        "load mp-bandstructure-binaries, cold cache",
        lambda: catalog.load("mp-bandstructure-binaries"),
        rows,
    )
    mp = timed(
        "load mp-bandstructure-binaries, warm cache",
        lambda: catalog.load("mp-bandstructure-binaries"),
        rows,
    )
    timed(
        "clean (isolated atoms + polymorphs), 5,909 rows", lambda: composition_model_table(mp), rows
    )
    timed(
        "load matbench-mp-gap-train (58,814 formulas)",
        lambda: catalog.load("matbench-mp-gap-train"),
        rows,
    )
    width = max(len(label) for label, _ in rows)
    for label, seconds in rows:
        print(f"{label:<{width}}  {seconds:7.2f} s")


if __name__ == "__main__":
    main()
