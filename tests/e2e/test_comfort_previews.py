"""Journey (issue 16): a firm uploads a DOCX; the worker converts it with LibreOffice, so the document gets a
thumbnail and the viewer shows its pages like a PDF's; then it saves a search, renames it and runs it again."""

from __future__ import annotations

import io
import re
import time

import pytest
from playwright.sync_api import expect

from docmgr.documents.conversion import soffice_binary

pytestmark = pytest.mark.browser

TITLE = "Proposta di teleriscaldamento (DOCX)"
WORD = "teleriscaldamento"  # in no demo document
PREVIEW_WAIT_SECONDS = 120.0


def proposal_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Proposta di partenariato: teleriscaldamento a Togliatti", level=1)
    for number in range(1, 12):
        document.add_paragraph(
            f"{number}. La rete di teleriscaldamento del distretto industriale sarà ammodernata con pompe di calore "
            "e accumulo termico; le imprese italiane forniranno gli impianti e la formazione dei tecnici."
        )
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.mark.skipif(soffice_binary() is None, reason="LibreOffice is installed by scripts/setup.sh")
def test_docx_preview_in_the_viewer_and_a_saved_search(open_browser, shot):
    firm = open_browser("firm_it")
    page = firm.page
    upload = {"name": "proposta-teleriscaldamento.docx", "buffer": proposal_docx(),
              "mimeType": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}

    firm.goto("/documents/new")
    page.get_by_label("Title in Italian").fill(TITLE)
    page.get_by_label("Add files").set_input_files(upload)
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url(re.compile(r"/documents/\d+$"))
    document_url = page.url
    shot(page, "1-uploaded")

    # The page polls /api/v1/documents/ID/processing and reloads when the worker is done: then the DOCX has
    # a thumbnail rendered from the PDF LibreOffice made of it.
    thumbnail = page.locator("img.thumb")
    deadline = time.monotonic() + PREVIEW_WAIT_SECONDS
    while not thumbnail.count():
        if time.monotonic() > deadline:
            raise AssertionError(f"no thumbnail within {PREVIEW_WAIT_SECONDS:.0f} s:\n{firm.server.log_tail()}")
        page.wait_for_timeout(1000)
    expect(page.locator("[data-processing-url]")).to_have_count(0)
    expect(thumbnail).to_have_js_property("complete", True)
    assert thumbnail.evaluate("img => img.naturalWidth") == 200
    shot(page, "2-thumbnail")

    page.get_by_role("link", name=re.compile(r"^View")).first.click()
    page.wait_for_url(re.compile(r"/view$"))
    first_page = page.locator("figure.viewer-page img").first
    expect(first_page).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 500", arg=first_page.element_handle())
    expect(page.locator("[data-preview-status]")).to_have_count(0)
    expect(page.locator("figcaption").first).to_contain_text("Page 1 of")
    shot(page, "3-viewer-pages")

    # A saved search: from the search page, with the daily e-mail, then renamed on the list.
    firm.goto(f"/search?q={WORD}")
    expect(page.locator("article.hit", has_text=TITLE)).to_have_count(1)
    page.get_by_text("Save this search").click()
    page.get_by_label("Name").fill("Teleriscaldamento")
    page.get_by_label("E-mail me the new matches once a day").check()
    shot(page, "4-save-search")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/saved-searches$"))
    row = page.locator("tr[data-saved-search]", has_text=WORD)
    expect(row).to_have_count(1)
    expect(row.get_by_label("Daily e-mail")).to_be_checked()
    shot(page, "5-saved-searches")

    row.get_by_label("Name").fill("Reti di calore")
    row.get_by_role("button", name="Save changes").click()
    page.wait_for_url(re.compile(r"/saved-searches$"))
    expect(page.locator("input[name=name]").first).to_have_value("Reti di calore")
    page.get_by_role("link", name=WORD).click()
    expect(page.locator("article.hit", has_text=TITLE)).to_have_count(1)
    shot(page, "6-saved-search-run")

    page.goto(document_url)
    firm.guard.assert_clean()
