"""A real browser for the HTML report and the live dashboard: Debian's Chromium, headless, driven
by Playwright (its own browser download is not used; scripts/setup --dev installs ``chromium``).

Every request that is neither a file nor loopback is refused and recorded, and every console error
and uncaught exception is recorded, so a test can assert that a page needs no network and runs
clean."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

CANDIDATES = ("chromium", "chromium-browser")


def chromium_path() -> str:
    """Debian's Chromium, or a skip where it is not installed (CI installs it: there it must be)."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed (scripts/setup --dev installs it)")
    pytest.skip("chromium is not installed (scripts/setup --dev installs it)")


@dataclass
class Visit:
    page: Any
    console_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)

    def charts(self) -> dict[str, int]:
        """Each chart (``data-chart``) and how many SVG paths Plotly drew in its plot area's traces."""
        return {c.get_attribute("data-chart"): len(c.query_selector_all(".scatterlayer .trace path"))
                for c in self.page.query_selector_all("[data-chart]")}

    def screenshot(self, path: Path) -> float:
        """A full-page PNG at ``path``; the standard deviation of its grey levels (0: blank)."""
        from PIL import Image, ImageStat

        self.page.screenshot(path=str(path), full_page=True)
        with Image.open(path) as image:
            return float(ImageStat.Stat(image.convert("L")).stddev[0])


def _local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("file", "data", "blob", "about"):
        return True
    return parts.scheme in ("http", "https", "ws") and parts.hostname in ("127.0.0.1", "localhost", "::1")


@contextlib.contextmanager
def visit(url: str, width: int = 1400, height: int = 900) -> Iterator[Visit]:
    """Opens ``url`` in headless Chromium; yields the :class:`Visit` once the page has loaded."""
    with browser(width, height) as seen:
        seen.page.goto(url, wait_until="load")
        yield seen


@contextlib.contextmanager
def browser(width: int = 1400, height: int = 900) -> Iterator[Visit]:
    """A headless Chromium tab, routed and watched, on no page yet (``.page.goto`` it)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            seen = Visit(page)
            page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: seen.console_errors.append(str(e)))

            def refuse(r: Any) -> None:
                seen.external_requests.append(r.request.url)
                r.abort()

            # Only what is not local is intercepted: an intercepted request is fetched by Playwright
            # and an event stream (the dashboard's) would never reach the page.
            page.route(lambda url: not _local(url), refuse)
            yield seen
        finally:
            browser.close()
