"""The plain-text parser: the file decoded as UTF-8/UTF-16 or one of the accepted legacy code pages."""

from __future__ import annotations

from pathlib import Path

from docmgr.documents.extraction.base import N_, Extracted, ExtractionError
from docmgr.documents.extraction.registry import register_parser
from docmgr.documents.extraction.text import decode_text


def extract_txt(path: Path, max_chars: int) -> Extracted:
    limit = max_chars * 4 + 4  # enough bytes for max_chars characters in any supported encoding
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    complete = len(data) <= limit
    text = decode_text(data[:limit], complete=complete)
    if text is None:
        raise ExtractionError("malformed_file", N_("The file is not valid text in a supported encoding."))
    return Extracted(text=text, page_count=None)


register_parser("txt", extract_txt)
