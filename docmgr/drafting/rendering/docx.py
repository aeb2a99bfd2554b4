"""The DOCX writer: a real Word document (python-docx) with one two-column table per clause."""

from __future__ import annotations

import io
from typing import Any

from docmgr.drafting.rendering.agreement import RenderedAgreement
from docmgr.drafting.rendering.clauses import Side
from docmgr.drafting.rendering.formatting import LANGS

_WORD_LANG = {"it": "it-IT", "ru": "ru-RU"}
WORD_STYLES = ("Normal", "Heading 1", "Heading 2", "Heading 3", "List Bullet", "List Number")


def _set_run_language(run: Any, lang: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    rpr = run._r.get_or_add_rPr()
    element = OxmlElement("w:lang")
    element.set(qn("w:val"), _WORD_LANG[lang])
    rpr.append(element)


def _add_field(paragraph: Any, instruction: str) -> None:
    """A Word field (PAGE, NUMPAGES) as begin/instr/separate/result/end runs; Word and LibreOffice
    recompute the result when they lay the document out."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def fld_char(kind: str):
        element = OxmlElement("w:fldChar")
        element.set(qn("w:fldCharType"), kind)
        return element

    paragraph.add_run()._r.append(fld_char("begin"))
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    paragraph.add_run()._r.append(instr)
    paragraph.add_run()._r.append(fld_char("separate"))
    paragraph.add_run("1")
    paragraph.add_run()._r.append(fld_char("end"))


def _fill_cell(cell: Any, side: Side, lang: str, heading_style: str, styles: dict[str, Any]) -> None:
    first = cell.paragraphs[0]
    used_first = False
    if side.heading:
        first._p.style = styles[heading_style]
        _set_run_language(first.add_run(side.heading), lang)
        used_first = True
    for paragraph in side.paragraphs:
        target = cell.add_paragraph() if used_first else first
        used_first = True
        target._p.style = styles[paragraph.style]
        for run in paragraph.runs:
            if run.text == "\n":
                target.add_run().add_break()
                continue
            word_run = target.add_run(run.text)
            word_run.bold = run.bold or None
            word_run.italic = run.italic or None
            word_run.underline = run.underline or None
            _set_run_language(word_run, lang)


def build_docx(rendered: RenderedAgreement) -> bytes:
    """A real Word document: Heading 1/2, Normal and list styles, one 'Table Grid' table per clause,
    page numbers in the footer."""
    import docx
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt
    from docx.table import _Cell

    document = docx.Document()
    document.core_properties.title = f"{rendered.heading_it} / {rendered.heading_ru}"[:250]
    document.core_properties.subject = rendered.title[:250]
    document.core_properties.language = "it-IT, ru-RU"
    normal = document.styles["Normal"]
    normal.font.size = Pt(10)
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin = section.right_margin = Mm(16)
    section.top_margin = section.bottom_margin = Mm(20)

    header = section.header.paragraphs[0]
    header.text = f"{rendered.heading_it} · {rendered.heading_ru}"
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("Pagina ")
    _add_field(footer, "PAGE")
    footer.add_run(" di ")
    _add_field(footer, "NUMPAGES")
    footer.add_run(" · Страница ")
    _add_field(footer, "PAGE")
    footer.add_run(" из ")
    _add_field(footer, "NUMPAGES")

    # Assigning a style through python-docx scans every style twice per paragraph; we resolve the few
    # style ids we use once and set them on the paragraph directly (None means the default, Normal).
    styles = {name: (None if name == "Normal" else document.styles[name].style_id) for name in WORD_STYLES}
    column_width = (section.page_width - section.left_margin - section.right_margin) // 2
    first = True
    for clause in rendered.clauses:
        if not first:
            spacer = document.add_paragraph()
            spacer.paragraph_format.space_after = Pt(0)
        first = False
        table = document.add_table(rows=1, cols=2)
        table.style = document.styles["Table Grid"]
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        # _Cell built from the row's <w:tc> directly: python-docx's Row.cells builds closures that form
        # reference cycles around lxml proxies, which only a full GC pass would free.
        row_tcs = table._tbl.tr_lst[0].tc_lst
        for index, lang in enumerate(LANGS):
            cell = _Cell(row_tcs[index], table)
            cell.width = column_width
            _fill_cell(cell, getattr(clause, lang), lang, "Heading 1" if clause.kind == "title" else "Heading 2", styles)
    document.add_paragraph()  # Word expects the body to end with a paragraph, not a table
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
