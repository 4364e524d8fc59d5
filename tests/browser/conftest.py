"""Playwright with Debian's Chromium: one browser, a laptop context and a phone context side by side."""
import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent.parent
# `make screenshots` points this at docs/screenshots; a plain test run keeps its pictures out of git.
SCREENSHOTS = ROOT / os.environ.get("SCREENSHOT_DIR", "tests/browser/artifacts")
# Waits are on conditions, never on a clock: a loaded 2-core machine is slow, not wrong. The context
# timeout covers actions and locators; expect() has its own (5 s by default), set here to match.
TIMEOUT_MS = 15000
expect.set_options(timeout=TIMEOUT_MS)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium_path():
    """Debian's Chromium if present (it works offline); otherwise Playwright's own download, if any."""
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def playwright_instance():
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def laptop(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-ZA")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def phone(browser, playwright_instance):
    context = browser.new_context(**playwright_instance.devices["Pixel 7"], locale="en-ZA")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts():
    """Where the page audit's report and pictures go: never docs/, whatever SCREENSHOT_DIR says."""
    path = ROOT / "tests" / "browser" / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def screenshots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
