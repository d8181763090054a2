"""Headless Chromium (Debian's package, driven by Playwright) for the dashboard's browser tests.

`make test` installs Chromium (`make browser`). Without it these tests skip with the reason,
except in CI (`CI=true`), where they must run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium, for one module: Playwright's sync API holds the thread's event loop while it
    runs, so it is stopped before other modules' tests."""
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing: `make browser` installs it (make test does)")
        pytest.skip("Chromium is not installed: run `make browser`")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    yield opened
    context.close()


AXE_SCRIPT = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PHONE_WIDTH = 390


def axe_problems(page: Page) -> list[str]:
    """The serious and critical accessibility violations axe-core finds on the open page (WCAG
    2.1 A and AA), each with the first elements it names. axe-core is installed by
    `make browser` from the npm registry; it is never fetched at run time."""
    if not AXE_SCRIPT.exists():
        pytest.fail("axe-core is missing: `make browser` installs it (make test does)")
    page.add_script_tag(path=str(AXE_SCRIPT))
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {
                runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
                resultTypes: ["violations"],
            });
            return result.violations
                .filter(item => item.impact === "serious" || item.impact === "critical")
                .map(item => item.id + " (" + item.impact + "): " + item.help + " — " +
                     item.nodes.slice(0, 3).map(node => node.target.join(" ")).join(" | "));
        }"""
    )
    return [str(item) for item in found]


def overflow_at_phone_width(page: Page) -> int:
    """How many pixels the open page is wider than a phone's screen (0: it fits)."""
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
    width = int(page.evaluate("document.documentElement.scrollWidth"))
    return max(0, width - PHONE_WIDTH)
