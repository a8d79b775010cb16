"""A small on-disk cache for expensive results, keyed by everything that determines them.

A key joins three things: the caller's JSON-serialisable description of the inputs (parameters,
and the sha256 of every file the result reads: snapshots, weights); the versions of the
libraries that compute results; and a hash of this package's own source. Change a default
anywhere in ``bandgaps``, upgrade scikit-learn, or swap a weight file, and every key changes, so
a warm build never serves a number the current code would not compute. Values are pickled in
the user's own cache folder (never exchanged: model files use their own format). Writes are
atomic, so an interrupted build leaves no half-written entry.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bandgaps.config import cache_dir
from bandgaps.files import atomic_path

T = TypeVar("T")

#: Bump when a cached computation changes meaning without its inputs or code changing.
CACHE_VERSION = 2

#: Libraries whose results enter cached values (fits, features, graphs, cells).
KEYED_LIBRARIES = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "lightgbm",
    "mapie",
    "pymatgen",
    "matminer",
    "icet",
    "tensorflow-cpu",
    "keras",
    "megnet",
)


#: Modules that never enter a cached value (figures, the command line, the build log): editing
#: them does not invalidate the cache.
PRESENTATION_MODULES = frozenset({"plots.py", "cli.py", "buildlog.py"})


def _package_dir() -> Path:
    return Path(__file__).resolve().parent


@functools.cache
def code_fingerprint() -> dict[str, Any]:
    """What the code that computes cached results is: library versions and a sha256 over every
    source and data file of the ``bandgaps`` package but ``PRESENTATION_MODULES`` (computed once
    per process).

    Examples:
        >>> fp = code_fingerprint()
        >>> sorted(fp), len(fp["source"])
        (['libraries', 'source'], 64)
    """
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256()
    root = _package_dir()
    files = (p for p in root.rglob("*") if p.suffix in {".py", ".yaml"})
    for path in sorted(
        p for p in files if p.relative_to(root).as_posix() not in PRESENTATION_MODULES
    ):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    libraries = {}
    for name in KEYED_LIBRARIES:
        try:
            libraries[name] = version(name)
        except PackageNotFoundError:
            libraries[name] = None
    return {"source": digest.hexdigest(), "libraries": libraries}


def cache_key(namespace: str, key: dict[str, Any]) -> str:
    """Stable hex digest of a namespace, a JSON-able key and the code fingerprint.

    Examples:
        >>> cache_key("demo", {"a": 1}) == cache_key("demo", {"a": 1})
        True
        >>> cache_key("demo", {"a": 1}) == cache_key("demo", {"a": 2})
        False
    """
    payload = json.dumps(
        {"ns": namespace, "v": CACHE_VERSION, "code": code_fingerprint(), "key": key},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def cached(
    namespace: str, key: dict[str, Any], compute: Callable[[], T], enabled: bool = True
) -> T:
    """Return the cached value for ``key``, computing and storing it on a miss."""
    if not enabled:
        return compute()
    path = cache_dir() / namespace / f"{cache_key(namespace, key)}.pkl"
    if path.exists():
        try:
            with path.open("rb") as fh:
                return pickle.load(fh)
        except Exception:  # a corrupt or incompatible entry is recomputed, not trusted
            path.unlink(missing_ok=True)
    value = compute()
    with atomic_path(path, suffix=".pkl") as tmp, tmp.open("wb") as fh:
        pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return value
