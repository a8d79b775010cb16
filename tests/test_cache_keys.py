"""Cache keys follow the code: a changed default in the package, a different library version
or a different weight file gives a new key, so a warm build never serves a stale number."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bandgaps import cache
from bandgaps.config import project_root

#: Runs one small cached fit twice with the package found first on sys.path; prints
#: "computed" or "cached" for each call.
SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    import bandgaps, bandgaps.analyses.fits as fits
    from bandgaps.models.calibrated import CalibratedCompositionModel
    assert bandgaps.__file__.startswith(sys.argv[1]), bandgaps.__file__
    calls = []
    original = CalibratedCompositionModel.fit
    def counting(self, *a, **k):
        calls.append(1)
        return original(self, *a, **k)
    CalibratedCompositionModel.fit = counting
    formulas = ["Si", "Ge", "GaAs", "NaCl", "MgO", "ZnO", "AlP", "GaN", "InP", "KCl", "CdTe"]
    y = [1.1, 0.7, 1.4, 8.5, 7.8, 3.3, 2.4, 3.4, 1.3, 8.4, 1.5]
    for _ in range(2):
        n = len(calls)
        res = fits.fit_predict("lgbm", formulas, y, {"t": (["SiGe"], None)},
                               params={"sigma": False, "objectives": ["l2"]})
        print("computed" if len(calls) > n else "cached", float(res.frame("t")["mean"][0]))
    """
)


