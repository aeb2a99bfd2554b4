"""What every part of extraction shares: the result of a parser and the error it raises.

A leaf module (no Flask, no parsers): messages are marked with ``N_`` for the catalogs and translated by
the upload service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Marks a user-facing message for extraction into the catalogs (pybabel's default ``N_`` keyword) without
    translating it here (this module stays free of Flask); the upload service translates it with ``gettext``."""
    return message


_MESSAGES: Final[dict[str, str]] = {
    "unsupported_file_type": N_("This file type is not supported; upload a PDF, DOCX, ODT, plain-text, PNG, JPEG or TIFF file."),
    "empty_file": N_("The file is empty."),
    "encrypted_file": N_("The file is password-protected; remove the password and upload it again."),
    "malformed_file": N_("The file is damaged or not a valid document and cannot be read."),
    "too_complex": N_("The file is too large or too complex to process."),
}


class ExtractionError(Exception):
    """A file we refuse to (or cannot) read. ``code`` is stable snake_case for the API, ``message`` a sentence."""

    def __init__(self, code: str, message: str | None = None) -> None:
        self.code = code
        self.message = message or _MESSAGES.get(code, N_("The file cannot be processed."))
        super().__init__(f"{code}: {self.message}")


@dataclass
class Extracted:
    text: str  # normalised text (NFC, collapsed runs of blank lines); '' for e.g. scanned PDFs
    page_count: int | None  # PDFs and images only
    encrypted: bool = False  # PDF had an encryption dictionary but opened with the empty password

