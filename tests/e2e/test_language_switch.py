"""Journey 5: on every kind of page, the header's language links switch the interface to Russian and to Italian:
<html lang> changes and, where the catalogs translate it, a known label is shown translated."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TRANSLATIONS = Path(__file__).resolve().parents[2] / "docmgr" / "translations"
DEMO_AGREEMENT = "MoU Meccatronica Piemontese – Sibirskie tekhnologii"


def expected_translation(lang: str, msgid: str) -> str | None:
    """The catalog's translation of ``msgid`` when the catalog is compiled and translates it; None otherwise
    (the catalogs are still being written: then only <html lang> can be checked)."""
    from babel.messages.pofile import read_po

    po_path = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    if not po_path.exists() or not po_path.with_suffix(".mo").exists():
        return None
    with po_path.open("rb") as fh:
        catalog = read_po(fh)
    message = catalog.get(msgid)
    if message is None or not message.string or message.fuzzy:
        return None
    return message.string


def switch_language_and_back(session, known_label: tuple[str, str]) -> list[str]:
    """Click RU, then IT, then EN in the header; check <html lang> (and the label, where translated) each time.
    Returns the languages whose label could only be checked through <html lang>."""
    page = session.page
    selector, msgid = known_label
    path = re.sub(r"[?&]lang=\w+", "", page.url.split(session.server.url, 1)[1])
    untranslated = []
    for lang in ("ru", "it", "en"):
        page.locator(f"header .langs a[lang={lang}]").click()
        page.wait_for_function("lang => document.documentElement !== null && document.documentElement.lang === lang", arg=lang)
        current = page.url.split(session.server.url, 1)[1]
        assert current.split("?")[0] == path.split("?")[0], "the language link must stay on the same page"
        expect(page.locator(f"header .langs a[lang={lang}]")).to_have_attribute("aria-current", "true")
        expected = msgid if lang == "en" else expected_translation(lang, msgid)
        if expected is None:
            untranslated.append(lang)
        else:
            expect(page.locator(selector).first).to_have_text(expected)
    return untranslated


NAV_DOCUMENTS = ("header nav[aria-label] a[href='/']", "Documents")


def test_language_switch_on_every_page(open_browser, shot, admin_api):
    anonymous = open_browser()
    anonymous.goto("/login")
    untranslated = set(switch_language_and_back(anonymous, ("main h1", "Log in")))
    anonymous.guard.assert_clean()

    legal = open_browser("legal")
    page = legal.page
    proposal = next(d for d in admin_api("/documents?kind=proposal&per_page=100")["items"] if d["title_it"].startswith("Linee"))
    pdf_file = next(f for f in admin_api(f"/documents/{proposal['id']}")["files"] if f["filename"].endswith(".pdf"))
    legal.goto("/agreements")
    page.get_by_role("link", name=DEMO_AGREEMENT).click()
    page.wait_for_url(re.compile(r"/agreements/\d+$"))
    agreement_path = page.url.split(legal.server.url, 1)[1]
    pages = [
        "/", "/documents/new", f"/documents/{proposal['id']}", f"/documents/{proposal['id']}/files/{pdf_file['id']}/view",
        "/search?q=accordo", "/agreements", "/agreements/new", agreement_path, f"{agreement_path}/preview",
        f"{agreement_path}/signatures", "/templates", "/dashboard", "/account",
    ]
    for path in pages:
        response = legal.goto(path)
        assert response.status == 200, path
        untranslated |= set(switch_language_and_back(legal, NAV_DOCUMENTS))
    page.locator("header .langs a[lang=ru]").click()
    shot(page, "ru-account")
    legal.goto("/agreements/new")
    shot(page, "ru-new-agreement")
    legal.goto("/search?q=accordo&lang=it")
    shot(page, "it-search")
    legal.guard.assert_clean()
    if untranslated:
        # Not a failure: the catalogs are being written in parallel. Visible with -rA / in the report.
        print(f"labels not yet translated (only <html lang> checked) for: {sorted(untranslated)}")
