"""File helpers: checksums and atomic writes (temporary file, then rename: no partial files)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20
_sha_memo: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, memoised per (path, size, mtime) within the process.

    Args:
        path: the file.

    Returns:
        The digest in hex.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
        >>> _ = p.write_text("Si")
        >>> sha256_file(p)[:12]
        '243a7b77913e'
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _sha_memo:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(_CHUNK):
                digest.update(block)
        _sha_memo[key] = digest.hexdigest()
    return _sha_memo[key]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success.

    On any exception the temporary file is removed and ``target`` is left untouched.

    Args:
        target: the file to write.
        suffix: keeps the extension that writers look at (for example ``.json.gz``).

    Yields:
        The temporary path to write to.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".partial{suffix}", dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target`` (which
    must be missing or a folder the caller has agreed to replace), on any exception it is
    removed and ``target`` is left as it was: a failed run leaves no folder and no stale file.

    Args:
        target: the folder to write.

    Yields:
        The temporary folder to write to.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f"{tmp.name}.old")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json_atomic(target: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``target`` atomically.

    Args:
        target: the file.
        obj: anything ``json`` writes (other types as their ``str``).

    Returns:
        ``target`` as a ``Path``.
    """
    with atomic_path(target, suffix=".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    return Path(target)
