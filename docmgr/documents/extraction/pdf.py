"""The PDF parser: pypdf page by page, pdfium for pages whose fonts pypdf decodes wrongly.

Every pypdf failure becomes ``malformed_file``; a decompression bomb or a page tree past
``MAX_PDF_PAGES`` is ``too_complex``.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Final

from docmgr.documents.extraction.base import Extracted, ExtractionError
from docmgr.documents.extraction.registry import register_parser

MAX_PDF_PAGES: Final = 5_000


def extract_pdf(path: Path, max_chars: int) -> Extracted:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import LimitReachedError

    try:
        reader = PdfReader(path, strict=False)
        encrypted = reader.is_encrypted
    except Exception as exc:  # pypdf raises far more than PyPdfError on broken input (KeyError, struct.error ...)
        raise ExtractionError("malformed_file") from exc
    if encrypted:
        try:
            opened = reader.decrypt("") != PasswordType.NOT_DECRYPTED
        except Exception as exc:  # unsupported handler, broken /Encrypt dictionary
            raise ExtractionError("encrypted_file") from exc
        if not opened:
            raise ExtractionError("encrypted_file")
    try:
        declared = int(reader.trailer["/Root"]["/Pages"].get("/Count", 0))
    except Exception:
        declared = 0  # the real count below decides
    if declared > MAX_PDF_PAGES:
        raise ExtractionError("too_complex")
    try:
        page_count = len(reader.pages)  # pypdf detects cyclic page trees here and raises
    except LimitReachedError as exc:
        raise ExtractionError("too_complex") from exc
    except Exception as exc:
        raise ExtractionError("malformed_file") from exc
    if page_count > MAX_PDF_PAGES:
        raise ExtractionError("too_complex")
    if page_count == 0:
        raise ExtractionError("malformed_file")

    texts: list[str] = []
    failed = total = 0
    pdfium_doc = _LazyPdfium(path)
    try:
        for index in range(page_count):
            try:
                page = reader.pages[index]
                text = page.extract_text() or ""
            except LimitReachedError as exc:  # decompression bomb in a content stream
                raise ExtractionError("too_complex") from exc
            except Exception:
                failed += 1  # one broken page must not cost the whole document
                continue
            if _has_utf8_cmap_font(page):
                text = pdfium_doc.page_text(index) or text
            texts.append(text)
            total += len(text)
            if total > max_chars:
                break
    finally:
        pdfium_doc.close()
    if failed == page_count:
        raise ExtractionError("malformed_file")
    return Extracted(text="\n\n".join(texts), page_count=page_count, encrypted=encrypted)


def _has_utf8_cmap_font(page: object) -> bool:
    """True when the page uses a Type0 font whose codes are UTF-8 (libharu's 'Modern-UTF8-H', Adobe 'Uni*-UTF8-H').

    Such CMaps mix 1- to 4-byte codes; pypdf assumes one code width per font and emits per-byte mojibake
    (seen in Russian CAD output made with libharu, e.g. pdfjs_issue20232).
    """
    try:
        fonts = page["/Resources"].get_object()["/Font"].get_object()  # type: ignore[index]
        for ref in fonts.values():
            font = ref.get_object()
            if font.get("/Subtype") != "/Type0" or "/Encoding" not in font:
                continue
            encoding = font["/Encoding"].get_object()
            name = str(encoding.get("/CMapName", "")) if hasattr(encoding, "get") else str(encoding)
            if "UTF8" in name.upper().replace("-", ""):
                return True
    except Exception:
        return False
    return False


# pdfium is not thread-safe, not even across different documents; the dev server and threaded workers need this.
_PDFIUM_LOCK: Final = threading.Lock()


class _LazyPdfium:
    """pdfium, opened only if a page needs it: it decodes variable-width codes that pypdf gets wrong."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._doc: object | None = None
        self._failed = False

    def page_text(self, index: int) -> str | None:
        import pypdfium2 as pdfium

        with _PDFIUM_LOCK:
            if self._doc is None and not self._failed:
                try:
                    self._doc = pdfium.PdfDocument(self._path)
                except Exception:
                    self._failed = True
            if self._doc is None:
                return None
            try:
                page = self._doc[index]  # type: ignore[index]
                textpage = page.get_textpage()
                try:
                    text = textpage.get_text_range()
                finally:
                    textpage.close()
                    page.close()
            except Exception:
                return None
        return _UTF8_PAIR.sub(_repair_utf8_pair, text)

    def close(self) -> None:
        if self._doc is not None:
            with _PDFIUM_LOCK:
                self._doc.close()  # type: ignore[attr-defined]
            self._doc = None


# pdfium maps a 2-byte UTF-8 code such as <D0 9C> ('М') to the code point U+D09C instead of through the ToUnicode
# CMap. Only called for pages with a UTF-8 CMap font, where such code points are this artefact, not Hangul.
_UTF8_PAIR = re.compile("[\uc280-\udfbf]")


def _repair_utf8_pair(match: re.Match[str]) -> str:
    code = ord(match.group())
    try:
        return bytes([code >> 8, code & 0xFF]).decode("utf-8")
    except UnicodeDecodeError:
        return match.group()


register_parser("pdf", extract_pdf)
