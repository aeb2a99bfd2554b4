"""The signature blocks stamped by in-browser signing never cover the agreement's words: a rendered agreement
keeps the foot of its last page free for every signatory's block (on a page of its own when the text fills
the page), and the seal puts each block there, above the page numbers. Checked on the text pdfium finds on
the last page, for agreements whose text ends at every height of a page."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader

from docmgr.drafting import rendering
from docmgr.drafting.rendering.pdf import PAGE_MARGIN_BOTTOM_PT
from docmgr.signatures import seal
from tests.drafting.test_rendering import SIMPLE_BODY, SIMPLE_SPECS, snapshot

pytestmark = pytest.mark.backend_independent  # rendering and sealing only: no database, index nor queue

WORDS = "cooperazione industriale nel distretto delle piccole e medie imprese".split()


def text_boxes(pdf: bytes) -> tuple[list[tuple[float, float, float, float]], float]:
    """The rectangles of the text on the last page (left, bottom, right, top; points from the bottom left)."""
    document = pdfium.PdfDocument(pdf)
    page = document[len(document) - 1]
    textpage = page.get_textpage()
    boxes = [textpage.get_rect(i) for i in range(textpage.count_rects())]
    width = page.get_width()
    textpage.close()
    page.close()
    document.close()
    return boxes, width


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def agreement_pdf(words: int, signatories: int) -> bytes:
    data = snapshot(subject=" ".join(WORDS[i % len(WORDS)] for i in range(words)) or "cooperazione")
    data["signatories"] = [{**data["signatories"][i % len(data["signatories"])], "name": f"Firmatario {i}"}
                           for i in range(signatories)]
    return rendering.build_pdf(rendering.render_agreement(SIMPLE_BODY, SIMPLE_SPECS, data))


def test_no_block_covers_text_wherever_the_text_ends():
    pages_seen, lowest_text = set(), []
    for words in range(0, 2400, 120):  # the text's end walks down the page, onto the next, and down again
        for signatories in (2, 3):
            pdf = agreement_pdf(words, signatories)
            boxes, width = text_boxes(pdf)
            pages_seen.add(len(PdfReader(io.BytesIO(pdf)).pages))
            body = [b for b in boxes if b[1] > PAGE_MARGIN_BOTTOM_PT]  # the page numbers live in the margin
            lowest_text.append(min(b[1] for b in body))
            for slot in range(signatories):
                block = seal._block_box(width, slot)
                assert block[1] >= PAGE_MARGIN_BOTTOM_PT  # above the page numbers
                covered = [b for b in boxes if overlaps(b, block)]
                assert covered == [], (words, signatories, slot, block, covered)
    assert {1, 2} <= pages_seen
    assert min(lowest_text) < 300  # some texts did end low on their last page (the blocks sit below them)


def test_the_seal_widget_is_where_the_space_was_kept(tmp_path):
    pdf = agreement_pdf(1500, 2)
    files = seal.ensure_seal(tmp_path / "seal.pem", tmp_path / "seal.key")
    request = seal.SealRequest(frozen_pdf=pdf, field_name="docmgr-seal-test", slot=1, name="Firmatario 1",
                               signed_at=datetime(2026, 12, 2, 10, 0, tzinfo=UTC), caption="Firmato elettronicamente",
                               typed="Firmatario 1")
    sealed = seal.seal_pdf(request, files.cert, files.key)
    reader = PdfReader(io.BytesIO(sealed))
    last = reader.pages[-1]
    widgets = [a.get_object() for a in last.get("/Annots", []) if a.get_object().get("/Subtype") == "/Widget"]
    assert len(widgets) == 1
    rect = tuple(float(v) for v in widgets[0]["/Rect"])
    expected = seal._block_box(float(last.mediabox.width), 1)
    assert all(abs(a - b) < 0.01 for a, b in zip(rect, expected, strict=True))
    boxes, _width = text_boxes(pdf)
    assert [b for b in boxes if overlaps(b, rect)] == []
