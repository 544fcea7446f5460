"""The story in a real browser: Guido and Ada edit one document in headless Chromium.

Each person is a separate browser context (their own storage, their own page). Chromium is
Debian's ``/usr/bin/chromium`` driven by Playwright; nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services import REQUIRE_SERVICES

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
POLL_MS = 300  # the page's polling interval in these tests (default 1000)
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(message + " and IFMATCH_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def person(browser: Any, demo_url: str) -> Iterator[Any]:
    """``person(name, doc_id)``: a page of its own browser context, showing that document."""
    contexts = []

    def open_as(name: str, doc_id: int) -> Any:
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.js_errors = errors
        page.goto(f"{demo_url}/?user={name}&poll={POLL_MS}#doc={doc_id}")
        page.wait_for_function(
            "id => document.querySelector('#doc-state').textContent.includes('ETag')"
            " && location.hash === '#doc=' + id",
            arg=doc_id,
        )
        return page

    yield open_as
    for context in contexts:
        context.close()


def new_document(
    http: httpx.Client, demo_url: str, title: str, lines: list[str], author: str = "Guido"
) -> int:
    response = http.post(
        f"{demo_url}/api/documents/",
        json={"title": title, "text": "\n".join(lines) + "\n", "author": author},
    )
    assert response.status_code == 201, response.text
    doc_id: int = response.json()["id"]
    return doc_id


def edit_line(page: Any, index: int, new: str) -> None:
    text = page.input_value("#text")
    lines = text.split("\n")
    lines[index] = new
    page.fill("#text", "\n".join(lines))


def expect_text(page: Any, selector: str, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator(selector)).to_contain_text(text, timeout=TIMEOUT_MS)


LINES = [
    "Guido and Ada both have this document open.",
    "Every save sends If-Match with the ETag the page loaded.",
    "",
    "Agenda",
    "1. Two people edit the same text.",
    "2. The first save wins and gets a new ETag.",
    "3. The second save carries the old ETag: 412 Precondition Failed.",
    "4. The page merges both versions and saves again on the new ETag.",
    "",
    "Nobody's work is lost.",
]


def test_guido_saves_ada_merges_and_nothing_is_lost(
    http: httpx.Client, person: Any, demo_url: str, tmp_path: Path
) -> None:
    doc = new_document(http, demo_url, "Talk notes: lost updates", LINES)
    guido, ada = person("Guido", doc), person("Ada", doc)

    # Both edit the version they loaded (v1): one line each on their own, one line both.
    edit_line(ada, 0, "Guido and Ada both have this document open, in two windows.")
    edit_line(ada, 4, "1. Two people edit the same text (Ada: at the same moment).")
    edit_line(guido, 4, "1. Two people edit the same text (Guido: from two cities).")
    edit_line(guido, 9, "Nobody's work is lost, not even Guido's.")
    guido.click("#save")
    expect_text(guido, "#status", "Saved version 2")

    # Ada's page notices Guido's save by itself (a poll got 200 instead of 304).
    expect_text(ada, "#notice", "Changed by someone else")
    expect_text(ada, "#notice", "Guido saved version 2")

    # Ada saves anyway with If-Match: "v1": refused with 412, the page shows the merge view.
    ada.click("#save")
    ada.wait_for_selector("#merge", state="visible")
    expect_text(ada, "#merge-summary", "2 changes merged automatically")
    expect_text(ada, "#merge-summary", "1 conflict to resolve")
    expect_text(ada, "#caption-theirs", "version 2 by Guido")
    assert ada.is_disabled("#save-merged")
    merged = ada.input_value("#merge-text")
    assert "in two windows." in merged  # Ada's own line, kept
    assert "not even Guido's." in merged  # Guido's line, merged in
    assert "<<<<<<< yours (Ada)" in merged and ">>>>>>> server (version 2, Guido)" in merged
    wire = ada.inner_text("#wire")
    assert "412 Precondition Failed" in wire and 'If-Match: "v1"' in wire
    screenshot = tmp_path / "demo-merge.png"
    ada.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("IFMATCH_DEMO_SCREENSHOT"):
        shutil.copy(screenshot, os.environ["IFMATCH_DEMO_SCREENSHOT"])

    # She keeps both versions of the conflicting line and saves on the new ETag.
    ada.click("#conflicts button[data-choice=both]")
    expect_text(ada, "#merge-summary", "no conflicts left")
    expect_text(ada, "#save-merged", 'If-Match: "v2"')
    ada.click("#save-merged")
    expect_text(ada, "#status", "Saved version 3")
    assert ada.is_hidden("#merge")

    final = http.get(f"{demo_url}/api/documents/{doc}/")
    assert final.headers["ETag"] == '"v3"'
    text = final.json()["text"]
    for line in (
        "Guido and Ada both have this document open, in two windows.",
        "1. Two people edit the same text (Ada: at the same moment).",
        "1. Two people edit the same text (Guido: from two cities).",
        "Nobody's work is lost, not even Guido's.",
    ):
        assert line in text
    assert "<<<<<<<" not in text
    history = http.get(f"{demo_url}/api/documents/{doc}/history/").json()
    assert [(item["version"], item["author"]) for item in history] == [
        (3, "Ada"),
        (2, "Guido"),
        (1, "Guido"),
    ]
    # Guido's page sees Ada's merge land, and its history lists both saves.
    expect_text(guido, "#notice", "Ada saved version 3")
    expect_text(guido, "#history", "Ada")
    assert guido.js_errors == [] and ada.js_errors == []


def test_changed_by_someone_else_appears_without_reload(
    http: httpx.Client, person: Any, demo_url: str
) -> None:
    doc = new_document(http, demo_url, "Shopping list", ["milk", "bread", "eggs"])
    guido, ada = person("Guido", doc), person("Ada", doc)
    assert ada.is_hidden("#notice")
    navigations: list[str] = []
    ada.on("framenavigated", lambda frame: navigations.append(frame.url))

    edit_line(guido, 1, "sourdough bread")
    guido.click("#save")
    expect_text(guido, "#status", "Saved version 2")

    expect_text(ada, "#notice", "Changed by someone else")
    assert ada.input_value("#text") == "milk\nbread\neggs\n"  # nothing overwritten
    assert navigations == []  # no reload
    ada.click("#notice button")  # Ada has no edits: "Load version 2"
    expect_text(ada, "#doc-state", 'ETag "v2"')
    assert ada.input_value("#text") == "milk\nsourdough bread\neggs\n"
    assert ada.is_hidden("#notice")
    assert "304 Not Modified" in ada.inner_text("#wire")  # the polls before Guido's save
