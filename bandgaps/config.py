"""Where the project finds its pinned snapshots and keeps its caches.

One setting each, read from the environment at call time:

* ``BANDGAPS_SHARED`` — the snapshot folder; default ``../shared`` beside the project root.
* ``BANDGAPS_CACHE`` — cache of expensive results; default ``.cache/bandgaps`` in the project root.
* ``BANDGAPS_PROGRESS`` — ``1``/``0`` forces progress bars on/off (default: on for a terminal).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bandgaps.errors import SnapshotError

#: One seed for every random choice of the study (splits, models, cells), so a rebuild gives
#: the same numbers.
SEED = 42

SHARED_ENV = "BANDGAPS_SHARED"
CACHE_ENV = "BANDGAPS_CACHE"
PROGRESS_ENV = "BANDGAPS_PROGRESS"


def project_root() -> Path:
    """The source checkout holding this package (falls back to the working directory).

    Examples:
        >>> (project_root() / "pyproject.toml").exists()
        True
    """
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def shared_root(must_exist: bool = True) -> Path:
    """The folder of pinned data and model snapshots (``$BANDGAPS_SHARED`` or ``../shared``).

    Args:
        must_exist: raise when the folder is missing.

    Returns:
        The folder, resolved.

    Raises:
        SnapshotError: the folder is missing, with the fix.
    """
    configured = os.environ.get(SHARED_ENV)
    root = Path(configured).expanduser() if configured else project_root().parent / "shared"
    root = root.resolve()
    if must_exist and not root.is_dir():
        how = f"${SHARED_ENV}={configured!r}" if configured else f"the default {root}"
        raise SnapshotError(
            f"Snapshot folder not found: {root} (from {how}). Place the shared snapshots beside "
            f"the project as ../shared, or set {SHARED_ENV} to the folder that holds them."
        )
    return root


def cache_dir() -> Path:
    """Folder for cached results (features, cleaned tables, trained models); created on demand."""
    configured = os.environ.get(CACHE_ENV)
    path = Path(configured).expanduser() if configured else project_root() / ".cache" / "bandgaps"
    return writable_folder(path, CACHE_ENV if configured else "the cache folder")


def writable_folder(path: Path, setting: str) -> Path:
    """``path`` as a folder this user may write to, created if need be.

    Args:
        path: the folder.
        setting: the variable or option it came from, named in errors.

    Returns:
        ``path``.

    Raises:
        InputError: a file stands there, or the system refuses to create or write it.
    """
    from bandgaps.errors import InputError

    if path.exists() and not path.is_dir():
        raise InputError(f"{setting}: {path} is a file; name a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"{setting}: cannot create the folder {path} ({exc.strerror or exc})"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{setting}: the folder {path} is not writable")
    return path


def progress_enabled() -> bool:
    """Whether long steps should draw progress bars (terminal yes, site build and CI no)."""
    forced = os.environ.get(PROGRESS_ENV)
    if forced is not None:
        return forced.strip().lower() not in {"0", "false", "no", "off", ""}
    return sys.stderr.isatty()
