"""Text as text: decoding bytes of unknown encoding (for the sniffer and the TXT parser) and the
normalisation every extracted text gets."""

from __future__ import annotations

import codecs
import re
import unicodedata
from typing import Final

from charset_normalizer import from_bytes

# Legacy code pages we accept for text files without a BOM that are not UTF-8. Restricting charset-normalizer to
# these keeps it from choosing exotic look-alikes (it says cp1125 for the CP866 sample, for instance).
_LEGACY_ENCODINGS: Final = [
    "cp1251",
    "koi8_r",
    "cp866",
    "iso8859_5",
    "mac_cyrillic",
    "cp1252",
    "iso8859_15",
    "latin_1",
]
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x19\x1c-\x1f\x7f]")  # C0 controls no text file needs


def decode_text(data: bytes, *, complete: bool) -> str | None:
    """Decode bytes as text, or None when they are not text.

    UTF-8/UTF-16 with a BOM, then strict UTF-8, then the legacy code pages in ``_LEGACY_ENCODINGS`` chosen by
    charset-normalizer. ``complete=False`` means ``data`` is a prefix, so a multi-byte sequence cut at the end is
    not an error.
    """
    if data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        if b"\x00" in data:
            return None
        encoding = "utf-8"
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(data, final=complete)
    except UnicodeDecodeError:
        if encoding != "utf-8":
            return None
        best = from_bytes(data, cp_isolation=_LEGACY_ENCODINGS).best()
        if best is None:
            return None
        try:
            text = data.decode(best.encoding)
        except (UnicodeDecodeError, LookupError):
            return None
    if "\x00" in text or len(_TEXT_CONTROLS.findall(text)) > max(2, len(text) // 200):
        return None
    return text


_LINE_BREAKS = re.compile(r"\r\n?|[\f\v\u2028\u2029\x85]")
_STRIP_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\ufeff\ufffe\uffff]")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalise_text(text: str) -> str:
    """The normalisation every extracted text gets (OCR output too)."""
    text = _LINE_BREAKS.sub("\n", text)
    text = _STRIP_CHARS.sub("", text)  # control characters, soft hyphens, non-characters
    text = unicodedata.normalize("NFC", text)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip()

