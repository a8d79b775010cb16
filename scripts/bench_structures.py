"""Structure-model throughput: Si–Ge cell enumeration, graph construction, MEGNet predictions,
and MEGNet training seconds per epoch.

Run: .venv/bin/python scripts/bench_structures.py [--max-atoms 12] [--json FILE]
Goal (issue 4): ≥ 400 structures/s per model on 2 cores, graphs built once per converter.
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
    parser.add_argument("--max-atoms", type=int, default=12)
    parser.add_argument("--train-rows", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    os.environ["BANDGAPS_CACHE"] = tempfile.mkdtemp(prefix="bandgaps-bench-")
    os.environ.setdefault("BANDGAPS_PROGRESS", "0")
    warnings.simplefilter("ignore")
    from bandgaps.data.tables import structure_table
    from bandgaps.models.megnet import PretrainedEnsemble
    from bandgaps.models.megnet_training import MEGNetRegressor
    from bandgaps.structures import alloys

    rows = []

    def record(what, n, seconds, unit="structures"):
        rows.append({"what": what, "n": n, "seconds": seconds, f"{unit}/s": n / seconds})
        print(f"{what:<58} {n:>8,} {seconds:>8.2f} s {n / seconds:>10,.0f} {unit}/s", flush=True)

    t0 = time.perf_counter()
    cells = alloys.enumerated_cells(args.max_atoms)
    record(f"icet enumeration, ≤ {args.max_atoms} atoms", len(cells), time.perf_counter() - t0)
    structures = list(cells["structure"])
    for family, fidelities in (("megnet-2018", [None]), ("megnet-mf", ["pbe", "exp"])):
        ens = PretrainedEnsemble(family)
        ens.predict(structures[:300], fidelities[0])  # load weights and trace once
        t0 = time.perf_counter()
        inputs = ens.graph_inputs(structures)
        record(
            f"{family}: graphs + batched inputs (once)", len(structures), time.perf_counter() - t0
        )
        for fid in fidelities:
            t0 = time.perf_counter()
            ens.predict_members(structures, fid, inputs=inputs)
            n = len(structures) * len(ens.members)
            record(
                f"{family} {fid or ''}: {len(ens.members)} model(s), per model",
                n,
                time.perf_counter() - t0,
            )
    table = structure_table()
    nm = table[table["band_gap"] > 0].sample(frac=1.0, random_state=0).iloc[: args.train_rows]
    model = MEGNetRegressor(epochs=args.epochs, cache=False)
    t0 = time.perf_counter()
    model.graphs(list(nm["structure"]))
    record("training graphs", len(nm), time.perf_counter() - t0)
    model.fit(list(nm["structure"]), nm["band_gap"])
    for row in model.history_:
        rows.append(
            {"what": f"training epoch {row['epoch']}", "n": len(nm), "seconds": row["seconds"]}
        )
        print(f"training epoch {row['epoch']:<43} {len(nm):>8,} {row['seconds']:>8.2f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"cpu_count": os.cpu_count(), "results": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
