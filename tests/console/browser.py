"""Drive Debian's Chromium with Playwright (sync API) in a thread of its own, and keep screenshots.

Playwright's sync API runs an event loop of its own; the tests' set-up uses ``asyncio.run`` (the services), so
each browser scenario runs in a separate thread and never shares a loop with them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "console"
T = TypeVar("T")


def shot(page: Page, name: str) -> None:
    """A full-page screenshot kept as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def in_browser(name: str, scenario: Callable[[Browser], T], timeout: float = 120.0) -> T:
    """Run ``scenario`` with a fresh headless Chromium in its own thread; a failure leaves a screenshot."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/browser.sh` (make test does)")
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                try:
                    outcome["value"] = scenario(browser)
                except BaseException:
                    for i, context in enumerate(browser.contexts):
                        for j, page in enumerate(context.pages):
                            shot(page, f"{name}-failure-{i}-{j}")
                    raise
                finally:
                    browser.close()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=work, name=f"browser-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"browser scenario {name} did not finish in {timeout} s")
    if "error" in outcome:
        raise outcome["error"]
    result: T = outcome["value"]
    return result


def new_page(browser: Browser, base_url: str) -> Page:
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm prompts
    return page


def sign_in(page: Page, admin_key: str) -> None:
    page.goto("/console/")
    page.fill("#admin_key", admin_key)
    page.click("#signin")
    page.wait_for_url(re.compile(r".*/console/$"))
    page.wait_for_selector("#who")


def csrf_of(page: Page) -> str:
    value = page.get_attribute("input[name=csrf_token]", "value")
    assert value
    return value
