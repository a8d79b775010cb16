"""The site as a reader sees it: served on 127.0.0.1 and opened page by page in headless
Chromium (Debian's ``chromium``, driven by Playwright; no network needed).

Every page reachable from the home page's navigation must load without an error or traceback
in any output cell, every image must decode to a non-zero size, and no internal link may
point at a missing page or anchor. Screenshots of the home and discussion pages are written
to ``artifacts/screenshots`` (``BANDGAPS_ARTIFACTS`` overrides the folder).
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest

from bandgaps.config import project_root

pytestmark = pytest.mark.site

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("BANDGAPS_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).is_file():
        pytest.fail(
            f"Chromium not found at {path}: `make test` installs Debian's chromium; elsewhere "
            "install it or set BANDGAPS_CHROMIUM to its path."
        )
    return path


@pytest.fixture(scope="module")
def served_site(built_site):
    """The built site on an ephemeral port of 127.0.0.1."""
    handler = functools.partial(QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output readable
        pass


@pytest.fixture(scope="module")
def crawl(served_site, tmp_path_factory):
    """Open the home page, follow every internal link breadth-first, and record per page what
    a reader would see. Returns {path: record} plus the screenshot folder."""
    from playwright.sync_api import sync_playwright

    artifacts = Path(os.environ.get("BANDGAPS_ARTIFACTS", project_root() / "artifacts"))
    shots = artifacts / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    profile = tmp_path_factory.mktemp("chromium-profile")
    pages: dict[str, dict] = {}
    links: list[tuple[str, str]] = []  # (from page, absolute link)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium_path(),
            headless=True,
            args=CHROMIUM_ARGS[1:],  # Playwright adds --headless itself
            viewport={"width": 1280, "height": 900},
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        queue = [served_site]
        while queue:
            url = queue.pop(0)
            path = urlparse(url).path
            if path in pages:
                continue
            errors.clear()
            response = page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")
            record = {
                "status": response.status if response else None,
                "js errors": list(errors),
                "ids": set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)")),
                "images": page.eval_on_selector_all(
                    "article img",
                    "els => els.map(i => ({src: i.currentSrc.slice(0, 60), complete: i.complete,"
                    " w: i.naturalWidth, h: i.naturalHeight}))",
                ),
                "stderr cells": page.locator(
                    '[data-mime-type="application/vnd.jupyter.stderr"]'
                ).count(),
                "error cells": page.locator(".jp-OutputArea-output .ansi-red-fg, .output_error")
                .filter(has_text="Error")
                .count(),
                "output text": "\n".join(
                    page.eval_on_selector_all(
                        ".jp-OutputArea-output", "els => els.map(e => e.innerText)"
                    )
                ),
            }
            pages[path] = record
            name = {"/": "home", "/discussion/": "discussion"}.get(path)
            if name:
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            for href in page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)"):
                absolute, _ = urldefrag(urljoin(url, href))
                if absolute.startswith(served_site):
                    links.append((path, urljoin(url, href)))
                    if urlparse(absolute).path not in pages:
                        queue.append(absolute)
        context.close()
    return {"pages": pages, "links": links, "shots": shots}


def test_navigation_reaches_every_page(crawl, built_site):
    rels = [p.parent.relative_to(built_site).as_posix() for p in built_site.rglob("index.html")]
    built = {"/" if rel == "." else f"/{rel}/" for rel in rels if not rel.startswith("assets")}
    reached = {p for p, rec in crawl["pages"].items() if rec["status"] == 200}
    assert built - reached == set(), f"pages no link leads to: {sorted(built - reached)}"
    for page in ["/", "/discussion/", "/reproducibility/", "/api/models/"]:
        assert page in reached


def test_no_broken_internal_link(crawl):
    pages = crawl["pages"]
    broken = []
    for source, link in crawl["links"]:
        target, fragment = urldefrag(link)
        path = urlparse(target).path
        rec = pages.get(path)
        if rec is None or rec["status"] != 200:
            if not path.endswith((".css", ".js", ".png", ".svg", ".ico", ".xml", ".json")):
                broken.append(f"{source} -> {link} (status {rec and rec['status']})")
        elif fragment and fragment not in rec["ids"]:
            broken.append(f"{source} -> {link} (no element with id {fragment!r})")
    assert not broken, "\n".join(broken[:20])


def test_every_page_loads_without_errors(crawl):
    loaded = {path: rec for path, rec in crawl["pages"].items() if rec["status"] == 200}
    assert len(loaded) >= 16  # 9 study pages and 7 API pages (broken links fail their own test)
    for path, rec in loaded.items():
        assert not rec["js errors"], (path, rec["js errors"])
        assert rec["stderr cells"] == 0, f"{path}: an output cell wrote to stderr"
        assert rec["error cells"] == 0, f"{path}: an output cell shows an error"
        assert "Traceback (most recent call last)" not in rec["output text"], path


def test_every_figure_loads(crawl):
    n_figures = 0
    for path, rec in crawl["pages"].items():
        for img in rec["images"]:
            assert img["complete"] and img["w"] > 0 and img["h"] > 0, (path, img)
            n_figures += 1
    assert n_figures >= 20  # the executed pages carry at least this many plots


def test_screenshots_of_home_and_discussion(crawl):
    for name in ("home", "discussion"):
        shot = crawl["shots"] / f"{name}.png"
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 20_000, f"{shot} looks empty"
