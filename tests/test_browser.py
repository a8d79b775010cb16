"""The site as a reader sees it: served on 127.0.0.1, and opened from ``file://``, page by page
in headless Chromium (Debian's ``chromium``, driven by Playwright; no network needed).

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
from urllib.parse import urldefrag, urljoin

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


#: Tables that run past the article's right edge without a scrolling box inside the article.
CLIPPED_TABLES = """els => els.filter(t => {
  const edge = document.querySelector('article').getBoundingClientRect().right + 2;
  if (t.getBoundingClientRect().right <= edge) return false;
  for (let e = t; e && e.tagName !== 'ARTICLE'; e = e.parentElement) {
    const o = getComputedStyle(e).overflowX;
    if ((o === 'auto' || o === 'scroll') && e.getBoundingClientRect().right <= edge) return false;
  }
  return true;
}).length"""


def smallest_axis_text_px(shown: int, natural: int) -> float:
    """Rendered size (px) of the smallest axis text of a page figure shown ``shown`` px wide:
    tick labels are drawn at the page style's size and dpi (``bandgaps.plots.PAGE_STYLE``)."""
    from bandgaps.plots import PAGE_STYLE

    points = min(PAGE_STYLE["xtick.labelsize"], PAGE_STYLE["ytick.labelsize"])
    return points * PAGE_STYLE["figure.dpi"] / 72 * shown / natural


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


@pytest.fixture(scope="module", params=["http", "file"])
def crawl(request, built_site, tmp_path_factory):
    """Open the home page, follow every internal link breadth-first, and record per page what
    a reader would see: once served over HTTP on 127.0.0.1, once opened from ``file://`` (as the
    README says). Returns {page path relative to the site: record}, every link followed, every
    request that left the site, and the screenshot folder."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    base = (
        request.getfixturevalue("served_site")
        if request.param == "http"
        else built_site.resolve().as_uri() + "/"
    )

    def rel(url: str) -> str:
        path = urldefrag(url)[0][len(base) :]
        return "index.html" if path in ("", "/") else path

    artifacts = Path(os.environ.get("BANDGAPS_ARTIFACTS", project_root() / "artifacts"))
    shots = artifacts / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    profile = tmp_path_factory.mktemp("chromium-profile")
    pages: dict[str, dict] = {}
    links: list[tuple[str, str]] = []  # (from page, absolute link)
    outside: list[str] = []
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
        page.on(
            "request",
            lambda req: (
                None if req.url.startswith((base, "data:", "blob:")) else outside.append(req.url)
            ),
        )
        queue = [base if request.param == "http" else base + "index.html"]
        while queue:
            url = queue.pop(0)
            path = rel(url)
            if path in pages:
                continue
            errors.clear()
            try:
                response = page.goto(url, wait_until="load")
            except PlaywrightError:  # file:// of a missing file
                pages[path] = {"status": 404}
                continue
            page.wait_for_load_state("networkidle")
            # file:// has no HTTP status (Chromium reports 0): a page that opened is a 200
            status = response.status if response and response.status else 200
            record = {
                "status": status,
                "js errors": list(errors),
                "ids": set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)")),
                "images": page.eval_on_selector_all(
                    "article img",
                    "els => els.map(i => ({src: i.currentSrc.slice(0, 60), complete: i.complete,"
                    " w: i.naturalWidth, h: i.naturalHeight, shown: i.clientWidth}))",
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
                "clipped tables": page.eval_on_selector_all("article table", CLIPPED_TABLES),
            }
            pages[path] = record
            name = {"index.html": "home", "discussion.html": "discussion"}.get(path)
            if name:
                page.screenshot(path=str(shots / f"{name}-{request.param}.png"), full_page=True)
            for href in page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)"):
                absolute, _ = urldefrag(urljoin(url, href))
                if absolute.startswith(base):
                    links.append((path, urljoin(url, href)))
                    if rel(absolute) not in pages:
                        queue.append(absolute)
        context.close()
    return {
        "pages": pages,
        "links": links,
        "outside": outside,
        "shots": shots,
        "rel": rel,
        "kind": request.param,
    }


def test_navigation_reaches_every_page(crawl, built_site):
    built = {
        p.relative_to(built_site).as_posix()
        for p in built_site.rglob("*.html")
        if not p.relative_to(built_site).as_posix().startswith(("assets", "404"))
    }
    reached = {p for p, rec in crawl["pages"].items() if rec["status"] == 200}
    assert built - reached == set(), f"pages no link leads to: {sorted(built - reached)}"
    for page in ["index.html", "discussion.html", "reproducibility.html", "api/models.html"]:
        assert page in reached


def test_no_broken_internal_link(crawl):
    pages = crawl["pages"]
    broken = []
    for source, link in crawl["links"]:
        target, fragment = urldefrag(link)
        path = crawl["rel"](target)
        rec = pages.get(path)
        if rec is None or rec["status"] != 200:
            if not path.endswith((".css", ".js", ".png", ".svg", ".ico", ".xml", ".json")):
                broken.append(f"{source} -> {link} (status {rec and rec['status']})")
        elif fragment and fragment not in rec["ids"]:
            broken.append(f"{source} -> {link} (no element with id {fragment!r})")
    assert not broken, "\n".join(broken[:20])


def test_no_request_leaves_the_site(crawl):
    """Fonts, scripts and search are all in the built site: an offline reader gets every page."""
    assert crawl["outside"] == [], crawl["outside"][:10]


def test_figures_and_tables_fit_the_content_column(crawl):
    for path, rec in crawl["pages"].items():
        if rec["status"] != 200:
            continue
        assert rec["clipped tables"] == 0, f"{path}: a table runs past the content column"
        for img in rec["images"]:
            # every figure is shown large enough that its axis text is >= 10 px on screen
            assert smallest_axis_text_px(img["shown"], img["w"]) >= 10, (path, img)


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
        shot = crawl["shots"] / f"{name}-{crawl['kind']}.png"
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 20_000, f"{shot} looks empty"
