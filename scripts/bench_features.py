"""Featurization throughput: matminer per formula vs the vectorised feature sets, cold and warm.

Run: .venv/bin/python scripts/bench_features.py [--json FILE]
Uses a throw-away cache folder, so "cold" really computes and "warm" reads the disk cache.
Goal (issue 3): ≥ 1,000 formulas/s cold and ≥ 100,000 formulas/s warm on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--matminer-rows", type=int, default=500)
    args = parser.parse_args()
    os.environ["BANDGAPS_CACHE"] = tempfile.mkdtemp(prefix="bandgaps-bench-")
    os.environ.setdefault("BANDGAPS_PROGRESS", "0")
    warnings.simplefilter("ignore")
    from pymatgen.core import Composition

    from bandgaps.data import catalog
    from bandgaps.features.composition import CompositionFeatures, get_feature_set

    formulas = list(catalog.load("matbench-mp-gap-train")["formula"])
    results = []

    sample = formulas[: args.matminer_rows]
    featurizers = get_feature_set("magpie").featurizers()
    start = time.perf_counter()
    for f in sample:
        comp = Composition(f)
        for featurizer in featurizers:
            featurizer.featurize(comp)
    results.append(
        ("magpie", "matminer, one formula at a time", len(sample), time.perf_counter() - start)
    )

    for name in ("magpie", "magpie+fractions"):
        feats = CompositionFeatures(name)
        for label in ("cold (computed)", "warm (disk cache)"):
            start = time.perf_counter()
            feats.transform(formulas)
            results.append((name, f"bandgaps, {label}", len(formulas), time.perf_counter() - start))

    print(f"{'feature set':<18} {'how':<34} {'formulas':>9} {'seconds':>8} {'formulas/s':>11}")
    rows = []
    for name, how, n, sec in results:
        print(f"{name:<18} {how:<34} {n:>9,} {sec:>8.2f} {n / sec:>11,.0f}")
        rows.append(
            {
                "feature set": name,
                "how": how,
                "formulas": n,
                "seconds": sec,
                "formulas per second": n / sec,
            }
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"cpu_count": os.cpu_count(), "results": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
