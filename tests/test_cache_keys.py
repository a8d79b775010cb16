"""Cache keys follow the code: a changed default in the package, a different library version
or a different weight file gives a new key, so a warm build never serves a stale number."""

from __future__ import annotations

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


def test_keys_carry_library_versions_and_source(monkeypatch):
    key = cache.cache_key("demo", {"a": 1})
    fp = cache.code_fingerprint()
    assert fp["libraries"]["scikit-learn"] and fp["libraries"]["tensorflow-cpu"]
    changed = {**fp, "libraries": {**fp["libraries"], "scikit-learn": "0.0"}}
    monkeypatch.setattr(cache, "code_fingerprint", lambda: changed)
    assert cache.cache_key("demo", {"a": 1}) != key


@pytest.mark.parametrize("family", ["megnet-2018", "megnet-mf", "megnet-mf-disorder"])
def test_structure_keys_carry_every_weight_checksum(family):
    from bandgaps.data import catalog
    from bandgaps.models.megnet import FAMILIES

    sums = FAMILIES[family].checksums()
    expected = {rel for e in FAMILIES[family].entries for rel, _ in catalog.get(e).files}
    assert set(sums) == expected and all(len(v) == 64 for v in sums.values())
