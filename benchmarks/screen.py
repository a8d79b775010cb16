"""Throughput of `bandgaps screen` on this machine, at any scale.

    .venv/bin/python benchmarks/screen.py --rows 100000 1000000 --workers 2
    .venv/bin/python benchmarks/screen.py --rows 200000 --workers 1 2 --model measured-gap

Each run screens generated quaternary formulas end to end (read Parquet → features → model →
write Parquet) on an embedded Dask cluster and reports the wall time, the start-up, the rates
and the peak memory of the driver and its workers. The Screening page runs the same function
(``bandgaps.analyses.screening.throughput``) in a cold site build.
"""

from __future__ import annotations

import argparse


def main() -> None:
    from bandgaps.analyses.screening import throughput

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--model", default="pbe-gap")
    args = parser.parse_args()
    runs = tuple((n, w) for n in args.rows for w in args.workers)
    table = throughput(runs, model=args.model)
    print(table.drop(columns="measured").to_string(index=False, float_format="{:,.2f}".format))


if __name__ == "__main__":  # the Dask workers re-import this file: start nothing on import
    main()
