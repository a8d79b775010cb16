"""A small on-disk cache for expensive results, keyed by everything that determines them.

Keys are JSON-serialisable descriptions of the inputs (snapshot checksums, parameters, code
version); the value is pickled. A changed input gives a new key, so stale results are never
returned. Writes are atomic, so an interrupted build leaves no half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable
from typing import Any, TypeVar

from bandgaps.config import cache_dir
from bandgaps.files import atomic_path

T = TypeVar("T")

#: Bump when a cached computation changes meaning without its inputs changing.
CACHE_VERSION = 1


def cache_key(namespace: str, key: dict[str, Any]) -> str:
    """Stable hex digest of a namespace and a JSON-able key.

    Examples:
        >>> cache_key("demo", {"a": 1}) == cache_key("demo", {"a": 1})
        True
        >>> cache_key("demo", {"a": 1}) == cache_key("demo", {"a": 2})
        False
    """
    payload = json.dumps(
        {"ns": namespace, "v": CACHE_VERSION, "key": key}, sort_keys=True, default=str
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
