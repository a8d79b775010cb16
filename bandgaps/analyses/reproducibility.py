"""What the reproducibility page reports: the environment, the pinned inputs and their
checksums, how long each stage of the study took, and measured cold and warm build times."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

from bandgaps import buildlog
from bandgaps.analyses.targets import TARGETS
from bandgaps.cache import KEYED_LIBRARIES, Stage
from bandgaps.models.megnet import get_family

_MODEL_FILE_CHECKS = Stage("model-file-checks", __name__)


#: Distributions whose versions decide the numbers on the site: those in every cache key, and
#: the ones that fetch data or build the site.
PACKAGES = (
    "bandgaps",
    *KEYED_LIBRARIES,
    "ase",
    "mp-api",
    "matplotlib",
    "mkdocs",
    "mkdocs-material",
    "mkdocs-jupyter",
    "mkdocstrings-python",
)

#: Rows of ``featurization_benchmark`` (the page looks them up by these).
MATMINER = "matminer, one formula at a time"
COLD = "bandgaps, computed (cold)"
WARM = "bandgaps, from disk cache (warm)"

#: Build-time goals of the project (seconds): a cold build from an empty cache, a warm rebuild.
GOALS = {"cold": TARGETS["cold-build"].value, "warm": TARGETS["warm-build"].value}

#: Cold-build budget of each page (seconds, two cores): they add up to ``GOALS["cold"]``. A
#: page's cold time is that of the stages it is the first to need, plus its own execution.
#: Shared out as a fresh clone measured them on 2026-12-02 (24.1 min in all), with a little room.
PAGE_BUDGETS = {
    "data.py": 15,
    "composition.py": 355,
    "si_ge_composition.py": 10,
    "structure.py": 165,
    "si_ge_supercells.py": 110,
    "kspacing.py": 200,
    "benchmarks.py": 245,
    "screening.py": 360,
    "discussion.py": 20,
    "reproducibility.py": 20,
}


def environment() -> pd.DataFrame:
    """Interpreter, machine and the installed version of every package in ``PACKAGES``."""
    rows = [
        ("python", platform.python_version()),
        ("platform", platform.platform(terse=True)),
        ("CPU cores", str(os.cpu_count())),
    ]
    for name in PACKAGES:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    return pd.DataFrame(rows, columns=["component", "version"])


def checksums() -> pd.DataFrame:
    """Every pinned data set and weight file of the catalog, verified against its sha256 now."""
    from bandgaps.config import shared_root
    from bandgaps.data import catalog

    root = shared_root()
    rows = []
    for name in catalog.names():
        entry = catalog.get(name)
        catalog.verify(name)  # raises, naming the file, if any checksum differs
        for rel, expected in entry.files:
            rows.append(
                {
                    "entry": name,
                    "file": rel,
                    "MiB": (root / rel).stat().st_size / 2**20,
                    "sha256": expected,
                    "retrieved": entry.retrieved,
                }
            )
    return pd.DataFrame(rows)


def featurization_benchmark(
    formulas, matminer_rows: int = 300, feature_set: str = "magpie"
) -> pd.DataFrame:
    """Time featurization three ways, now: matminer one formula at a time (skipped with
    ``matminer_rows=0``), ours computed (cold) and ours read back from a throw-away disk cache
    (warm).

    Args:
        formulas: the formulas timed.
        matminer_rows: rows timed through matminer one at a time.
        feature_set: the features.

    Returns:
        One row per way: seconds and formulas/s.
    """
    from pymatgen.core import Composition

    from bandgaps.features.composition import CompositionFeatures, get_feature_set

    formulas = [str(f) for f in formulas]
    rows = []
    if matminer_rows:
        featurizers = get_feature_set(feature_set).featurizers()
        sample = formulas[:matminer_rows]
        t0 = time.perf_counter()
        for f in sample:
            comp = Composition(f)
            for featurizer in featurizers:
                featurizer.featurize(comp)
        rows.append((MATMINER, len(sample), time.perf_counter() - t0))
    old = os.environ.get("BANDGAPS_CACHE")
    with tempfile.TemporaryDirectory(prefix="bandgaps-bench-") as tmp:
        os.environ["BANDGAPS_CACHE"] = tmp
        try:
            for label in (COLD, WARM):
                t0 = time.perf_counter()
                CompositionFeatures(feature_set).transform(formulas)
                rows.append((label, len(formulas), time.perf_counter() - t0))
        finally:
            if old is None:
                os.environ.pop("BANDGAPS_CACHE", None)
            else:
                os.environ["BANDGAPS_CACHE"] = old
    out = pd.DataFrame(rows, columns=["how", "formulas", "seconds"])
    out.insert(0, "feature set", feature_set)
    out["formulas/s"] = out["formulas"] / out["seconds"]
    return out


def stage_timings(results) -> pd.DataFrame:
    """Seconds each expensive stage took when it was computed, read from the cached results of
    ``bandgaps.analyses.discussion.collect`` (a warm build reuses them, so these are the
    times of the build that first computed them).

    Args:
        results: the cache's records.

    Returns:
        One row per stage.
    """
    rows = []

    def add(stage, what, items, seconds):
        rows.append({"stage": stage, "what": what, "items": items, "seconds": float(seconds)})

    for label, res in results.reference.results.items():
        add("training", f"RF, MP snapshot ({label} rows)", res.n_train, res.fit_seconds)
    for k, res in enumerate(results.matbench.fits):
        add("training", f"{results.matbench.label}, mp_gap fold {k}", res.n_train, res.fit_seconds)
    for label, res in results.kspacing.results.items():
        add("training", f"{label}, JARVIS k-point train", res.n_train, res.fit_seconds)
    scratch = results.scratch
    add(
        "graphs",
        "MEGNet graphs of the training structures",
        scratch.sizes["train"],
        scratch.graph_seconds,
    )
    add(
        "training",
        f"MEGNet from scratch, {len(scratch.history)} epochs",
        scratch.sizes["train"],
        scratch.fit_seconds,
    )
    seconds = results.megnet.attrs.get("seconds", {})
    for model, sec in seconds.items():
        add("predictions", f"MEGNet 2018 {model} on the snapshot", len(results.megnet), sec)
    t = results.sweep.timings
    cells = results.sweep.cells
    enumerated = cells[cells["method"] == "enumerated"]
    add(
        "enumeration",
        f"icet derivative structures ≤ {int(enumerated['n_atoms'].max())} atoms",
        len(enumerated),
        t["enumeration"],
    )
    add("enumeration", "icet SQS, 64 atoms", int((cells["method"] == "sqs").sum()), t["sqs"])
    add(
        "enumeration",
        "random cells",
        int(cells["method"].str.startswith("random").sum()),
        t["random cells"],
    )
    add(
        "predictions",
        "MEGNet on every ordered cell (13 model passes, graphs included)",
        int(t["member predictions"]),
        t["all predictions"],
    )
    members = len(get_family("megnet-mf-disorder").entries)
    disorder = results.sweep.disorder
    add(
        "predictions",
        f"MF disordered cell, {disorder['fidelity'].nunique()} fidelities",
        members * len(disorder),
        t["disorder"],
    )
    out = pd.DataFrame(rows)
    out["items/s"] = out["items"] / out["seconds"].where(out["seconds"] > 0)
    return out


def stage_costs(records: list[dict] | None = None, used: set[str] | None = None) -> pd.DataFrame:
    """Cold cost of each cached stage of the study: the seconds its entries took to compute
    (their own time, sub-stages excluded), read from the result cache's records. Only entries
    the current code can reach count and, when ``used`` names result files (by default those
    the site's kept pages read, ``bandgaps.pagecache.site_reads``), only those.

    Args:
        records: build records (default the build log's).
        used: only these stages.

    Returns:
        One row per stage: entries, seconds.
    """
    from bandgaps import cache, pagecache

    records = cache.records() if records is None else records
    used = pagecache.site_reads() if used is None else used
    rows = [
        {"stage": r["stage"], "seconds": float(r.get("seconds", 0.0))}
        for r in records
        if cache.is_current(r) and (not used or str(Path(r["path"]).resolve()) in used)
    ]
    frame = pd.DataFrame(rows, columns=["stage", "seconds"])
    out = frame.groupby("stage")["seconds"].agg(["count", "sum"])
    out.columns = ["entries", "seconds"]
    return out.sort_values("seconds", ascending=False).reset_index()


def page_budgets(records: list[dict] | None = None) -> pd.DataFrame:
    """The latest cold build's seconds per page beside each page's budget.

    Args:
        records: build records (default the build log's).

    Returns:
        One row per page: seconds, budget, within it.
    """
    records = buildlog.read_log() if records is None else records
    rec = buildlog.latest("cold", records)
    pages = pd.Series(rec["pages"] if rec else {}, dtype=float)
    out = pd.DataFrame({"budget (s)": pd.Series(PAGE_BUDGETS, dtype=float)})
    out["latest cold build (s)"] = pages.reindex(out.index)
    out["within budget"] = out["latest cold build (s)"] <= out["budget (s)"]
    return out


def build_history(records: list[dict] | None = None) -> pd.DataFrame:
    """Recorded site builds (newest last): when, cold/warm/partial, seconds, pages rendered.

    Args:
        records: build records (default the build log's).

    Returns:
        One row per build.
    """
    records = buildlog.read_log() if records is None else records
    return pd.DataFrame(
        [
            {
                "started (UTC)": r.get("started"),
                "kind": r.get("kind"),
                "seconds": r.get("seconds"),
                "pages": len(r.get("pages", {})),
                "cache entries before": r.get("cache_entries_before"),
                "cache entries after": r.get("cache_entries_after"),
                "CPU cores": r.get("cpus"),
            }
            for r in records
        ],
        columns=[
            "started (UTC)",
            "kind",
            "seconds",
            "pages",
            "cache entries before",
            "cache entries after",
            "CPU cores",
        ],
    )


def page_times(records: list[dict] | None = None) -> pd.DataFrame:
    """Seconds per page of the latest cold and the latest warm build (one column each).

    Args:
        records: build records (default the build log's).

    Returns:
        One row per page.
    """
    records = buildlog.read_log() if records is None else records
    cols = {}
    for kind in ("cold", "warm"):
        rec = buildlog.latest(kind, records)
        if rec:
            cols[f"{kind} build (s)"] = pd.Series(rec["pages"], dtype=float)
    return pd.DataFrame(cols)


__all__ = [
    "GOALS",
    "PAGE_BUDGETS",
    "build_history",
    "checksums",
    "environment",
    "featurization_benchmark",
    "page_budgets",
    "page_times",
    "stage_costs",
    "stage_timings",
]


def model_file_checks(n_rows: int = 300, n_flips: int = 1000) -> dict:
    """What a shared model file withstands, measured: train the LightGBM model on ``n_rows``
    rows through ``bandgaps train`` (time, file size), flip ``n_flips`` single bits of the file
    and load each copy, and load three crafted files that would run code if unpickled.
    Cached under the code fingerprint (the timing is that of the build that measured it)."""

    def compute() -> dict:
        import contextlib
        import io
        import pickle
        import random
        from pathlib import Path

        from bandgaps.cli import main
        from bandgaps.data.tables import load_table
        from bandgaps.errors import InputError
        from bandgaps.models.persist import load_model

        with tempfile.TemporaryDirectory(prefix="bandgaps-model-checks-") as tmp:
            root = Path(tmp)
            rows = load_table("matbench-mp-gap-train").head(n_rows)[["formula", "target"]]
            rows.to_csv(root / "rows.csv", index=False)
            model = root / "gap.model"
            t0 = time.perf_counter()
            args = ["train", "--data", str(root / "rows.csv"), "--model", "lgbm"]
            with contextlib.redirect_stdout(io.StringIO()):
                code = main([*args, "--out", str(model)])
            seconds = time.perf_counter() - t0
            if code != 0:
                raise RuntimeError("training the check model failed")
            data = model.read_bytes()
            rng = random.Random(0)
            detected = 0
            flipped = root / "flipped.model"
            for bit in rng.sample(range(len(data) * 8), n_flips):
                copy = bytearray(data)
                copy[bit // 8] ^= 1 << (bit % 8)
                flipped.write_bytes(bytes(copy))
                try:
                    load_model(flipped)
                except InputError:
                    detected += 1
            marker = root / "ran"

            class Payload:
                def __reduce__(self):
                    return (Path.write_text, (marker, "code ran"))

            evil = pickle.dumps(Payload())
            crafted = {"old pickle file": evil, "pickle after a genuine header": data[:40] + evil}
            crafted["pickle as the whole archive"] = data.split(b"\n", 2)[0] + b"\n" + evil
            refused = 0
            for blob in crafted.values():
                flipped.write_bytes(blob)
                try:
                    load_model(flipped)
                except InputError:
                    refused += 1
            return {
                "rows": n_rows,
                "train seconds": seconds,
                "file bytes": len(data),
                "bit flips": n_flips,
                "flips detected": detected,
                "crafted files": len(crafted),
                "crafted refused": refused,
                "crafted that ran code": int(marker.exists()),
            }

    return _MODEL_FILE_CHECKS({"rows": n_rows, "flips": n_flips}, compute)
