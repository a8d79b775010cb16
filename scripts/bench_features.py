"""Featurization throughput: matminer per formula vs the vectorised feature sets, cold and warm.

Run: .venv/bin/python scripts/bench_features.py [--json FILE]
Uses a throw-away cache folder, so "cold" really computes and "warm" reads the disk cache.
Goal (issue 3): ≥ 1,000 formulas/s cold and ≥ 100,000 formulas/s warm on 2 cores.
The same measurement, on matbench test0, runs in every site build (Reproducibility page).
"""

from __future__ import annotations

import argparse
import json
import os
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--matminer-rows", type=int, default=500)
    args = parser.parse_args()
    os.environ.setdefault("BANDGAPS_PROGRESS", "0")
    warnings.simplefilter("ignore")
    import pandas as pd

    from bandgaps.analyses.reproducibility import featurization_benchmark
    from bandgaps.data import catalog

    formulas = list(catalog.load("matbench-mp-gap-train")["formula"])
    results = pd.concat(
        [
            featurization_benchmark(formulas, args.matminer_rows, "magpie"),
            featurization_benchmark(formulas, 0, "magpie+fractions"),
        ],
        ignore_index=True,
    )
    print(results.to_string(index=False, formatters={"formulas/s": "{:,.0f}".format}))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"cpu_count": os.cpu_count(), "results": results.to_dict("records")}, fh, indent=1
            )


if __name__ == "__main__":
    main()
