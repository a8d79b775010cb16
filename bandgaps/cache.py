"""Cached stages of the study: each result is keyed by the code that computes it, its inputs and
the libraries that compute it, so an edit recomputes only what it touches.

A **stage** is a named, cached step (``Stage``). Its key joins:

* the *code*: the stage's module and every ``bandgaps`` module it imports — directly, inside a
  function (lazily) or transitively — each read as its syntax tree with docstrings dropped, so
  comments, docstrings and formatting do not count (``code_digest``);
* the *inputs*: the caller's JSON-able description (parameters, and the sha256 of every file the
  result reads: snapshots, weights);
* the versions of the libraries that compute results (``KEYED_LIBRARIES``).

Editing ``screening/engine.py`` therefore leaves every stage whose modules never import it
untouched, and a changed docstring anywhere recomputes nothing. Results live in
``<cache>/results/<stage>/<key>.pkl`` with a ``.json`` record beside each (the modules it was
keyed by, its inputs, and the seconds it took to compute, its own sub-stages excluded), which
the Reproducibility page reads for each stage's cold cost. ``prune`` removes every entry no
current key can reach. Artefacts a user reads (named model files, the build log) live beside
``results/``, never in it. Values are pickled in the user's own cache folder (never exchanged:
model files use their own format). Writes are atomic, so an interrupted build leaves no
half-written entry.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import json
import os
import pickle
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bandgaps.config import cache_dir
from bandgaps.files import atomic_path, write_json_atomic

T = TypeVar("T")

#: Bump when a cached computation changes meaning without its inputs or code changing.
CACHE_VERSION = 3

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

#: Modules that never change a stored value — this keying machinery, checksums and atomic writes,
#: error classes — so their text is not part of any key (bump ``CACHE_VERSION`` instead when a
#: change here alters what a stored value means).
INFRASTRUCTURE = frozenset({"bandgaps.cache", "bandgaps.files", "bandgaps.errors"})

#: Setting that turns the result cache off for a process (``1``): every stage computes.
NO_CACHE_ENV = "BANDGAPS_NO_CACHE"
#: Set by the site build while a page runs: a file where the page's reads and writes are noted.
PAGE_LOG_ENV = "BANDGAPS_PAGE_LOG"
RESULTS = "results"

_disabled = 0


def _package_dir() -> Path:
    return Path(__file__).resolve().parent


# --- the code a stage runs ----------------------------------------------------------------------


def module_file(name: str) -> Path | None:
    """Source file of ``bandgaps`` module ``name`` in this package.

    Args:
        name: a dotted module name.

    Returns:
        The file, or ``None`` when there is none.
    """
    parts = name.split(".")[1:]
    base = _package_dir().joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_names(tree: ast.AST, package: str = "") -> set[str]:
    """Every dotted name an import anywhere in ``tree`` may load (``from a import b`` gives
    ``a`` and ``a.b``).

    Args:
        tree: a parsed module.
        package: the package relative imports are resolved against.

    Returns:
        The names.

    Examples:
        >>> sorted(imported_names(ast.parse("from bandgaps.analyses import composition")))
        ['bandgaps.analyses', 'bandgaps.analyses.composition']
    """
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
    return found


@functools.cache
def _parsed(name: str) -> tuple[str, frozenset[str]]:
    """(digest of the normalised syntax tree, the ``bandgaps`` modules it imports)."""
    path = module_file(name)
    if path is None:
        raise KeyError(name)
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    digest = hashlib.sha256(ast.dump(tree, annotate_fields=False).encode()).hexdigest()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imports = set()
    for module in imported_names(tree, package):
        parts = module.split(".")
        if parts[0] != "bandgaps":
            continue
        for i in range(1, len(parts) + 1):  # a package's __init__ runs before its modules
            prefix = ".".join(parts[:i])
            if module_file(prefix) is not None:
                imports.add(prefix)
    return digest, frozenset(imports - {name})


def module_closure(modules: Iterable[str]) -> tuple[str, ...]:
    """Every ``bandgaps`` module that importing ``modules`` can run, themselves included.

    Args:
        modules: dotted module names.

    Returns:
        The closure, sorted.

    Examples:
        >>> "bandgaps.models.boosting" in module_closure(["bandgaps.models.forest"])
        False
        >>> "bandgaps.files" in module_closure(["bandgaps.cache"])
        True
    """
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(_parsed(name)[1])
    return tuple(sorted(seen))


@functools.cache
def library_versions() -> dict[str, str | None]:
    """Versions of ``KEYED_LIBRARIES`` (None for one that is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in KEYED_LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


@functools.cache
def code_digest(modules: tuple[str, ...]) -> str:
    """sha256 over the normalised source of the closure of ``modules`` (``INFRASTRUCTURE``
    aside), the library versions and ``CACHE_VERSION``: what a stage's key says of its code.

    Examples:
        >>> code_digest(("bandgaps.files",)) == code_digest(("bandgaps.files",))
        True
        >>> code_digest(("bandgaps.files",)) == code_digest(("bandgaps.cache",))
        False
    """
    digest = hashlib.sha256(f"v{CACHE_VERSION}\0".encode())
    for name in module_closure(modules):
        if name not in INFRASTRUCTURE:
            digest.update(f"{name}\0{_parsed(name)[0]}\0".encode())
    digest.update(json.dumps(library_versions(), sort_keys=True).encode())
    return digest.hexdigest()


# --- stages -------------------------------------------------------------------------------------

#: Every stage declared so far, by name (modules declare theirs when imported).
STAGES: dict[str, Stage] = {}

#: Seconds spent in sub-stages of the stages now computing (innermost last).
_child_seconds: list[float] = []


def is_enabled() -> bool:
    """Whether stages read and write the result cache in this process."""
    return _disabled == 0 and os.environ.get(NO_CACHE_ENV, "").strip() in ("", "0")


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Compute every stage inside the block afresh, reading and writing nothing.

    Examples:
        >>> with disabled():
        ...     is_enabled()
        False
    """
    global _disabled
    _disabled += 1
    try:
        yield
    finally:
        _disabled -= 1


def results_dir() -> Path:
    """The result cache: ``results/`` in the cache folder."""
    return cache_dir() / RESULTS


def note(kind: str, path: str | Path) -> None:
    """Note for the page now running (if any) a cached result it read or an artefact it wrote,
    so that ``bandgaps.pagecache`` reuses the page only while they exist.

    Args:
        kind: ``"read"`` or ``"output"``.
        path: the file.
    """
    log = os.environ.get(PAGE_LOG_ENV)
    if log:
        with open(log, "a") as fh:
            fh.write(json.dumps([kind, str(Path(path).resolve())]) + "\n")


class Stage:
    """A cached step of the study: its name, the module that computes it and any other modules
    whose code enters its results.

    Call it with the inputs' description and a function that computes the result; ``code``
    names modules that this call also runs (a model class chosen at run time); ``use=False``
    computes without the cache (an estimator's own ``cache`` parameter).

    Args:
        name: the stage's name (one folder of results).
        module: the module that computes it (its import closure enters the key).
        code: other modules whose code enters every result.

    Examples:
        >>> demo = Stage("demo", "bandgaps.files")
        >>> demo.key({"a": 1}) == demo.key({"a": 1}), demo.key({"a": 1}) == demo.key({"a": 2})
        (True, False)
    """

    def __init__(self, name: str, module: str, code: Iterable[str] = ()):
        self.name = name
        self.roots = (module, *code)
        STAGES.setdefault(name, self)

    def code(self, extra: Iterable[str] = ()) -> str:
        """Digest of the code this stage runs.

        Args:
            extra: modules one call also runs.

        Returns:
            The digest of the modules' closure (docstrings and comments do not count).
        """
        return code_digest(tuple(sorted({*self.roots, *extra})))

    def key(self, inputs: dict[str, Any], code: Iterable[str] = ()) -> str:
        """The key of one result: the stage, its code and the inputs' description.

        Args:
            inputs: what the result is computed from (JSON-able).
            code: modules this call also runs.

        Returns:
            A hex digest.
        """
        payload = json.dumps(
            {"stage": self.name, "code": self.code(code), "inputs": inputs},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:24]

    def path(self, inputs: dict[str, Any], code: Iterable[str] = ()) -> Path:
        """Where the result for ``inputs`` is (or would be) kept.

        Args:
            inputs: what the result is computed from.
            code: modules this call also runs.

        Returns:
            ``<results>/<stage>/<key>.pkl``.
        """
        return results_dir() / self.name / f"{self.key(inputs, code)}.pkl"

    def __call__(
        self,
        inputs: dict[str, Any],
        compute: Callable[[], T],
        *,
        code: Iterable[str] = (),
        use: bool = True,
    ) -> T:
        """The cached result for ``inputs``, computed and stored on a miss."""
        code = tuple(code)
        if not (use and is_enabled()):
            return compute()
        path = self.path(inputs, code)
        if path.is_dir():  # not an entry this cache wrote: cleared so that one can be written
            shutil.rmtree(path)
        if path.exists():
            try:
                with path.open("rb") as fh:
                    value = pickle.load(fh)
                if _type_name(value) != _read_record(path).get("type"):
                    raise TypeError("the entry holds another type than its record says")
                note("read", path)
                return value
            except Exception:  # a corrupt, incompatible or replaced entry is recomputed
                path.unlink(missing_ok=True)
        _child_seconds.append(0.0)
        t0 = time.perf_counter()
        try:
            value = compute()
        finally:
            total = time.perf_counter() - t0
            children = _child_seconds.pop()
            if _child_seconds:
                _child_seconds[-1] += total
        with atomic_path(path, suffix=".pkl") as tmp, tmp.open("wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        write_json_atomic(
            path.with_suffix(".json"),
            {
                "stage": self.name,
                "type": _type_name(value),
                "roots": sorted({*self.roots, *code}),
                "code": self.code(code),
                "inputs": json.loads(json.dumps(inputs, sort_keys=True, default=str)),
                "seconds": round(total - children, 2),
                "seconds with sub-stages": round(total, 2),
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "created at": time.time(),
            },
        )
        note("read", path)
        return value


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _read_record(path: Path) -> dict[str, Any]:
    """The JSON record beside a cached result (empty when missing or unreadable)."""
    try:
        record = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def stage(name: str, module: str, code: Iterable[str] = ()) -> Stage:
    """The stage ``name`` (declared once; later calls return the same object).

    Args:
        name: the stage's name.
        module: the module that computes it.
        code: other modules whose code enters its results.

    Returns:
        The ``Stage``.
    """
    return STAGES.get(name) or Stage(name, module, code)


# --- what is in the cache -----------------------------------------------------------------------


def records(root: Path | None = None) -> list[dict[str, Any]]:
    """The record of every cached result (with its ``path``), oldest first.

    Args:
        root: the results folder (default this cache's).

    Returns:
        The records.
    """
    root = root or results_dir()
    out = []
    for meta in root.glob("*/*.json"):
        try:
            record = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            out.append({**record, "path": str(meta.with_suffix(".pkl"))})
    return sorted(out, key=lambda r: (str(r.get("created")), r["path"]))


def entries(root: Path | None = None) -> int:
    """Number of cached results.

    Args:
        root: the results folder (default this cache's).

    Returns:
        The count.
    """
    root = root or results_dir()
    return sum(1 for _ in root.glob("*/*.pkl")) if root.is_dir() else 0


def is_current(record: dict[str, Any]) -> bool:
    """Whether the current code and libraries can reach a cached result's record.

    Args:
        record: a result's JSON record (``records``).

    Returns:
        ``True`` when a current key leads to it.
    """
    try:
        roots = tuple(sorted(record["roots"]))
        return record["code"] == code_digest(roots)
    except (KeyError, TypeError, SyntaxError):  # a module gone or unreadable
        return False


def prune(root: Path | None = None) -> dict[str, int]:
    """Delete every cached result no current key can reach: made by code or libraries that are
    no longer these, or with no record.

    Args:
        root: the results folder (default this cache's).

    Returns:
        ``{"kept": n, "removed": n}``.
    """
    root = root or results_dir()
    kept = removed = 0
    if not root.is_dir():
        return {"kept": 0, "removed": 0}
    for pkl in root.glob("*/*.pkl"):
        meta = pkl.with_suffix(".json")
        try:
            record = json.loads(meta.read_text())
        except (OSError, ValueError):
            record = {}
        if isinstance(record, dict) and is_current(record):
            kept += 1
            continue
        pkl.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        removed += 1
    for meta in root.glob("*/*.json"):  # records whose result is gone
        if not meta.with_suffix(".pkl").exists():
            meta.unlink(missing_ok=True)
    return {"kept": kept, "removed": removed}


__all__ = [
    "KEYED_LIBRARIES",
    "STAGES",
    "Stage",
    "code_digest",
    "disabled",
    "entries",
    "imported_names",
    "is_current",
    "is_enabled",
    "library_versions",
    "module_closure",
    "module_file",
    "note",
    "prune",
    "records",
    "results_dir",
    "stage",
]
