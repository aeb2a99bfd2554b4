"""The ODT parser: body, headers, footers, notes and text frames of an OpenDocument text (defusedxml)."""

from __future__ import annotations

from pathlib import Path
from typing import Final
from xml.etree.ElementTree import Element

from docmgr.documents.extraction.base import Extracted, ExtractionError
from docmgr.documents.extraction.containers import MANIFEST_NS, open_zip, parse_xml, read_member, reject_ole
from docmgr.documents.extraction.registry import register_parser

MAX_ODF_SPACES: Final = 16  # cap for <text:s text:c="N"/>, so c="999999999" cannot blow up the output
_TEXT: Final = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_OFFICE: Final = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_STYLE: Final = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
_TABLE: Final = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_DRAW: Final = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
_ODF_BLOCKS: Final = {_TEXT + "p", _TEXT + "h"}
_ODF_SKIP: Final = {
    _TEXT + "tracked-changes",
    _TEXT + "note-citation",
    _TEXT + "sequence-decls",
    _TEXT + "variable-decls",
    _TEXT + "user-field-decls",
    _OFFICE + "annotation",
    _OFFICE + "annotation-end",
    _OFFICE + "forms",
    _TABLE + "table-columns",
    _TABLE + "table-column",
}
_ODF_HEADERS: Final = tuple(_STYLE + tag for tag in ("header", "header-left", "header-first"))
_ODF_FOOTERS: Final = tuple(_STYLE + tag for tag in ("footer", "footer-left", "footer-first"))


def extract_odt(path: Path, max_chars: int) -> Extracted:  # the whole text; extract() cuts it
    reject_ole(path)
    with open_zip(path) as zf:
        names = set(zf.namelist())
        if "META-INF/manifest.xml" in names:
            manifest = parse_xml(read_member(zf, "META-INF/manifest.xml"))
            for tag in ("encryption-data", "encrypted-key"):
                if next(manifest.iter(MANIFEST_NS + tag), None) is not None:
                    raise ExtractionError("encrypted_file")
        content = parse_xml(read_member(zf, "content.xml"))
        styles = parse_xml(read_member(zf, "styles.xml")) if "styles.xml" in names else None

    headers: list[str] = []
    footers: list[str] = []
    if styles is not None:
        for master in styles.iter(_STYLE + "master-page"):
            for child in master:
                if child.tag in _ODF_HEADERS:
                    _odf_blocks(child, headers)
                elif child.tag in _ODF_FOOTERS:
                    _odf_blocks(child, footers)
    body: list[str] = []
    for text_root in content.iter(_OFFICE + "text"):
        _odf_blocks(text_root, body)
    return Extracted(text="\n".join([*_dedupe(headers), *body, *_dedupe(footers)]), page_count=None)


def _dedupe(lines: list[str]) -> list[str]:
    """Left/right/first-page variants of a header usually repeat the same text."""
    return list(dict.fromkeys(lines))


def _odf_blocks(element: Element, out: list[str]) -> None:
    for child in element:
        tag = child.tag
        if tag in _ODF_BLOCKS:
            extra: list[str] = []  # notes and text boxes anchored in the paragraph follow it
            out.append(_odf_inline(child, extra))
            out.extend(extra)
        elif tag == _TABLE + "table-row":
            cells = []
            for cell in child:
                lines: list[str] = []
                _odf_blocks(cell, lines)
                cells.append("\n".join(lines).strip())
            out.append("\t".join(cell for cell in cells if cell))
        elif tag not in _ODF_SKIP:
            _odf_blocks(child, out)


def _odf_inline(element: Element, extra: list[str]) -> str:
    parts = [element.text or ""]
    for child in element:
        tag = child.tag
        if tag == _TEXT + "s":
            try:
                count = int(child.get(_TEXT + "c", "1"))
            except ValueError:
                count = 1
            parts.append(" " * max(1, min(count, MAX_ODF_SPACES)))
        elif tag == _TEXT + "tab":
            parts.append("\t")
        elif tag == _TEXT + "line-break":
            parts.append("\n")
        elif tag == _TEXT + "note":
            _odf_blocks(child, extra)
        elif tag in _ODF_SKIP:
            pass
        elif tag.startswith(_DRAW):
            _odf_blocks(child, extra)  # draw:frame / draw:text-box holding paragraphs
        else:
            parts.append(_odf_inline(child, extra))  # text:span, text:a, fields ...
        parts.append(child.tail or "")
    return "".join(parts)


register_parser("odt", extract_odt)
