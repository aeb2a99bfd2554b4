"""The DOCX parser: paragraphs, tables, headers, footers, notes and text boxes in document order.

Parsed with python-docx's parser (``resolve_entities=False``) after any DTD in the package was refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

from docmgr.documents.extraction.base import Extracted, ExtractionError
from docmgr.documents.extraction.containers import open_zip, read_member, reject_ole
from docmgr.documents.extraction.registry import register_parser

_W: Final = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_R_ID: Final = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_MC_FALLBACK: Final = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_W_SKIP: Final = frozenset(
    _W + tag for tag in ("pPr", "rPr", "tblPr", "tcPr", "trPr", "sectPr", "del", "moveFrom", "instrText")
) | {_MC_FALLBACK}
_W_INLINE: Final = {_W + "tab": "\t", _W + "br": "\n", _W + "cr": "\n", _W + "noBreakHyphen": "-"}
_DOCTYPE_MARKERS: Final = tuple("<!DOCTYPE".encode(enc) for enc in ("utf-8", "utf-16-le", "utf-16-be"))


def extract_docx(path: Path, max_chars: int) -> Extracted:  # the whole text; extract() cuts it
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE as RT

    reject_ole(path)
    with open_zip(path) as zf:
        for info in zf.infolist():  # python-docx parses every XML part; refuse DTDs before it sees them
            if info.filename.endswith((".xml", ".rels")):
                data = read_member(zf, info.filename)
                if any(marker in data for marker in _DOCTYPE_MARKERS):
                    raise ExtractionError("malformed_file")
    try:
        document = docx.Document(str(path))
        part = document.part
        body = document.element.body
        headers: list[str] = []
        footers: list[str] = []
        seen: set[str] = set()
        for reference in body.iter(_W + "headerReference", _W + "footerReference"):
            rid = reference.get(_R_ID)
            if not rid or rid in seen or rid not in part.related_parts:
                continue
            seen.add(rid)
            target = headers if reference.tag == _W + "headerReference" else footers
            target.extend(_docx_blocks(part.related_parts[rid].element))
        notes: list[str] = []
        for rel in part.rels.values():
            if rel.reltype in (RT.FOOTNOTES, RT.ENDNOTES) and not rel.is_external:
                notes.extend(_docx_notes(rel.target_part.blob))
        blocks = [*headers, *_docx_blocks(body), *notes, *footers]
    except ExtractionError:
        raise
    except Exception as exc:  # python-docx raises KeyError/ValueError/lxml errors on damaged packages
        raise ExtractionError("malformed_file") from exc
    return Extracted(text="\n".join(blocks), page_count=None)


def _docx_blocks(container: object) -> Iterator[str]:
    """Paragraph and table-row texts in document order, descending into content controls (w:sdt) & co."""
    for child in container:  # type: ignore[attr-defined]
        tag = child.tag
        if tag == _W + "p":
            text, boxes = _docx_paragraph(child)
            yield text
            for box in boxes:
                yield from _docx_blocks(box)
        elif tag == _W + "tbl":
            for row in _w_find(child, _W + "tr"):
                cells = ("\n".join(_docx_blocks(cell)).strip() for cell in _w_find(row, _W + "tc"))
                yield "\t".join(cell for cell in cells if cell)
        elif isinstance(tag, str) and tag not in _W_SKIP:
            yield from _docx_blocks(child)


def _w_find(element: object, tag: str) -> Iterator[object]:
    """Children with ``tag``, also when wrapped in a content control (w:sdt/w:sdtContent) or w:customXml."""
    for child in element:  # type: ignore[attr-defined]
        if child.tag == tag:
            yield child
        elif isinstance(child.tag, str) and child.tag not in _W_SKIP and child.tag != _W + "tbl":
            yield from _w_find(child, tag)


def _docx_paragraph(paragraph: object) -> tuple[str, list[object]]:
    """Text of one w:p, including runs inside hyperlinks, inline content controls and insertions.

    Text boxes (w:txbxContent) are returned separately so their paragraphs become blocks of their own.
    """
    parts: list[str] = []
    boxes: list[object] = []

    def walk(element: object) -> None:
        for child in element:  # type: ignore[attr-defined]
            tag = child.tag
            if tag == _W + "t":
                parts.append(child.text or "")
            elif tag in _W_INLINE:
                parts.append(_W_INLINE[tag])
            elif tag == _W + "txbxContent":
                boxes.append(child)
            elif isinstance(tag, str) and tag not in _W_SKIP:
                walk(child)

    walk(paragraph)
    return "".join(parts), boxes


def _docx_notes(blob: bytes) -> list[str]:
    from docx.oxml.parser import parse_xml  # resolve_entities=False; DTDs were rejected above

    texts = []
    for note in parse_xml(blob):
        if note.get(_W + "type") in ("separator", "continuationSeparator", "continuationNotice"):
            continue
        texts.extend(_docx_blocks(note))
    return texts


register_parser("docx", extract_docx)
