"""Type sniffing: which kind of document a file is, from its content only (never its name).

The one sniffer every caller uses (uploads, the extraction sandbox, signed copies); the parsers are
looked up by the kind it returns (see :mod:`docmgr.documents.extraction.registry`).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Final

from docmgr.documents.extraction.base import N_, ExtractionError
from docmgr.documents.extraction.containers import (
    ENCRYPTED_PACKAGE,
    MANIFEST_NS,
    OLE_MAGIC,
    file_contains,
    open_zip,
    parse_xml,
    read_member,
)
from docmgr.documents.extraction.text import decode_text

SUPPORTED: Final[dict[str, str]] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "odt": "application/vnd.oasis.opendocument.text",
    "txt": "text/plain",
    # Scans of signed pages; stored as they are, their text comes from OCR.
    "png": "image/png",
    "jpeg": "image/jpeg",
    "tiff": "image/tiff",
}
IMAGE_KINDS: Final = frozenset({"png", "jpeg", "tiff"})

_SNIFF_BYTES: Final = 64 * 1024
_ZIP_MAGICS: Final = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_EXECUTABLE: Final = N_("Executable programs and scripts are not accepted.")
_IMAGE: Final = N_("GIF images are not accepted; upload scans as PDF, PNG, JPEG or TIFF.")
# Scans are accepted as images; checked before _REJECT_MAGICS. (BigTIFF and WebP are not.)
_IMAGE_MAGICS: Final[tuple[tuple[bytes, str], ...]] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)
_REJECT_MAGICS: Final[tuple[tuple[bytes, str], ...]] = (
    (b"\x7fELF", _EXECUTABLE),
    (b"\xfe\xed\xfa\xce", _EXECUTABLE),  # Mach-O, both byte orders, 32/64 bit
    (b"\xfe\xed\xfa\xcf", _EXECUTABLE),
    (b"\xce\xfa\xed\xfe", _EXECUTABLE),
    (b"\xcf\xfa\xed\xfe", _EXECUTABLE),
    (b"\xca\xfe\xba\xbe", _EXECUTABLE),  # Mach-O universal binary / Java class
    (b"#!", _EXECUTABLE),
    (b"\x89PNG", N_("The file format was not recognised.")),  # a PNG signature cut short
    (b"GIF87a", _IMAGE),
    (b"GIF89a", _IMAGE),
    (b"RIFF", N_("The file format was not recognised.")),  # WebP, WAV, AVI
    (b"{\\rtf", N_("RTF documents are not accepted; save the file as DOCX, ODT or PDF.")),
    (b"%!", N_("PostScript files are not accepted; convert the file to PDF.")),
    (b"\x1f\x8b", N_("Compressed archives are not accepted.")),
    (b"7z\xbc\xaf\x27\x1c", N_("Compressed archives are not accepted.")),
    (b"Rar!", N_("Compressed archives are not accepted.")),
)
_ODT_MIME: Final = SUPPORTED["odt"]
_DOCX_MAIN_CT: Final = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_CT_NS: Final = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_MARKUP_START = re.compile(
    r"<(?:!doctype|!--|\?xml|html|head|body|svg|script|iframe|object|embed|style|meta|title|div|table|a\s|p[\s>])",
    re.IGNORECASE,
)
_MARKUP_ANYWHERE = re.compile(r"<(?:html|head|body|svg|script|iframe|object|embed)[\s/>]", re.IGNORECASE)
_MARKUP_BEFORE_PDF = re.compile(rb"<\s*[!?a-zA-Z/]")  # any tag or declaration ahead of "%PDF-"


def sniff(path: Path) -> str:
    """Return 'pdf' | 'docx' | 'odt' | 'txt' | 'png' | 'jpeg' | 'tiff' from the file's content only (never its name).

    Raises ExtractionError: ``empty_file``; ``unsupported_file_type`` for anything else (HTML/XML/SVG even when
    named .txt, executables, GIF/WebP images, other zips, OLE .doc, RTF ...); ``encrypted_file`` for an OLE container
    holding an ``EncryptedPackage`` stream (a password-protected DOCX/XLSX); ``malformed_file`` for a file with a
    zip signature whose central directory cannot be read (a truncated DOCX/ODT); ``too_complex`` for a zip whose
    directory exceeds the limits (we refuse to even list it).
    """
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if not head:
        raise ExtractionError("empty_file")
    for magic, image_kind in _IMAGE_MAGICS:
        if head.startswith(magic):
            return image_kind
    for magic, message in _REJECT_MAGICS:
        if head.startswith(magic):
            raise ExtractionError("unsupported_file_type", message)
    if head.startswith(b"MZ") and b"\x00" in head[:64]:  # DOS/Windows PE; "MZ" alone could start a text
        raise ExtractionError("unsupported_file_type", _EXECUTABLE)
    pdf_at = head.find(b"%PDF-", 0, 1024)
    if pdf_at >= 0:
        # Readers accept junk before the header; a browser sniffing the same bytes sees "<html>…" (a polyglot).
        if _MARKUP_BEFORE_PDF.search(head[:pdf_at]):  # security: tests/security/test_uploads.py
            raise ExtractionError("unsupported_file_type", N_("HTML, XML and SVG files are not accepted."))
        return "pdf"
    if head.startswith(OLE_MAGIC):
        if file_contains(path, ENCRYPTED_PACKAGE):
            raise ExtractionError("encrypted_file")
        raise ExtractionError(
            "unsupported_file_type", N_("Legacy Office files (.doc, .xls, .ppt) are not accepted; save as DOCX or PDF.")
        )
    if head.startswith(_ZIP_MAGICS):
        return _sniff_zip(path)
    text = decode_text(head, complete=len(head) < _SNIFF_BYTES)
    if text is None:
        raise ExtractionError("unsupported_file_type", N_("The file format was not recognised."))
    if _looks_like_markup(text):
        raise ExtractionError("unsupported_file_type", N_("HTML, XML and SVG files are not accepted."))
    return "txt"


def _sniff_zip(path: Path) -> str:
    with open_zip(path) as zf:
        infos = zf.infolist()
        names = {info.filename for info in infos}
        if "[Content_Types].xml" in names and "word/document.xml" in names:
            if _docx_main_content_type(zf) == _DOCX_MAIN_CT:
                return "docx"
            raise ExtractionError(  # .docm, .dotx ...
                "unsupported_file_type", N_("Macro-enabled Word files and templates are not accepted; save as DOCX.")
            )
        if infos and infos[0].filename == "mimetype" and infos[0].file_size < 256:
            if read_member(zf, "mimetype").strip() == _ODT_MIME.encode():
                return "odt"
        if "META-INF/manifest.xml" in names and _odf_manifest_media_type(zf) == _ODT_MIME:
            return "odt"
    raise ExtractionError("unsupported_file_type", N_("The archive is not a DOCX or ODT document."))


def _docx_main_content_type(zf: zipfile.ZipFile) -> str | None:
    try:
        root = parse_xml(read_member(zf, "[Content_Types].xml"))
    except ExtractionError:
        return None
    for override in root.iter(f"{_CT_NS}Override"):
        if override.get("PartName", "").lower() == "/word/document.xml":
            return override.get("ContentType")
    return None


def _odf_manifest_media_type(zf: zipfile.ZipFile) -> str | None:
    try:
        root = parse_xml(read_member(zf, "META-INF/manifest.xml"))
    except ExtractionError:
        return None
    for entry in root.iter(f"{MANIFEST_NS}file-entry"):
        if entry.get(f"{MANIFEST_NS}full-path") == "/":
            return entry.get(f"{MANIFEST_NS}media-type")
    return None


def _looks_like_markup(text: str) -> bool:
    """HTML/XML/SVG must not be stored as text/plain: a browser that sniffs could render it."""
    start = text.lstrip("\ufeff \t\r\n\f\v")
    return bool(_MARKUP_START.match(start) or _MARKUP_ANYWHERE.search(start, 0, 4096))
