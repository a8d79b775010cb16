"""The full fuzzing campaign against bandgaps model files (``make test`` runs a few hundred).

    .venv/bin/python benchmarks/fuzz_model_files.py                 # 10,000 mutants
    .venv/bin/python benchmarks/fuzz_model_files.py --n 50000 --seed 3
    .venv/bin/python benchmarks/fuzz_model_files.py --seed-files ~/.cache/bandgaps/models/*.bgm

Mutants of genuine files (a calibrated LightGBM model and a calibrated forest, or the files
given) are re-signed and read, with a prediction when they load, in a child process under a
memory ceiling (``tests/model_fuzzer.py``). It prints how many loaded, how many were refused
with one clear line, and every finding (crash, stall, memory past the budget, any other error),
and exits 1 when there is one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from model_fuzzer import make_seeds, memory_budget, run_mutants, write_mutants


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="mutants (default 10,000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the mutations")
    parser.add_argument("--seed-files", type=Path, nargs="*", help="genuine files to mutate")
    parser.add_argument("--stall", type=float, default=60.0, help="seconds without progress")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bandgaps-fuzz-") as tmp:
        folder = Path(tmp)
        seeds = args.seed_files or make_seeds(folder / "seeds")
        mutants = write_mutants(seeds, args.n, folder / "mutants", seed=args.seed)
        report = run_mutants(mutants, seeds, memory_budget(seeds), stall_seconds=args.stall)
    print(
        f"{report.total:,} mutants in {report.seconds:.0f} s: {report.loaded:,} loaded, "
        f"{report.refused:,} refused with one line, {len(report.findings)} findings; "
        f"peak memory {report.base_rss / 2**20:.0f} MB after the genuine files, "
        f"+{report.peak_growth / 2**20:.1f} MB at most from a mutant"
    )
    for path, kind, detail in report.findings:
        print(f"  {kind}: {Path(path).name}: {detail}")
    return 1 if report.findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
