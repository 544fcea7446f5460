"""The story in a real browser: Guido and Ada edit one document in headless Chromium.

Each person is a separate browser context (their own storage, their own page). Chromium is
Debian's ``/usr/bin/chromium`` driven by Playwright; nothing is downloaded. The story runs at a
desktop size and at a phone's (390 x 844); the accessibility audit is axe-core, installed from
the npm registry at the version ``package-lock.json`` pins (see ``axe.py``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services import REQUIRE_SERVICES

from .axe import AxeUnavailable, axe_script

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
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
INK = "rgb(31, 41, 51)"  # the page's text colour (--ink)


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
    """``person(name, doc_id)``: a page of its own browser context, showing that document.

    ``viewport=PHONE`` makes it a phone (a mobile, touch viewport that honours the page's
    ``<meta name=viewport>``); ``poll_ms`` sets how often the page polls.
    """
    contexts = []

    def open_as(
        name: str, doc_id: int, *, viewport: dict[str, int] = DESKTOP, poll_ms: int = POLL_MS
    ) -> Any:
        mobile = viewport["width"] < 700
        context = browser.new_context(viewport=viewport, is_mobile=mobile, has_touch=mobile)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.js_errors = errors
        page.goto(f"{demo_url}/?user={name}&poll={poll_ms}#doc={doc_id}")
        page.wait_for_function(
            "id => document.querySelector('#doc-state').textContent.includes('ETag')"
            " && location.hash === '#doc=' + id",
            arg=doc_id,
        )
        return page

    yield open_as
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def axe() -> Path:
    """``axe.min.js`` (axe-core from the npm registry, at the version the lock file pins)."""
    try:
        return axe_script()
    except AxeUnavailable as error:
        if REQUIRE_SERVICES:
            pytest.fail(f"{error}\n(IFMATCH_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(str(error))


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


def expect_visible(page: Any, selector: str, visible: bool = True) -> None:
    from playwright.sync_api import expect

    locator = expect(page.locator(selector))
    if visible:
        locator.to_be_visible(timeout=TIMEOUT_MS)
    else:
        locator.to_be_hidden(timeout=TIMEOUT_MS)


def focused(page: Any) -> str:
    """The id of the element that has keyboard focus ("" for the page body)."""
    active: str = page.evaluate("() => document.activeElement?.id ?? ''")
    return active


def focus_matches(page: Any, selector: str) -> bool:
    matches: bool = page.evaluate("s => !!document.activeElement?.matches(s)", selector)
    return matches


def tab_to(page: Any, selector: str, limit: int = 40) -> None:
    """Press Tab until the focused element matches ``selector`` (as a keyboard user would)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focus_matches(page, selector):
            return
    raise AssertionError(f"{limit} presses of Tab never reached {selector}")


BOXES = """selectors => Object.fromEntries(selectors.map(s => {
  const r = document.querySelector(s).getBoundingClientRect();
  return [s, {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width}];
}))"""


def boxes(page: Any, *selectors: str) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = page.evaluate(BOXES, list(selectors))
    return found


def inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["left"] >= outer["left"] - 0.5
        and inner["right"] <= outer["right"] + 0.5
        and inner["top"] >= outer["top"] - 0.5
        and inner["bottom"] <= outer["bottom"] + 0.5
    )


# Visible elements that stick out of the viewport's width (a phone would scroll sideways).
OVERFLOWING = """() => {
  const width = document.scrollingElement.clientWidth;
  return [...document.querySelectorAll("body *")]
    .filter(node => node.getClientRects().length && !node.closest(".visually-hidden"))
    .filter(node => {
      const r = node.getBoundingClientRect();
      return r.width > 0 && (r.left < -0.5 || r.right > width + 0.5);
    })
    .map(node => node.id ? "#" + node.id : node.tagName.toLowerCase() + "." + node.className);
}"""


