"""Shared fixtures. Tests read the real pinned snapshots in ../shared (small slices where they
can) and keep their caches in a temporary folder, so they never depend on an earlier run."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the stand-in MP server helper

from bandgaps.config import shared_root


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
