"""HTML of a rendered agreement: the bilingual preview fragment, the standalone document, and its PDF."""

from __future__ import annotations

from markupsafe import Markup, escape

from docmgr.drafting.rendering.agreement import RenderedAgreement
from docmgr.drafting.rendering.clauses import Side
from docmgr.drafting.rendering.formatting import LANGS

# The foot of the last page is kept free for the signature blocks that in-browser signing stamps there
# (docmgr.signatures.seal): blocks of 250 × 92 pt, two per row, 8 pt between rows, just above the bottom margin.
SIGNATURE_BLOCK_WIDTH_PT, SIGNATURE_BLOCK_HEIGHT_PT, SIGNATURE_BLOCK_GAP_PT = 250.0, 92.0, 8.0
SIGNATURE_BLOCKS_PER_ROW = 2  # on A4 (the @page size below)
PAGE_MARGIN_BOTTOM_PT = 20 * 72 / 25.4  # the @page bottom margin, 20 mm

PDF_CSS = """
@page {
  size: A4; margin: 20mm 16mm 20mm 16mm;
  font-family: "DejaVu Sans"; font-size: 7.5pt; color: #555;
  @bottom-center { content: "Pagina " counter(page) " di " counter(pages) "  ·  Страница " counter(page) " из " counter(pages); }
}
body { font-size: 9.5pt; line-height: 1.35; }
table.parallel { width: 100%; border-collapse: collapse; table-layout: fixed; margin: 0 0 5pt 0; }
table.parallel td { width: 50%; vertical-align: top; padding: 2pt 7pt; }
table.parallel td + td { border-left: 0.6pt solid #999; }
table.kind-title h1 { font-size: 13pt; text-align: center; margin: 0 0 4pt 0; }
table.kind-title { margin-bottom: 10pt; }
h2 { font-size: 10pt; margin: 4pt 0 3pt 0; }
h3 { font-size: 9.5pt; margin: 3pt 0 2pt 0; }
p { margin: 0 0 3pt 0; }
ul, ol { margin: 0 0 3pt 0; padding-left: 14pt; }
table.kind-signature { page-break-inside: avoid; margin-top: 8pt; }
img { max-width: 100%; }
"""


def _css_string(text: str) -> str:
    """A CSS string literal: quotes, backslashes and control characters escaped, so a title can
    never end the string and add rules of its own."""
    escaped = []
    for char in text:
        if char in ('"', "\\") or ord(char) < 32 or ord(char) == 127:
            escaped.append(f"\\{ord(char):x} ")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def clauses_html(rendered: RenderedAgreement) -> Markup:
    """The bilingual body: one two-column table per clause, Italian left, Russian right."""
    parts = []
    for clause in rendered.clauses:
        cells = []
        for lang in LANGS:
            side: Side = getattr(clause, lang)
            tag = "h1" if clause.kind == "title" else "h2"
            heading = f"<{tag}>{escape(side.heading)}</{tag}>" if side.heading else ""
            cells.append(f'<td lang="{lang}">{heading}{side.html}</td>')
        parts.append(f'<table class="parallel kind-{clause.kind}"><tr>{"".join(cells)}</tr></table>')
    return Markup("\n".join(parts))


def running_title(rendered: RenderedAgreement) -> str:
    return f"{rendered.heading_it} · {rendered.heading_ru}"


def document_html(rendered: RenderedAgreement, *, signature_space: bool = False) -> str:
    space = '<div class="signature-space"></div>' if signature_space else ""
    return (
        '<!doctype html><html lang="it"><head><meta charset="utf-8">'
        f"<title>{escape(running_title(rendered))}</title></head><body>"
        f"{clauses_html(rendered)}{space}</body></html>"
    )


def signature_space_pt(signatories: int) -> float:
    """The height kept free at the end of the document for ``signatories`` signature blocks."""
    rows = -(-max(signatories, 1) // SIGNATURE_BLOCKS_PER_ROW)
    return rows * (SIGNATURE_BLOCK_HEIGHT_PT + SIGNATURE_BLOCK_GAP_PT)


def build_pdf(rendered: RenderedAgreement) -> bytes:
    """The PDF; its last page ends with empty space for every signatory's block (it moves to a page of its
    own when it does not fit under the text), so a block stamped there never covers the agreement's words."""
    from docmgr.pdf import html_to_pdf

    header = f"@page {{ @top-center {{ content: {_css_string(running_title(rendered)[:200])}; }} }}"
    space = f".signature-space {{ height: {signature_space_pt(len(rendered.signatories)):.1f}pt; break-inside: avoid; }}"
    return html_to_pdf(document_html(rendered, signature_space=True), PDF_CSS + header + space)