def assert_fits_the_width(page: Any) -> None:
    scroll = page.evaluate(
        "() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
    )
    assert scroll[0] <= scroll[1], f"the page scrolls sideways: {scroll[0]} > {scroll[1]} px"
    assert page.evaluate(OVERFLOWING) == []


AXE_RUN = """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
  .filter(v => v.impact === "serious" || v.impact === "critical")
  .map(v => `${v.impact} ${v.id}: ${v.help}\\n` +
       v.nodes.map(n => `    ${n.target.join(" ")}: ${n.failureSummary}`).join("\\n"))"""


def assert_accessible(page: Any, axe: Path, state: str) -> None:
    """axe-core finds no serious or critical violation in the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(axe))
    violations = page.evaluate(AXE_RUN)
    assert violations == [], f"axe-core, {state}:\n" + "\n".join(violations)


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


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_guido_saves_ada_merges_and_nothing_is_lost(
    http: httpx.Client, person: Any, demo_url: str, tmp_path: Path, viewport: dict[str, int]
) -> None:
    doc = new_document(http, demo_url, "Talk notes: lost updates", LINES)
    guido, ada = person("Guido", doc, viewport=viewport), person("Ada", doc, viewport=viewport)

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
    expect_text(ada, "#announcer", "Guido saved version 2")

    # Ada saves anyway with If-Match: "v1": refused with 412, the page shows the merge view,
    # moves focus to it and announces it.
    ada.click("#save")
    expect_visible(ada, "#merge")
    expect_text(ada, "#merge-summary", "2 changes merged automatically")
    expect_text(ada, "#merge-summary", "1 conflict to resolve")
    expect_text(ada, "#caption-theirs", "version 2 by Guido")
    assert focused(ada) == "merge-heading"
    expect_text(ada, "#merge-heading", "Your save was refused: 412 Precondition Failed.")
    expect_text(ada, "#announcer", "Your save was refused")
    expect_text(ada, "#announcer", "1 conflict to resolve")
    assert ada.get_attribute("#announcer", "aria-live") == "polite"
    assert ada.is_hidden("#notice")  # the merge view's banner is the only one
    assert ada.is_disabled("#save-merged")
    merged = ada.input_value("#merge-text")
    assert "in two windows." in merged  # Ada's own line, kept
    assert "not even Guido's." in merged  # Guido's line, merged in
    assert "<<<<<<< yours (Ada)" in merged and ">>>>>>> server (version 2, Guido)" in merged
    wire = ada.inner_text("#wire")
    assert "412 Precondition Failed" in wire and 'If-Match: "v1"' in wire
    # The fields people type in are the page's ink, not the grey of their labels.
    colors = ada.evaluate(
        "() => ['#merge-title', '#user', '#title'].map(s => getComputedStyle("
        "document.querySelector(s)).color)"
    )
    assert colors == [INK, INK, INK]

    figures = [f".three-way figure:has(#merge-{name})" for name in ("base", "mine", "theirs")]
    panes = boxes(ada, *figures, "#merge")
    base, mine, theirs = (panes[figure] for figure in figures)
    if viewport == PHONE:  # stacked, each as wide as the merge view
        assert_fits_the_width(ada)
        assert all(pane["width"] >= 300 for pane in (base, mine, theirs))
        assert base["bottom"] <= mine["top"] and mine["bottom"] <= theirs["top"]
        assert inside(boxes(ada, "#save-merged")["#save-merged"], panes["#merge"])
    else:  # side by side
        assert base["top"] == mine["top"] == theirs["top"]
        assert base["right"] <= mine["left"] and mine["right"] <= theirs["left"]
    screenshot = tmp_path / "demo-merge.png"
    ada.screenshot(path=str(screenshot), full_page=viewport == DESKTOP)
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("IFMATCH_DEMO_SCREENSHOTS"):  # re-renders the docs' pictures
        name = "demo-merge.png" if viewport == DESKTOP else "demo-merge-phone.png"
        shutil.copy(screenshot, Path(os.environ["IFMATCH_DEMO_SCREENSHOTS"]) / name)

    # She keeps both versions of the conflicting line and saves on the new ETag.
    ada.click("#conflicts button[data-choice=both]")
    expect_text(ada, "#merge-summary", "no conflicts left")
    expect_text(ada, "#save-merged", 'If-Match: "v2"')
    ada.click("#save-merged")
    expect_text(ada, "#status", "Saved version 3")
    assert ada.is_hidden("#merge")
    assert focused(ada) == "text"  # not the page body: the merge view and its button are gone

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
    # Loading it replaces his "Saved version 2", which would now sit beside "Editing version 3".
    guido.click("#notice button")
    expect_text(guido, "#doc-state", "Editing version 3")
    assert guido.inner_text("#status") == ""
    assert focused(guido) == "text"  # the notice and its button are gone
    assert guido.js_errors == [] and ada.js_errors == []


def test_changed_by_someone_else_appears_without_reload(
    http: httpx.Client, person: Any, demo_url: str
) -> None:
    doc = new_document(http, demo_url, "Shopping list", ["milk", "bread", "eggs"])
    guido, ada = person("Guido", doc), person("Ada", doc)
    assert ada.is_hidden("#notice")
    navigations: list[str] = []
    ada.on("framenavigated", lambda frame: navigations.append(frame.url))
    link = f"#documents a[data-id='{doc}']"
    ada.focus(link)  # a keyboard user on the document list
    # Ada's page has polled and heard that nothing changed before Guido saves.
    expect_text(ada, "#wire", f'/api/documents/{doc}/304 Not Modified→ If-None-Match: "v1"')

    edit_line(guido, 1, "sourdough bread")
    guido.click("#save")
    expect_text(guido, "#status", "Saved version 2")

    expect_text(ada, "#notice", "Changed by someone else")
    assert ada.input_value("#text") == "milk\nbread\neggs\n"  # nothing overwritten
    assert navigations == []  # no reload
    expect_text(ada, f"#documents li:has(a[data-id='{doc}'])", '"v2"')  # the list was rebuilt ...
    assert focus_matches(ada, link)  # ... and focus stayed on the same document's link
    ada.click("#notice button")  # Ada has no edits: "Load version 2"
    expect_text(ada, "#doc-state", 'ETag "v2"')
    assert ada.input_value("#text") == "milk\nsourdough bread\neggs\n"
    assert ada.is_hidden("#notice")
    assert ada.js_errors == []


def test_the_page_fits_a_phone_and_keeps_three_columns_on_a_desktop(
    http: httpx.Client, person: Any, demo_url: str
) -> None:
    doc = new_document(http, demo_url, "A rather long title that a phone has to wrap", LINES)
    phone = person("Ada", doc, viewport=PHONE)
    assert_fits_the_width(phone)
    found = boxes(phone, "#editor", "#text", "#title", "#save", "#delete", ".documents-panel")
    assert found["#text"]["width"] >= 0.8 * PHONE["width"]
    assert found["#title"]["width"] >= 0.8 * PHONE["width"]
    assert inside(found["#delete"], found["#editor"]) and inside(found["#save"], found["#editor"])
    # One column, in reading order: the documents, then the document, then its history.
    column = boxes(phone, ".documents-panel", ".workspace", ".history-panel", ".wire")
    tops = [column[s]["top"] for s in (".documents-panel", ".workspace", ".history-panel", ".wire")]
    assert tops == sorted(tops)
    assert {round(box["left"]) for box in column.values()} == {round(column[".wire"]["left"])}

    desktop = person("Guido", doc)
    columns = boxes(desktop, ".documents-panel", ".workspace", ".history-panel", ".wire")
    documents, workspace, history, wire = columns.values()
    assert documents["right"] < workspace["left"] and workspace["right"] < wire["left"]
    assert documents["top"] == workspace["top"] == wire["top"]
    assert history["left"] == documents["left"] and history["top"] >= documents["bottom"] - 0.5
    assert workspace["width"] >= 600
    assert phone.js_errors == [] and desktop.js_errors == []


def test_merge_with_the_keyboard_only_choosing_the_title(
    http: httpx.Client, person: Any, demo_url: str
) -> None:
    doc = new_document(http, demo_url, "Draft", ["one", "two", "three", "four", "five"])
    guido, ada = person("Guido", doc), person("Ada", doc)
    guido.fill("#title", "Draft (Guido's title)")
    edit_line(guido, 1, "two (Guido)")
    guido.click("#save")
    expect_text(guido, "#status", "Saved version 2")
    expect_text(ada, "#notice", "Guido saved version 2")

    # Ada uses the keyboard only: past the document list, a new title, a change to line 2,
    # then Enter on Save.
    ada.keyboard.press("Tab")
    assert focused(ada) == "skip"  # "Skip to the document"
    ada.keyboard.press("Enter")
    assert focused(ada) == "text"
    ada.keyboard.press("Shift+Tab")
    assert focused(ada) == "title"
    ada.keyboard.press("Control+A")
    ada.keyboard.type("Draft (Ada's title)")
    ada.keyboard.press("Tab")
    assert focused(ada) == "text"
    ada.keyboard.press("Control+Home")
    ada.keyboard.press("ArrowDown")
    ada.keyboard.press("End")
    ada.keyboard.type(" (Ada)")
    ada.keyboard.press("Tab")
    assert focused(ada) == "save"
    ada.keyboard.press("Enter")

    # Refused (412): focus is on the merge view's heading, and the title conflict is shown.
    expect_visible(ada, "#merge")
    assert focused(ada) == "merge-heading"
    expect_text(ada, "#conflicts li:first-child", "Both changed the title")
    expect_text(ada, "#conflicts li:first-child", "“Draft (Guido's title)”")
    expect_text(ada, "#merge-summary", "2 conflicts to resolve")
    assert ada.get_attribute("#merge-title", "aria-invalid") == "true"
    assert ada.is_disabled("#save-merged")

    tab_to(ada, "#conflicts li:first-child button[data-choice=theirs]")
    ada.keyboard.press("Enter")  # Guido's title
    assert ada.input_value("#merge-title") == "Draft (Guido's title)"
    expect_text(ada, "#merge-summary", "1 conflict to resolve")
    # Focus went on to the next conflict (the text's), not to the page body.
    assert focus_matches(ada, "#conflicts li:first-child button[data-choice=mine]")
    ada.keyboard.press("Enter")  # her line 2
    expect_text(ada, "#merge-summary", "no conflicts left")
    assert focused(ada) == "save-merged" and ada.is_enabled("#save-merged")
    ada.keyboard.press("Enter")
    expect_text(ada, "#status", "Saved version 3")
    assert focused(ada) == "text"

    final = http.get(f"{demo_url}/api/documents/{doc}/").json()
    assert final["title"] == "Draft (Guido's title)"
    assert final["text"] == "one\ntwo (Ada)\nthree\nfour\nfive\n"
    assert ada.js_errors == [] and guido.js_errors == []


def test_merge_now_and_a_second_save_during_the_merge_show_one_banner(
    http: httpx.Client, person: Any, demo_url: str
) -> None:
    fruit = ["apples", "bread", "cheese", "dates", "eggs", "figs", "grapes"]
    doc = new_document(http, demo_url, "Groceries", fruit)
    guido, ada = person("Guido", doc), person("Ada", doc)
    edit_line(ada, 0, "apples (Ada)")
    edit_line(guido, 6, "grapes (Guido)")
    guido.click("#save")
    expect_text(guido, "#status", "Saved version 2")
    expect_text(ada, "#notice", "Guido saved version 2")

    ada.locator("#notice button", has_text="Merge now").focus()
    ada.keyboard.press("Enter")
    expect_visible(ada, "#merge")
    assert focused(ada) == "merge-heading"  # not the body, though "Merge now" is gone
    expect_text(ada, "#merge-heading", "Merging your edits with version 2")
    expect_text(ada, "#announcer", "Merging your edits with version 2")
    expect_text(ada, "#merge-summary", "2 changes merged automatically · no conflicts left")
    assert ada.is_hidden("#notice")

    # Guido saves again while Ada merges: her merge view says so in its own banner.
    edit_line(guido, 3, "dates (Guido)")
    guido.click("#save")
    expect_text(guido, "#status", "Saved version 3")
    expect_text(ada, "#merge-newer", "Meanwhile Guido saved version 3")
    expect_text(ada, "#announcer", "Guido saved version 3 while you were merging")
    assert ada.is_hidden("#notice")
    assert ada.locator(".notice:visible, .merge-banner:visible").count() == 1

    ada.click("#merge-again")
    expect_text(ada, "#merge-heading", "Merging your edits with version 3")
    assert focused(ada) == "merge-heading"
    assert ada.is_hidden("#merge-newer")
    expect_text(ada, "#save-merged", 'If-Match: "v3"')
    ada.click("#save-merged")
    expect_text(ada, "#status", "Saved version 4")
    final = http.get(f"{demo_url}/api/documents/{doc}/").json()["text"]
    assert final == "apples (Ada)\nbread\ncheese\ndates (Guido)\neggs\nfigs\ngrapes (Guido)\n"
    assert ada.js_errors == [] and guido.js_errors == []


def test_delete_asks_first_says_so_and_other_pages_stop_polling(
    http: httpx.Client, person: Any, demo_url: str
) -> None:
    doc = new_document(http, demo_url, "Doomed", ["keep", "me"])
    new_document(http, demo_url, "Survivor", ["still here"])
    url = f"{demo_url}/api/documents/{doc}/"
    guido, ada = person("Guido", doc), person("Ada", doc)
    edit_line(ada, 0, "keep (Ada)")
    ada.click("#save")
    expect_text(ada, "#status", "Saved version 2")

    # Delete asks first, in the page; Escape (or Cancel) sends nothing.
    guido.click("#delete")
    expect_visible(guido, "#confirm-delete")
    expect_text(guido, "#confirm-heading", "Delete “Doomed”?")
    expect_text(guido, "#confirm-detail", 'DELETE with If-Match: "v1"')
    assert focused(guido) == "confirm-delete-no"
    guido.keyboard.press("Escape")
    expect_visible(guido, "#confirm-delete", visible=False)
    guido.click("#delete")
    guido.click("#confirm-delete-no")
    expect_visible(guido, "#confirm-delete", visible=False)
    assert "DELETE" not in guido.inner_text("#wire")

    # Guido was still on version 1: his delete is refused (412), and the page says why.
    guido.click("#delete")
    guido.click("#confirm-delete-yes")
    expect_text(guido, "#status", "Not deleted: Ada saved version 2")
    assert http.get(url).status_code == 200

    # Ada starts another edit; Guido loads version 2 and deletes it.
    edit_line(ada, 1, "me (Ada, not saved yet)")
    guido.locator("#notice button", has_text="Load version 2").click()
    expect_text(guido, "#doc-state", "Editing version 2")
    guido.click("#delete")
    guido.click("#confirm-delete-yes")
    expect_text(guido, "#gone-heading", "You deleted “Doomed”.")
    expect_text(guido, "#gone-documents", "Survivor")  # the list, not another document opened
    assert guido.is_hidden("#editor")
    assert guido.evaluate("() => location.hash") == f"#doc={doc}"
    assert focused(guido) == "gone-heading"
    assert http.get(url).status_code == 404

    # Ada's page learns it from a poll (404), says so, keeps her text, and stops asking.
    expect_text(ada, "#gone-heading", "“Doomed” was deleted.")
    expect_text(ada, "#gone-detail", "Your unsaved changes are kept")
    expect_text(ada, "#announcer", "was deleted")
    asked: list[str] = []
    ada.on("request", lambda request: asked.append(request.url))
    console: list[str] = []
    ada.on("console", lambda message: console.append(message.text))
    for _ in range(2):  # two more polls of the list, three times the document's interval each
        with ada.expect_request(lambda request: request.url.endswith("/api/documents/")):
            pass
    assert [u for u in asked if f"/api/documents/{doc}/" in u] == []
    assert [m for m in console if "404" in m] == []

    # She recreates it with her unsaved text: PUT with If-None-Match: *.
    ada.click("#recreate")
    expect_text(ada, "#status", "Recreated as version 1")
    assert ada.is_visible("#editor")
    recreated = http.get(url).json()
    assert recreated["text"] == "keep (Ada)\nme (Ada, not saved yet)\n"
    assert recreated["saved_by"] == "Ada"
    assert "If-None-Match: *" in ada.inner_text("#wire")
    assert ada.js_errors == [] and guido.js_errors == []


def test_saving_a_document_deleted_meanwhile_says_it_was_deleted(
    http: httpx.Client, person: Any, demo_url: str
) -> None:
    doc = new_document(http, demo_url, "Short-lived", ["hello"])
    url = f"{demo_url}/api/documents/{doc}/"
    ada = person("Ada", doc, poll_ms=3_600_000)  # no poll in this test: the save finds out
    edit_line(ada, 0, "hello, again")
    assert http.delete(url, headers={"If-Match": '"v1"'}).status_code == 204

    # If-Match names a version of a document that no longer exists: 412, then a read: 404.
    ada.click("#save")
    expect_text(ada, "#gone-heading", "“Short-lived” was deleted.")
    expect_text(ada, "#gone-detail", "Your unsaved changes are kept")
    assert focused(ada) == "gone-heading"
    wire = ada.inner_text("#wire")
    assert "412 Precondition Failed" in wire and "404 Not Found" in wire
    assert "Could not" not in ada.inner_text("body")
    assert ada.js_errors == []


def test_no_serious_or_critical_accessibility_violations(
    http: httpx.Client, person: Any, demo_url: str, axe: Path
) -> None:
    doc = new_document(http, demo_url, "Audit", ["alpha", "beta", "gamma", "delta"])
    guido, ada = person("Guido", doc), person("Ada", doc)
    assert_accessible(ada, axe, "the editor")
    pinned = json.loads((Path(__file__).parent / "package.json").read_text())
    assert ada.evaluate("() => axe.version") == pinned["devDependencies"]["axe-core"]
    assert_accessible(person("Ada", doc, viewport=PHONE), axe, "the editor on a phone")

    guido.fill("#title", "Audit (Guido)")
    edit_line(guido, 1, "beta (Guido)")
    guido.click("#save")
    expect_text(guido, "#status", "Saved version 2")
    expect_text(ada, "#notice", "Guido saved version 2")
    assert_accessible(ada, axe, "the editor with a notice")
    ada.fill("#title", "Audit (Ada)")
    edit_line(ada, 1, "beta (Ada)")
    ada.click("#save")
    expect_text(ada, "#merge-summary", "2 conflicts to resolve")
    assert_accessible(ada, axe, "the merge view with a title and a text conflict")

    edit_line(guido, 3, "delta (Guido)")
    guido.click("#save")
    expect_text(ada, "#merge-newer", "Guido saved version 3")
    assert_accessible(ada, axe, "the merge view after another save")

    guido.click("#delete")
    expect_visible(guido, "#confirm-delete")
    assert_accessible(guido, axe, "the delete confirmation")
    guido.click("#confirm-delete-yes")
    expect_text(guido, "#gone-heading", "You deleted")
    assert_accessible(guido, axe, "a document I deleted")
    expect_text(ada, "#gone-heading", "was deleted")
    assert_accessible(ada, axe, "a document someone else deleted")
    assert ada.js_errors == [] and guido.js_errors == []
