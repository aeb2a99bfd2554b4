"""Scans (PNG, JPEG, TIFF): checked to be readable images of a sane size; their text comes from OCR.

Opened with Pillow restricted to the sniffed format, and refused as ``too_complex`` above Pillow's
``MAX_IMAGE_PIXELS`` decompression-bomb guard; their text is '' (OCR recognises it later, see
``docmgr.documents.ocr``).
"""

from __future__ import annotations

import struct
from functools import partial
from pathlib import Path
from typing import Final

from docmgr.documents.extraction.base import Extracted, ExtractionError
from docmgr.documents.extraction.registry import register_parser
from docmgr.documents.extraction.sniff import IMAGE_KINDS

MAX_IMAGE_FRAMES: Final = 50  # pages of a multi-page TIFF (OCR reads at most 50 pages anyway)
_PILLOW_FORMATS: Final = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF"}


def extract_image(path: Path, max_chars: int, *, kind: str) -> Extracted:  # no text: OCR reads it later
    """Check that a scan is a readable image of a sane size; its text is '' until OCR.

    Only the header and (for PNG) the chunk checksums are read here, never the pixels: Pillow's decoder is limited to
    the sniffed format, and an image above ``PIL.Image.MAX_IMAGE_PIXELS`` (Pillow's decompression-bomb guard, which
    only warns below twice the limit) is refused as ``too_complex``. A multi-page TIFF counts its pages.
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=[_PILLOW_FORMATS[kind]]) as image:
                width, height = image.size
                if width < 1 or height < 1:
                    raise ExtractionError("malformed_file")
                if limit and width * height > limit:
                    raise ExtractionError("too_complex")
                pages = 1
                if kind == "tiff":
                    pages = _tiff_pages(image, limit)
                image.verify()  # PNG: every chunk's CRC; other formats: the header again
    except ExtractionError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ExtractionError("too_complex") from exc
    except (UnidentifiedImageError, SyntaxError, OSError, ValueError, EOFError, struct.error, KeyError, IndexError,
            TypeError, ZeroDivisionError) as exc:
        raise ExtractionError("malformed_file") from exc
    return Extracted(text="", page_count=pages)


def _tiff_pages(image: object, limit: int | None) -> int:
    """Frames of a TIFF, each within the pixel limit; more than MAX_IMAGE_FRAMES is too complex."""
    pages = 0
    while True:
        pages += 1
        if pages > MAX_IMAGE_FRAMES:
            raise ExtractionError("too_complex")
        width, height = image.size  # type: ignore[attr-defined]
        if limit and width * height > limit:
            raise ExtractionError("too_complex")
        try:
            image.seek(pages)  # type: ignore[attr-defined]
        except EOFError:
            break
    image.seek(0)  # type: ignore[attr-defined]
    return pages


for _kind in sorted(IMAGE_KINDS):
    register_parser(_kind, partial(extract_image, kind=_kind))
