"""The race page of `redraft serve` in headless Chromium (Playwright), against a live server
that requires an API key: the page asks for the key, answers a document once, and races a
fresh answer against a redraft after an edit.

REDRAFT_SCREENSHOT=1 saves the raced page to docs/race-page.png (the README shows it)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.live_server import Server, live_server

pytestmark = [pytest.mark.model, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "race-page.png"
TAKE_SCREENSHOT = os.environ.get("REDRAFT_SCREENSHOT") == "1"
KEY = "race-page-test-key"
WAIT_MS = 120_000  # a first answer and a race on one thread of a busy machine

DOC = (
    "Release notes. The library reopens on March 14 after a renovation. Maria Okafor leads "
    "the new children's wing, and the maker space opens a week later with three 3D printers "
    "and a laser cutter."
)
EDITED = DOC.replace("March 14", "April 3")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    env = {"REDRAFT_MAX_TOKENS": "48", "REDRAFT_API_KEY": KEY}
    if TAKE_SCREENSHOT:  # show the times of the default, every core (costs one calibration)
        env["REDRAFT_THREADS"] = str(os.cpu_count() or 1)
    with live_server(tmp_path_factory.mktemp("race"), env=env) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run the "
                    "race page in a browser")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1360, "height": 820})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.base_url)
    yield page
    context.close()
    assert not errors, errors


def enter_key(page, key: str) -> None:
    page.fill("#key", key)
    page.click("#key-form button")


def test_the_page_asks_for_the_servers_api_key(page):
    page.wait_for_selector("#key-form", state="visible")
    enter_key(page, "not-the-key")
    page.wait_for_selector("#key[placeholder='that key was refused']")
    enter_key(page, KEY)
    page.wait_for_selector("#key-form", state="hidden")
    assert "SmolLM2" in page.text_content("#model")


def test_an_edit_races_regenerate_against_redraft(page):
    enter_key(page, KEY)
    page.wait_for_selector("#key-form", state="hidden")
    page.fill("#document", DOC)
    page.click("#first")
    page.wait_for_selector("#race:not([disabled])")
    assert page.text_content("#answer").strip()
    assert page.text_content("#answer-meta").startswith("revision 1 · fresh")

    page.fill("#document", EDITED)  # the pause after it starts the race
    page.wait_for_function("document.getElementById('tally-edits').textContent === '1'")

    for arm in ("regenerate", "redraft"):
        panel = f"#panel-{arm}"
        assert page.text_content(f"{panel} .panel-text").strip()
        for field in (".clock", ".first", ".total"):
            assert re.fullmatch(r"\d+\.\d\d s", page.text_content(f"{panel} {field}")), field
        assert int(page.text_content(f"{panel} .tokens")) > 0
    assert page.locator("#panel-redraft .panel-text .held").count() > 0
    assert page.locator("#panel-regenerate .panel-text .held").count() == 0
    assert re.fullmatch(r"\d+\.\d\d×", page.text_content("#tally-speedup"))
    assert re.fullmatch(r"-?\d+\.\d s", page.text_content("#tally-saved"))
    assert page.text_content("#answer-meta").startswith("revision 2 · redrafted")
    assert page.locator("#history-rows tr").count() == 1

    if TAKE_SCREENSHOT:
        page.locator("#document").blur()
        page.screenshot(path=str(SCREENSHOT), full_page=True)
