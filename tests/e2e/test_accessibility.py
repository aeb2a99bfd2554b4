"""Journey 6: labelled form fields, keyboard navigation, phone-sized layouts — with every page's requests
staying on 127.0.0.1 and no console errors or CSP violations (checked by the page guard of each session)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

DEMO_AGREEMENT = "MoU Meccatronica Piemontese – Sibirskie tekhnologii"

# Every visible-or-not form control a person fills in must have a name from a <label>, aria-label or aria-labelledby.
UNLABELLED_FIELDS = """
() => Array.from(document.querySelectorAll("input, select, textarea"))
  .filter(el => !["hidden", "submit", "button", "reset", "image"].includes(el.type))
  .filter(el => {
    const fromLabels = Array.from(el.labels || []).some(label => label.textContent.trim() !== "");
    const fromAria = (el.getAttribute("aria-label") || "").trim() !== "";
    const fromLabelledBy = (el.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean)
      .some(id => (document.getElementById(id)?.textContent || "").trim() !== "");
    return !(fromLabels || fromAria || fromLabelledBy);
  })
  .map(el => el.outerHTML.slice(0, 200))
"""
FIELD_COUNT = """() => document.querySelectorAll("input:not([type=hidden]), select, textarea").length"""
HORIZONTAL_OVERFLOW = """() => document.documentElement.scrollWidth - window.innerWidth"""


def assert_fields_labelled(session, path: str) -> None:
    page = session.page
    if path:
        response = session.goto(path)
        assert response.status == 200, path
    assert page.evaluate(FIELD_COUNT) > 0, page.url
    assert page.evaluate(UNLABELLED_FIELDS) == [], page.url


def test_every_form_field_has_a_label(open_browser, shot):
    anonymous = open_browser()
    assert_fields_labelled(anonymous, "/login")

    legal = open_browser("legal")
    page = legal.page
    for path in ("/documents/new", "/search?q=accordo", "/agreements/new", "/"):
        assert_fields_labelled(legal, path)
    # The upload page once files are chosen: the script's per-file language selects are labelled too.
    legal.goto("/documents/new")
    page.get_by_label("Add files").set_input_files([
        {"name": "a-it.txt", "mimeType": "text/plain", "buffer": b"Proposta di collaborazione industriale."},
        {"name": "b-ru.txt", "mimeType": "text/plain", "buffer": "Предложение о промышленном сотрудничестве.".encode()},
    ])
    expect(page.locator("[data-upload-list] select")).to_have_count(2)
    assert_fields_labelled(legal, "")
    # The agreement pages: detail (lifecycle and signature forms), edit form of a new draft.
    legal.goto("/agreements")
    page.get_by_role("link", name=DEMO_AGREEMENT).click()
    page.wait_for_url(re.compile(r"/agreements/\d+$"))
    expect(page.locator("main form").nth(1)).to_be_attached()  # several: lifecycle buttons, signature, decline
    assert_fields_labelled(legal, "")
    shot(page, "agreement-detail")
    legal.goto("/agreements/new")
    page.get_by_role("checkbox", name=re.compile(r"^Meccatronica Piemontese")).check()
    page.get_by_role("checkbox", name=re.compile(r"^ООО «Сибирские технологии»")).check()
    page.get_by_role("button", name="Create and fill in").click()
    page.wait_for_url(re.compile(r"/agreements/\d+/edit$"))
    assert_fields_labelled(legal, "")
    shot(page, "agreement-edit")

    firm = open_browser("firm_ru")  # sees the signature and decline forms of its pending signatory
    firm.goto("/agreements")
    firm.page.get_by_role("link", name=DEMO_AGREEMENT).click()
    firm.page.wait_for_url(re.compile(r"/agreements/\d+$"))
    assert_fields_labelled(firm, "")


def _focused(page) -> dict:
    return page.evaluate(
        "() => { const el = document.activeElement;"
        " return {tag: el.tagName, text: (el.textContent || '').trim(), href: el.getAttribute('href'),"
        " cls: el.className, inNav: !!el.closest('header nav')}; }"
    )


def test_keyboard_reaches_skip_link_and_navigation_and_submits_login(open_browser, shot):
    session = open_browser()
    page = session.page
    session.goto("/login")
    page.keyboard.press("Tab")
    first = _focused(page)
    assert first["tag"] == "A" and "skip" in first["cls"] and first["href"] == "#main"
    # Keyboard only: Tab to the e-mail field, type, Tab to the password, type, Enter submits.
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "email":
            break
    else:
        raise AssertionError("Tab never reached the e-mail field")
    page.keyboard.type("legal@demo.docmgr.test")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "password"
    page.keyboard.type("demo-password")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()

    # From the top of a logged-in page: the skip link first, then every main navigation link.
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    session.goto("/")
    wanted = set(page.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts())
    assert {"Documents", "Search", "Agreements", "Dashboard"} <= wanted
    reached, first = set(), None
    for _ in range(15):
        page.keyboard.press("Tab")
        focused = _focused(page)
        first = first or focused
        if focused["inNav"]:
            reached.add(focused["text"])
    assert "skip" in first["cls"]
    assert reached == wanted
    # Enter on the skip link moves to the main content.
    session.goto("/")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    shot(page, "skip-link")


@pytest.mark.parametrize(
    "path", ["/", "/search?q=accordo", "/search?q=соглашение", "/documents/new", "/agreements"],
    ids=["documents", "search-it", "search-ru", "upload", "agreements"],
)
def test_phone_viewport_has_no_horizontal_scroll(open_browser, shot, path):
    session = open_browser("ministry" if path != "/documents/new" else "firm_it", viewport={"width": 390, "height": 844})
    response = session.goto(path)
    assert response.status == 200
    page = session.page
    assert page.evaluate("() => window.innerWidth") == 390
    overflow = page.evaluate(HORIZONTAL_OVERFLOW)
    shot(page, "phone")
    assert overflow <= 1, f"{path}: the page is {overflow}px wider than the phone screen"
