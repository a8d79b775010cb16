"""The pre-registered Matbench entries (``registry.toml``) and the commits that registered them.

An entry is defined in ``registry.toml`` before it is scored: its features, its model, every
choice and how that choice is made inside a fold's training rows, and the data it learns from
besides the task. The commit that added the entry is its registration; ``registration``
finds it with ``git log -S`` on the entry's id, so it cannot be typed in after the fact.

Examples:
    >>> entry = get_entry("expt-gap-cleaned")
    >>> entry.task, entry.role
    ('expt_gap', 'submitted')
    >>> sorted({e.task for e in load_registry()})
    ['expt_gap', 'expt_is_metal', 'mp_gap']
"""

from __future__ import annotations

import functools
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bandgaps.errors import InputError

REGISTRY = Path(__file__).with_name("registry.toml")
ROLES = ("submitted", "ablation", "candidate")
_TASKS = ("mp_gap", "expt_gap", "expt_is_metal")


@dataclass(frozen=True)
class RegisteredEntry:
    """One entry of ``registry.toml``.

    Attributes:
        id: its stable name.
        task: ``mp_gap``, ``expt_gap`` or ``expt_is_metal``.
        label: its label on the Benchmarks page.
        algorithm: the short name for Matbench's leaderboard.
        role: ``submitted``, ``ablation`` or ``candidate`` (registered, not yet scored).
        features: what a row is described by.
        model: the estimator.
        choices: each choice and how it is made inside a fold's training rows.
        learned_from: data besides the fold's training rows.
        registered_after_scoring: defined in code before scoring, but entered here later.
        description: a paragraph for ``info.json`` (submitted entries).
    """

    id: str
    task: str
    label: str
    algorithm: str
    role: str
    features: str
    model: str
    choices: tuple[str, ...]
    learned_from: tuple[str, ...]
    registered_after_scoring: bool
    description: str = ""


@functools.cache
def load_registry(path: Path = REGISTRY) -> tuple[RegisteredEntry, ...]:
    """Every registered entry, checked: unique ids, known tasks and roles, a short name
    Matbench accepts, and one submitted entry with a description per task.

    Args:
        path: the registry file.

    Returns:
        The entries, in the file's order.

    Raises:
        InputError: a malformed registry, naming the entry.
    """
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"The entry registry {path} cannot be read: {exc}") from None
    entries = []
    for item in raw.get("entry", []):
        try:
            entry = RegisteredEntry(
                **{
                    **item,
                    "choices": tuple(item.get("choices", ())),
                    "learned_from": tuple(item.get("learned_from", ())),
                }
            )
        except TypeError as exc:
            raise InputError(f"{path}: entry {item.get('id')!r} is malformed ({exc})") from None
        _check(entry, path)
        entries.append(entry)
    ids = [e.id for e in entries]
    if len(set(ids)) != len(ids):
        raise InputError(f"{path}: an id is registered twice")
    for task in _TASKS:
        submitted = [e for e in entries if e.task == task and e.role == "submitted"]
        if len(submitted) != 1 or not submitted[0].description:
            raise InputError(f"{path}: {task} needs exactly one submitted entry, described")
    return tuple(entries)


def _check(entry: RegisteredEntry, path: Path) -> None:
    problems = []
    if entry.task not in _TASKS:
        problems.append(f"task {entry.task!r}")
    if entry.role not in ROLES:
        problems.append(f"role {entry.role!r}")
    if not 5 <= len(entry.algorithm) <= 15:
        problems.append(f"algorithm name {entry.algorithm!r} (5–15 characters)")
    if not entry.choices:
        problems.append("no choices listed (write 'none' and why)")
    if problems:
        raise InputError(f"{path}: entry {entry.id!r}: " + "; ".join(problems))


def get_entry(entry_id: str) -> RegisteredEntry:
    """The registered entry ``entry_id``.

    Args:
        entry_id: its id.

    Returns:
        The entry.

    Raises:
        InputError: no such entry.
    """
    for entry in load_registry():
        if entry.id == entry_id:
            return entry
    raise InputError(f"No entry {entry_id!r} is registered in {REGISTRY.name}")


def entry_for(task: str, label: str) -> RegisteredEntry:
    """The registered entry that a runner calls ``label`` on ``task``; an entry that is run
    must be registered.

    Args:
        task: ``mp_gap``, ``expt_gap`` or ``expt_is_metal``.
        label: the runner's label (``BenchmarkRun.entry``).

    Returns:
        The entry.

    Raises:
        InputError: the entry is not registered.
    """
    for entry in load_registry():
        if entry.task == task and entry.label == label:
            return entry
    raise InputError(f"The {task} entry {label!r} is not registered in {REGISTRY.name}")


def submitted_entry(task: str) -> RegisteredEntry:
    """The entry submitted for ``task``.

    Args:
        task: ``mp_gap``, ``expt_gap`` or ``expt_is_metal``.

    Returns:
        The entry.
    """
    return next(e for e in load_registry() if e.task == task and e.role == "submitted")


@dataclass(frozen=True)
class Registration:
    """The commit that added an entry to the registry.

    Attributes:
        commit: its short hash, or an empty string when none is found.
        date: its commit date (YYYY-MM-DD), or what was found instead.
    """

    commit: str
    date: str


@functools.cache
def registration(entry_id: str, path: Path = REGISTRY) -> Registration:
    """The commit that registered ``entry_id``: the oldest commit whose change to the registry
    adds its ``id = "…"`` line (``git log -S``).

    Args:
        entry_id: the entry.
        path: the registry file.

    Returns:
        The ``Registration``; its commit is empty outside a git checkout or before the entry
        is committed (the date then says which).
    """
    needle = f'id = "{entry_id}"'
    try:
        out = subprocess.run(
            ["git", "log", "--reverse", "--format=%h %cs", "-S", needle, "--", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return Registration("", "not a git checkout")
    if len(out) < 2:
        return Registration("", "not committed yet")
    return Registration(out[0], out[1])


def registry_table(scores: dict[str, str] | None = None) -> pd.DataFrame:
    """Every registered entry with its registration and, where given, its score.

    Args:
        scores: the five-fold score of each scored entry, by id (as text).

    Returns:
        One row per entry: task, entry, role, registered (commit and date), score.
    """
    scores = scores or {}
    rows = []
    for e in load_registry():
        reg = registration(e.id)
        when = f"{reg.commit} ({reg.date})" if reg.commit else reg.date
        if e.registered_after_scoring:
            when += ", entered after scoring"
        rows.append(
            {
                "task": e.task,
                "entry": e.label,
                "id": e.id,
                "role": e.role,
                "registered": when,
                "score": scores.get(e.id, "not scored yet" if e.role == "candidate" else "–"),
            }
        )
    return pd.DataFrame(rows)


__all__ = [
    "REGISTRY",
    "ROLES",
    "RegisteredEntry",
    "Registration",
    "entry_for",
    "get_entry",
    "load_registry",
    "registration",
    "registry_table",
    "submitted_entry",
]
