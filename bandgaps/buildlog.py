"""A log of site builds: how long each build and each page took, and whether it was cold or warm.

``mkdocs.yml`` loads this file as a hook, so every ``mkdocs build`` appends one record to
``build-log.json`` in the cache folder. A build is *cold* when it started with an empty cache,
*warm* when it computed nothing new (every expensive step was a cache hit) and *partial*
otherwise. The reproducibility page reads the log to show measured cold and warm build times.

Examples:
    >>> classify(entries_before=0, entries_after=120)
    'cold'
    >>> classify(entries_before=120, entries_after=120)
    'warm'
    >>> classify(entries_before=100, entries_after=120)
    'partial'
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOG_NAME = "build-log.json"
CURRENT_NAME = "build-current.json"
KEEP = 50

_state: dict[str, Any] = {}


def log_path() -> Path:
    """Where the build log lives: ``build-log.json`` in the cache folder."""
    from bandgaps.config import cache_dir

    return cache_dir() / LOG_NAME


def cache_entries(root: Path | None = None) -> int:
    """Number of cached results (``bandgaps.cache.entries``): user artefacts beside the result
    cache (named models, the build log, Matbench result files) do not count.

    Args:
        root: the results folder (default this cache's).

    Returns:
        The count.
    """
    from bandgaps import cache

    return cache.entries(root)


def classify(entries_before: int, entries_after: int) -> str:
    """What kind of build it was.

    Args:
        entries_before: cached results when it started.
        entries_after: cached results when it ended.

    Returns:
        ``cold`` (started from an empty cache), ``warm`` (nothing recomputed) or ``partial``.
    """
    if entries_before == 0:
        return "cold"
    return "warm" if entries_after == entries_before else "partial"


def read_log(path: Path | None = None) -> list[dict[str, Any]]:
    """All recorded builds, oldest first (an unreadable log reads as empty).

    Args:
        path: the log (default the cache's).

    Returns:
        The records.
    """
    path = path or log_path()
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return records if isinstance(records, list) else []


def append_record(record: dict[str, Any], path: Path | None = None) -> None:
    """Add one build record, keeping the newest ``KEEP`` (written atomically).

    Args:
        record: the build's record.
        path: the log (default the cache's).
    """
    from bandgaps.files import write_json_atomic

    path = path or log_path()
    write_json_atomic(path, ([*read_log(path), record])[-KEEP:])


def latest(kind: str, records: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """The newest complete build of a kind.

    Args:
        kind: ``cold``, ``warm`` or ``partial``.
        records: the records to look in (default the log's).

    Returns:
        The record, or ``None``.
    """
    records = read_log() if records is None else records
    return next((r for r in reversed(records) if r.get("kind") == kind), None)


def read_current() -> dict[str, Any] | None:
    """The build now running, as far as it got: its start and the pages rendered so far.

    Pages are executed in their own kernels, so this is how a page learns about the build that
    renders it. None when no build is running.
    """
    try:
        return json.loads((log_path().parent / CURRENT_NAME).read_text())
    except (OSError, ValueError):
        return None


def _write_current() -> None:
    from bandgaps.files import write_json_atomic

    write_json_atomic(
        log_path().parent / CURRENT_NAME,
        {
            "started": _state["started"],
            "seconds so far": round(time.perf_counter() - _state["t0"], 1),
            "kind so far": classify(_state["entries_before"], cache_entries()),
            "pages": _state["pages"],
        },
    )


# --- mkdocs hook events -------------------------------------------------------------------------


def on_pre_build(config, **kwargs) -> None:
    """mkdocs hook: start timing a build and count the cached results.

    Args:
        config: mkdocs' configuration.
        **kwargs: mkdocs' other arguments.
    """
    _state.clear()
    _state.update(
        t0=time.perf_counter(),
        wall0=time.time(),
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        entries_before=cache_entries(),
        pages={},
    )
    _write_current()


def _nav_paths(nav) -> list[str]:
    """Source paths of ``mkdocs.yml``'s nav, in reading order."""
    out: list[str] = []
    for item in nav or []:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            out.extend(_nav_paths(value))
        elif isinstance(value, str):
            out.append(value)
    return out


def on_files(files, config, **kwargs):
    """mkdocs hook: pages are executed in the order a reader meets them (the nav), not by file
    name, so each page pays for its own stages and the Reproducibility page, last, sees every
    stage.

    Args:
        files: the site's files.
        config: mkdocs' configuration.
        **kwargs: mkdocs' other arguments.

    Returns:
        The files, pages in nav order.
    """
    from mkdocs.structure.files import Files

    rank = {path: i for i, path in enumerate(_nav_paths(config.get("nav")))}
    ordered = sorted(enumerate(files), key=lambda p: (rank.get(p[1].src_uri, len(rank)), p[0]))
    return Files([f for _, f in ordered])


def on_pre_page(page, config, files, **kwargs):
    """mkdocs hook: start timing a page.

    Args:
        page: the page.
        config: mkdocs' configuration.
        files: the site's files.
        **kwargs: mkdocs' other arguments.

    Returns:
        The page.
    """
    _state["page_t0"] = time.perf_counter()
    if page.file.src_uri.endswith(".py") and "mkdocs-jupyter" in getattr(config, "plugins", {}):
        _reuse_unchanged(page, config)
    return page


#: The mkdocs-jupyter options that change a page's HTML (part of its key).
_RENDER_OPTIONS = (
    "execute",
    "allow_errors",
    "kernel_name",
    "theme",
    "show_input",
    "no_input",
    "no_prompt",
    "remove_tag_config",
    "toc_depth",
    "ignore_h1_titles",
)


def _reuse_unchanged(page, config) -> None:
    """Wrap mkdocs-jupyter's render of ``page``: reuse the kept page when its key and the results
    it read are unchanged (``bandgaps.pagecache``), else run it and keep what it made."""
    import tempfile

    from mkdocs.structure.pages import Page
    from mkdocs.structure.toc import get_toc

    from bandgaps import cache, pagecache

    if not cache.is_enabled():
        return
    options = dict(config.plugins["mkdocs-jupyter"].config)
    options = {k: options.get(k) for k in _RENDER_OPTIONS}
    src = page.file.src_uri
    key = pagecache.page_key(Path(page.file.abs_src_path), options)
    run = page.render

    def render(self, config, files):
        kept = pagecache.lookup(src, key)
        if kept is not None:
            self.content = kept["content"]
            self.toc = get_toc(kept["toc_tokens"])
            if kept.get("title") is not None and not options["ignore_h1_titles"]:
                self.title = kept["title"]
            _state.setdefault("reused", []).append(src)
            return
        fd, log = tempfile.mkstemp(prefix="bandgaps-page-", suffix=".log")
        os.close(fd)
        os.environ[cache.PAGE_LOG_ENV] = log
        try:
            run(config, files)
        finally:
            os.environ.pop(cache.PAGE_LOG_ENV, None)
            notes = pagecache.read_notes(Path(log))
            Path(log).unlink(missing_ok=True)
        from mkdocs_jupyter.plugin import _get_nb_toc_tokens

        toc_tokens, title = _get_nb_toc_tokens(self.file.abs_src_path, options["toc_depth"])
        pagecache.store(
            src,
            key,
            {
                "content": self.content,
                "toc_tokens": toc_tokens,
                "title": title,
                "reads": notes["read"],
                "outputs": notes["output"],
            },
        )

    page.render = render.__get__(page, Page)


def on_page_content(html, page, config, files, **kwargs):
    """mkdocs hook: record the page's seconds.

    Args:
        html: the page's HTML.
        page: the page.
        config: mkdocs' configuration.
        files: the site's files.
        **kwargs: mkdocs' other arguments.

    Returns:
        The HTML, unchanged.
    """
    if "page_t0" in _state:
        _state["pages"][page.file.src_uri] = round(time.perf_counter() - _state.pop("page_t0"), 2)
        _write_current()
    return html


def on_post_build(config, **kwargs) -> None:
    """mkdocs hook: write the build's record (kind, seconds, pages, stages computed).

    Args:
        config: mkdocs' configuration.
        **kwargs: mkdocs' other arguments.
    """
    if "t0" not in _state:
        return
    from bandgaps import cache

    after = cache_entries()
    (log_path().parent / CURRENT_NAME).unlink(missing_ok=True)
    computed: dict[str, dict[str, float]] = {}
    for record in cache.records():
        if float(record.get("created at", 0.0)) >= _state["wall0"]:
            entry = computed.setdefault(record["stage"], {"computed": 0, "seconds": 0.0})
            entry["computed"] += 1
            entry["seconds"] = round(entry["seconds"] + float(record.get("seconds", 0.0)), 2)
    pruned = cache.prune()
    append_record(
        {
            "started": _state["started"],
            "seconds": round(time.perf_counter() - _state["t0"], 1),
            "kind": classify(_state["entries_before"], after),
            "cache_entries_before": _state["entries_before"],
            "cache_entries_after": after,
            "pages": _state["pages"],
            "stages computed": computed,
            "pages reused": _state.get("reused", []),
            "pruned": pruned["removed"],
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
        }
    )
