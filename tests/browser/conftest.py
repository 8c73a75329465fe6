"""A real headless Chromium (Debian's `chromium` package) driven by Playwright.

Playwright only drives the installed binary (executable_path): nothing is downloaded. The
browser runs as root, so without its sandbox, with a fresh profile each time. Its traffic goes
through a proxy address where nothing listens, so only 127.0.0.1 (bypassed) is reachable: a
page that needs the internet fails here as it would on a host without internet.

Without /usr/bin/chromium these tests skip (scripts/ensure-chromium.sh installs it), unless
FEEDDOCK_REQUIRE_BROWSER=1 (scripts/test.sh sets it), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("FEEDDOCK_CHROMIUM", "/usr/bin/chromium")
REQUIRE_ENV = "FEEDDOCK_REQUIRE_BROWSER"
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".cache" / "screenshots"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Nothing listens on port 9: every request but loopback's fails, as offline.
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1;localhost",
]


def need_browser() -> None:
    if Path(CHROMIUM).is_file():
        return
    problem = f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh"
    if os.environ.get(REQUIRE_ENV, "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{REQUIRE_ENV}=1 but {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture
def browser_page() -> Iterator[object]:
    """A fresh page in a fresh Chromium profile."""
    need_browser()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="ops-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        page = context.pages[0] if context.pages else context.new_page()
        yield page
        context.close()


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / name
