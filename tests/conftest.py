"""Shared fixtures. Tests read the real pinned snapshots in ../shared (small slices where they
can) and keep their caches in a temporary folder, so they never depend on an earlier run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the stand-in MP server helper

from bandgaps.config import project_root, shared_root


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Point BANDGAPS_CACHE at a fresh folder for the whole session; quiet progress bars."""
    old = {k: os.environ.get(k) for k in ("BANDGAPS_CACHE", "BANDGAPS_PROGRESS")}
    os.environ["BANDGAPS_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["BANDGAPS_PROGRESS"] = "0"
    yield
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def shared() -> Path:
    """The real snapshot folder."""
    return shared_root()


@pytest.fixture(scope="session")
def mp_frame():
    """The full MP snapshot as the catalog loads it (5,909 rows; loaded once per session)."""
    from bandgaps.data import load

    return load("mp-bandstructure-binaries")


#: A small booster for the mp_gap study's tests (the real one has up to 3,000 trees).
SMALL_GBM = (
    "lgbm",
    "magpie",
    {
        "objectives": ("huber",),
        "n_estimators": 40,
        "num_leaves": 15,
        "clip_min": 0.0,
        "quantile_params": {"n_estimators": 30},
    },
)


@pytest.fixture(scope="session")
def mp_gap_small():
    """The mp_gap study on the official folds of the task's first 3,000 rows, small booster."""
    from bandgaps.analyses.mp_gap import mp_gap_study

    return mp_gap_study(n_rows=3000, model=SMALL_GBM)


@pytest.fixture
def shared_copy(tmp_path, shared, monkeypatch):
    """A private copy of chosen shared files under a temporary BANDGAPS_SHARED root.

    Call it with relative paths; it returns the new root. Lets a test corrupt or remove a
    file without touching the real snapshots.
    """

    def make(*relpaths: str) -> Path:
        root = tmp_path / "shared"
        for rel in relpaths:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(shared / rel, root / rel)
        root.mkdir(exist_ok=True)
        monkeypatch.setenv("BANDGAPS_SHARED", str(root))
        return root

    return make


def build_site(config: Path, site_dir: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` of ``config`` into ``site_dir`` (the test session's cache)."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(config),
            "-d",
            str(site_dir),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=4800,
    )


@dataclass
class SiteBuilds:
    """The whole site built twice into one folder: cold (empty cache), then warm."""

    site: Path
    cold_seconds: float
    warm_seconds: float


@pytest.fixture(scope="session")
def site_builds(tmp_path_factory) -> SiteBuilds:
    """Build the real site from the session's empty cache, then rebuild it warm. The pages
    then show what a reader gets; the second build also shows the first one's measured time."""
    site = tmp_path_factory.mktemp("site")
    times = []
    for kind in ("cold", "warm"):
        t0 = time.perf_counter()
        try:
            result = build_site(project_root() / "mkdocs.yml", site)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"the {kind} site build ran past {exc.timeout:.0f} s and was stopped")
        times.append(time.perf_counter() - t0)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return SiteBuilds(site, *times)


@pytest.fixture(scope="session")
def built_site(site_builds) -> Path:
    """The folder of the built site (after the warm rebuild)."""
    return site_builds.site


def _excludes_slow(config) -> bool:
    return "not slow" in (config.option.markexpr or "")


@pytest.fixture(autouse=True)
def _quick_tests_load_no_tensorflow(request):
    """Under ``-m "not slow"`` (``make test-quick``) a test that imports TensorFlow fails: such
    a test must carry the ``slow`` marker."""
    before = "tensorflow" in sys.modules
    yield
    if _excludes_slow(request.config) and not before and "tensorflow" in sys.modules:
        pytest.fail(f"{request.node.nodeid} loads TensorFlow: mark it slow", pytrace=False)


def pytest_collection_modifyitems(config, items):
    """Doctests of the MEGNet modules load TensorFlow: they are slow too."""
    heavy = ("megnet.py", "megnet_training.py", "weights.py", "compat.py")
    for item in items:
        if item.nodeid.startswith("bandgaps/") and item.nodeid.split("::")[0].endswith(heavy):
            item.add_marker(pytest.mark.slow)