def _run(package_parent: Path, cache_dir: Path) -> list[str]:
    env = {**os.environ, "BANDGAPS_CACHE": str(cache_dir), "BANDGAPS_PROGRESS": "0"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(package_parent)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return [line.split()[0] for line in out.stdout.splitlines()]


def test_changing_a_default_in_a_copy_of_the_package_recomputes(tmp_path):
    shared_cache = tmp_path / "cache"
    original = project_root()
    # the package as it is: the first call computes, the second reads the cache
    assert _run(original, shared_cache) == ["computed", "cached"]
    # a copy of the package with one default changed (LightGBM's learning rate)
    copy_root = tmp_path / "copy"
    shutil.copytree(
        original / "bandgaps", copy_root / "bandgaps", ignore=shutil.ignore_patterns("__pycache__")
    )
    boosting = copy_root / "bandgaps" / "models" / "boosting.py"
    text = boosting.read_text()
    assert "learning_rate: float = 0.05" in text
    boosting.write_text(text.replace("learning_rate: float = 0.05", "learning_rate: float = 0.2"))
    # the same call against the same (warm) cache must compute again, then be cached
    assert _run(copy_root, shared_cache) == ["computed", "cached"]
    # and the untouched package still finds its own entry
    assert _run(original, shared_cache) == ["cached", "cached"]
    # a copy whose only edits are docstrings and comments finds it too
    doc_root = tmp_path / "doc"
    shutil.copytree(
        original / "bandgaps", doc_root / "bandgaps", ignore=shutil.ignore_patterns("__pycache__")
    )
    for path in (doc_root / "bandgaps").rglob("*.py"):
        path.write_text(path.read_text().replace('"""', '"""Edited. ', 1) + "\n# a comment\n")
    assert _run(doc_root, shared_cache) == ["cached", "cached"]


def test_keys_carry_library_versions(monkeypatch):
    demo = cache.Stage("demo-versions", "bandgaps.files")
    key = demo.key({"a": 1})
    versions = cache.library_versions()
    assert versions["scikit-learn"] and versions["tensorflow-cpu"]
    cache.code_digest.cache_clear()
    monkeypatch.setattr(cache, "library_versions", lambda: {**versions, "scikit-learn": "0.0"})
    try:
        assert demo.key({"a": 1}) != key
    finally:
        cache.code_digest.cache_clear()


#: Prints the code digest of every stage of the study (and of the named model files) for the
#: package found first on sys.path, as JSON.
DIGESTS = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    sys.path.insert(0, sys.argv[1])
    import bandgaps
    assert bandgaps.__file__.startswith(sys.argv[1]), bandgaps.__file__
    from bandgaps import cache
    for sub in ("data", "features", "models", "analyses", "screening"):
        pkg = importlib.import_module(f"bandgaps.{sub}")
        for info in pkgutil.iter_modules(pkg.__path__):
            importlib.import_module(f"bandgaps.{sub}.{info.name}")
    from bandgaps.models import named
    from bandgaps.models.composition import MODELS
    out = {name: stage.code() for name, stage in cache.STAGES.items()}
    fits = out.pop("composition-fits") and cache.STAGES["composition-fits"]
    out.update({f"composition-fits[{k}]": fits.code([m.module]) for k, m in MODELS.items()})
    out.update({f"named model {n}": named.code_id(n) for n in named.NAMED})
    from pathlib import Path
    from bandgaps import pagecache
    for page in sorted(Path(sys.argv[2]).glob("*.py")):
        out[f"page {page.name}"] = pagecache.page_key(page)
    print(json.dumps(out))
    """
)


def _digests(package_parent: Path) -> dict[str, str]:
    env = {**os.environ, "BANDGAPS_PROGRESS": "0"}
    run = subprocess.run(
        [sys.executable, "-c", DIGESTS, str(package_parent), str(project_root() / "docs")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.splitlines()[-1])


def _edited_copy(tmp_path: Path, name: str, edit) -> Path:
    root = tmp_path / name
    shutil.copytree(
        project_root() / "bandgaps", root / "bandgaps", ignore=shutil.ignore_patterns("__pycache__")
    )
    edit(root / "bandgaps")
    return root


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    assert before.keys() == after.keys()
    return {k for k in before if before[k] != after[k]}


#: Stages that the Benchmarks, Composition, k-point and Discussion pages read.
STUDY_STAGES = {
    "mp-frame",
    "formula-table",
    "composition-table",
    "features",
    "composition-fits[rf]",
    "composition-fits[lgbm]",
    "pbe-reference",
    "matbench-expt-gap",
    "matbench-expt-is-metal",
    "matbench-mp-gap",
    "measured-gap-model",
    "si-ge-measured",
    "megnet-snapshot",
    "megnet-training",
    "megnet-graphs",
    "supercell-sweep",
}
#: Their pages, which an edit to the screening engine must not run again.
STUDY_STAGES |= {f"page {p}.py" for p in ("benchmarks", "composition", "kspacing", "discussion")}
#: Stages whose results no booster computes.
NO_BOOSTER = {
    "mp-frame",
    "formula-table",
    "composition-table",
    "features",
    "composition-fits[rf]",
    "megnet-snapshot",
    "megnet-training",
    "megnet-graphs",
    "supercell-sweep",
}


def test_an_edit_recomputes_only_the_stages_whose_code_it_touches(tmp_path):
    base = _digests(project_root())
    assert base.keys() >= STUDY_STAGES and len(set(base.values())) > 5

    def docstrings_and_comments(pkg: Path) -> None:
        for path in pkg.rglob("*.py"):
            text = path.read_text()
            if text.startswith('"""'):
                text = '"""Edited: a docstring says more now.\n\n' + text[3:]
            path.write_text(text.replace("\n\n\n", "\n\n\n# an added comment\n\n", 1))

    assert _changed(base, _digests(_edited_copy(tmp_path, "doc", docstrings_and_comments))) == set()

    def engine(pkg: Path) -> None:
        path = pkg / "screening" / "engine.py"
        path.write_text(path.read_text() + "\nSCREEN_EDIT = 1\n")

    changed = _changed(base, _digests(_edited_copy(tmp_path, "engine", engine)))
    assert {"screening-space", "screening-throughput", "screening-structures"} <= changed
    assert "page screening.py" in changed
    assert not changed & STUDY_STAGES, changed & STUDY_STAGES

    def boosting(pkg: Path) -> None:
        path = pkg / "models" / "boosting.py"
        path.write_text(path.read_text() + "\nBOOST_EDIT = 1\n")

    changed = _changed(base, _digests(_edited_copy(tmp_path, "boost", boosting)))
    boosted = {k for k in base if not k.startswith("page ")} - NO_BOOSTER
    assert boosted - changed == set(), boosted - changed  # every boosted result recomputes
    assert not changed & NO_BOOSTER, changed & NO_BOOSTER


@pytest.mark.parametrize("family", ["megnet-2018", "megnet-mf", "megnet-mf-disorder"])
def test_structure_keys_carry_every_weight_checksum(family):
    from bandgaps.data import catalog
    from bandgaps.models.megnet import FAMILIES

    sums = FAMILIES[family].checksums()
    expected = {rel for e in FAMILIES[family].entries for rel, _ in catalog.get(e).files}
    assert set(sums) == expected and all(len(v) == 64 for v in sums.values())
