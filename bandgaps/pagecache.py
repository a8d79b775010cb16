"""Executed pages kept between builds: a page whose inputs have not changed is not run again.

A page's key joins its source text, the code of every ``bandgaps`` module it imports (their
import closure, read as ``bandgaps.cache`` reads a stage's code: docstrings and comments do not
count), the checksums of every catalogued data set, and the versions of the libraries that
compute and render it. While a page runs, each cached stage it reads and each artefact it writes
(a Matbench results file, a named model) is noted; the page is reused only while all of them are
still there, so a pruned or deleted result makes the page run again. Pages that report on the
build itself (``ALWAYS_RUN``) run every time.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from bandgaps.files import write_json_atomic

#: Pages that show this build's own log and timings: never reused.
ALWAYS_RUN = frozenset({"reproducibility.py"})

#: Libraries that turn a page's results into its HTML (figures, tables, code cells).
RENDERING_LIBRARIES = (
    "matplotlib",
    "nbconvert",
    "nbclient",
    "ipykernel",
    "jupytext",
    "mkdocs-jupyter",
    "pygments",
)


def pages_dir() -> Path:
    """Where executed pages are kept: ``pages/`` in the cache folder."""
    from bandgaps.config import cache_dir

    return cache_dir() / "pages"


def page_modules(source: str) -> tuple[str, ...]:
    """The ``bandgaps`` modules a page's code imports.

    Args:
        source: the page's code.

    Returns:
        The modules' dotted names.

    Examples:
        >>> page_modules("from bandgaps.analyses import composition as C\\nimport numpy")
        ('bandgaps.analyses', 'bandgaps.analyses.composition')
    """
    from bandgaps.cache import imported_names, module_file

    found = {
        n
        for n in imported_names(ast.parse(source))
        if n.split(".")[0] == "bandgaps" and module_file(n) is not None
    }
    return tuple(sorted(found))


@functools.cache
def _environment() -> str:
    """Checksums of every catalogued data set and the rendering libraries' versions."""
    from importlib.metadata import PackageNotFoundError, version

    from bandgaps.data import catalog

    versions = {}
    for name in RENDERING_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    data = sorted((e.name, e.sha256) for e in catalog.CATALOG.values())
    return json.dumps({"data": data, "versions": versions}, sort_keys=True)


def page_key(path: Path, options: dict[str, Any] | None = None) -> str:
    """The key of an executed page: its text, its code, the data and the libraries.

    Args:
        path: the page's source.
        options: the execution options that change its output.

    Returns:
        A hex digest.
    """
    from bandgaps.cache import code_digest

    source = path.read_text()
    modules = page_modules(source)
    payload = json.dumps(
        {
            "source": hashlib.sha256(source.encode()).hexdigest(),
            "code": code_digest(modules) if modules else None,
            "environment": _environment(),
            "options": options or {},
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _record_path(src_uri: str, key: str) -> Path:
    return pages_dir() / f"{src_uri.replace('/', '__')}.{key}.json"


def lookup(src_uri: str, key: str) -> dict[str, Any] | None:
    """The kept page for ``key``.

    Args:
        src_uri: the page's source path.
        key: its ``page_key``.

    Returns:
        The kept page's record, or ``None`` when there is none or a result it read is gone.
    """
    if src_uri in ALWAYS_RUN:
        return None
    try:
        record = json.loads(_record_path(src_uri, key).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not {"content", "toc_tokens", "reads"} <= record.keys():
        return None
    if not all(Path(p).exists() for p in [*record["reads"], *record.get("outputs", [])]):
        return None
    return record


def store(src_uri: str, key: str, record: dict[str, Any]) -> None:
    """Keep an executed page (earlier versions of the same page are removed).

    Args:
        src_uri: the page's source path.
        key: its ``page_key``.
        record: the executed page (HTML, notes).
    """
    if src_uri in ALWAYS_RUN:
        return
    target = _record_path(src_uri, key)
    for old in pages_dir().glob(f"{src_uri.replace('/', '__')}.*.json"):
        if old != target:
            old.unlink(missing_ok=True)
    write_json_atomic(target, record)


def site_reads() -> set[str]:
    """Every cached result that the kept pages read: the results the site is made of."""
    paths: set[str] = set()
    for record in pages_dir().glob("*.json"):
        try:
            paths.update(json.loads(record.read_text()).get("reads", []))
        except (OSError, ValueError, AttributeError):
            continue
    return paths


def read_notes(log: Path) -> dict[str, list[str]]:
    """What a page's run noted (``bandgaps.cache.note``).

    Args:
        log: the run's note file.

    Returns:
        ``{"read": [...], "output": [...]}``: the results it read, the artefacts it wrote.
    """
    notes: dict[str, set[str]] = {"read": set(), "output": set()}
    try:
        lines = log.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            kind, path = json.loads(line)
        except (ValueError, TypeError):
            continue
        notes.setdefault(kind, set()).add(path)
    return {kind: sorted(paths) for kind, paths in notes.items()}


__all__ = [
    "ALWAYS_RUN",
    "lookup",
    "page_key",
    "page_modules",
    "pages_dir",
    "read_notes",
    "site_reads",
    "store",
]
