"""Journey 3: a signatory's wet-ink scan (a PNG made here from rendered Italian and Russian text) is recorded on
the demo MoU, which then becomes executed, and the same scan, uploaded as a document, becomes searchable once the
server's OCR thread has recognised it."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import expect

from tests.e2e.conftest import tesseract_ready

pytestmark = pytest.mark.browser

FONT = Path(__file__).resolve().parents[2] / "docmgr" / "static" / "fonts" / "DejaVuSans.ttf"
DEMO_AGREEMENT = "MoU Meccatronica Piemontese – Sibirskie tekhnologii"
ITALIAN_WORD = "ferroviario"  # in no demo document: only the OCR of the scan can make it findable
RUSSIAN_WORD = "железнодорожный"
SCAN_TITLE = "Copia firmata (scansione)"
OCR_WAIT_SECONDS = 90.0


def signed_scan_png() -> bytes:
    """An A4-ish page at 200 dpi with large Italian and Russian lines, like a scanned signature page."""
    image = Image.new("L", (1654, 1100), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), 60)
    lines = [
        "Memorandum d'intesa firmato",
        f"Progetto {ITALIAN_WORD} comune",
        "Меморандум подписан",
        f"Проект {RUSSIAN_WORD} общий",
    ]
    for index, line in enumerate(lines):
        draw.text((120, 120 + index * 150), line, fill=0, font=font)
    draw.line((120, 840, 900, 840), fill=0, width=3)
    draw.line((160, 820, 260, 720, 330, 810, 420, 730, 520, 820), fill=0, width=6)  # the signature itself
    out = io.BytesIO()
    image.save(out, "PNG", dpi=(200, 200))
    return out.getvalue()


def _search_until_found(session, word: str, title: str, deadline: float) -> None:
    page = session.page
    while True:
        session.goto(f"/search?q={word}")
        if page.locator("article.hit", has_text=title).count():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{word!r} not found within {OCR_WAIT_SECONDS:.0f} s:\n{session.server.log_tail()}")
        page.wait_for_timeout(1500)


@pytest.mark.skipif(not tesseract_ready(), reason="tesseract is not installed (scripts/setup.sh installs it)")
def test_wet_ink_scan_is_recorded_and_becomes_searchable(open_browser, shot):
    scan = {"name": "firma-anna-smirnova.png", "mimeType": "image/png", "buffer": signed_scan_png()}
    firm = open_browser("firm_ru")
    page = firm.page

    # The Russian party's signatory signs the demo MoU (the Italian one signed in the demo data).
    firm.goto("/agreements")
    page.get_by_role("link", name=DEMO_AGREEMENT).click()
    page.wait_for_url(re.compile(r"/agreements/\d+$"))
    agreement_url = page.url
    expect(page.get_by_role("button", name="Record signature")).to_have_count(1)  # only its own signatory
    form = page.locator("form", has=page.get_by_role("button", name="Record signature"))
    form.get_by_label("Signed copy (PDF, or a PNG/JPEG scan)").set_input_files(scan)
    form.get_by_label("Method").select_option("wet_ink")
    shot(page, "1-signing")
    with page.expect_navigation():  # posted, then redirected back to the agreement
        form.get_by_role("button", name="Record signature").click()
    assert page.url.startswith(agreement_url)
    # A firm user's scan counts only once legal accepted it (issue 13): it waits for review.
    expect(page.locator("[data-awaiting-review]")).to_have_count(1)
    expect(page.locator("[data-status]").first).not_to_have_attribute("data-status", "executed")
    shot(page, "2-awaiting-review")

    # Legal compares it with the signature page and accepts it: now it is executed.
    legal = open_browser("legal")
    legal.page.goto(agreement_url)
    review = legal.page.locator("#scan-review [data-review-status=pending]")
    expect(review.locator("img.review-image")).to_have_count(2)
    shot(legal.page, "3-review")
    with legal.page.expect_navigation():
        review.get_by_role("button", name="Accept the scan").click()
    expect(legal.page.locator("[data-status]").first).to_have_attribute("data-status", "executed")
    page.reload()
    expect(page.locator("[data-status]").first).to_have_attribute("data-status", "executed")
    executed_link = page.locator("#signatures").get_by_role("link", name=re.compile(r"Document #\d+"))
    expect(executed_link).to_have_count(1)
    shot(page, "4-executed")

    # The same scan as a document of its own: no text layer, so it is queued for OCR.
    firm.goto("/documents/new")
    page.get_by_label("Title in Italian").fill(SCAN_TITLE)
    page.get_by_label("Title in Russian").fill("Подписанная копия (скан)")
    page.get_by_label("Kind").select_option("agreement")
    page.get_by_label("Add files").set_input_files(scan)
    page.get_by_label(f"Language of {scan['name']}").select_option("bi")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/documents/new")) as sent:
        page.get_by_role("button", name="Upload", exact=True).click()
    assert sent.value.resource_type == "xhr"
    page.wait_for_url(re.compile(r"/documents/\d+$"))
    document_url = page.url
    shot(page, "5-scan-uploaded")

    deadline = time.monotonic() + OCR_WAIT_SECONDS
    _search_until_found(firm, ITALIAN_WORD, SCAN_TITLE, deadline)
    hit = page.locator("article.hit", has_text=SCAN_TITLE)
    assert ITALIAN_WORD in hit.locator("mark").all_inner_texts()[0].lower()
    shot(page, "6-found-italian")
    _search_until_found(firm, RUSSIAN_WORD, SCAN_TITLE, deadline)
    shot(page, "7-found-russian")

    page.goto(document_url)
    expect(page.locator("main")).to_contain_text("Text recognised automatically (OCR)")
    shot(page, "8-ocr-done")
    firm.guard.assert_clean()
