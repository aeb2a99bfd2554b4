"""Type sniffing and plain-text extraction for uploaded documents (PDF, DOCX, ODT, TXT; PNG/JPEG/TIFF scans).

Pure functions, no Flask: the upload service calls :func:`sniff` + :func:`extract` (or :func:`extract_file`) and maps
:class:`ExtractionError` codes to user-facing messages.

Everything here handles untrusted input. The rules are:

* the type comes from the bytes, never from the file name;
* zip limits are checked on the central directory *before* any member is
  decompressed (CPython's ``zipfile`` never inflates past a member's declared
  size, so the declared sizes are a real bound);
* XML is parsed with ``defusedxml`` (ODT) or python-docx's parser with
  ``resolve_entities=False`` after rejecting any DTD (DOCX), so entities are
  never expanded or fetched;
* every pypdf failure becomes ``malformed_file``;
* images (scans of signed pages) are opened with Pillow restricted to the sniffed format, and refused as
  ``too_complex`` above Pillow's ``MAX_IMAGE_PIXELS`` decompression-bomb guard; their text is '' (OCR recognises it
  later, see ``docmgr.documents.ocr``).
"""

from __future__ import annotations

import codecs
import re
import struct
import threading
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from charset_normalizer import from_bytes
from defusedxml import DefusedXmlException

__all__ = [
    "SUPPORTED",
    "ExtractionError",
    "Extracted",
    "detect_language",
    "extract",
    "extract_file",
    "IMAGE_KINDS",
    "normalise_text",
    "sniff",
]

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

# --- limits -----------------------------------------------------------------------------------------------------
MAX_ZIP_MEMBERS: Final = 10_000
MAX_ZIP_TOTAL_UNCOMPRESSED: Final = 200 * 1024 * 1024
MAX_ZIP_RATIO: Final = 200
ZIP_RATIO_MIN_SIZE: Final = 10 * 1024 * 1024  # the ratio rule only applies to members bigger than this
MAX_ZIP_CENTRAL_DIRECTORY: Final = 16 * 1024 * 1024  # bounds the memory zipfile spends on ZipInfo objects
MAX_XML_PART: Final = 64 * 1024 * 1024  # a single XML part we parse into a tree (tree ~10x the bytes)
MAX_PDF_PAGES: Final = 5_000
MAX_ODF_SPACES: Final = 16  # cap for <text:s text:c="N"/>, so c="999999999" cannot blow up the output
MAX_IMAGE_FRAMES: Final = 50  # pages of a multi-page TIFF (OCR reads at most 50 pages anyway)

_SNIFF_BYTES: Final = 64 * 1024
_CHUNK: Final = 1024 * 1024


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


# --- sniffing ---------------------------------------------------------------------------------------------------
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE: Final = "EncryptedPackage".encode("utf-16-le")
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
_MANIFEST_NS: Final = "{urn:oasis:names:tc:opendocument:xmlns:manifest:1.0}"

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
_MARKUP_START = re.compile(
    r"<(?:!doctype|!--|\?xml|html|head|body|svg|script|iframe|object|embed|style|meta|title|div|table|a\s|p[\s>])",
    re.IGNORECASE,
)
_MARKUP_ANYWHERE = re.compile(r"<(?:html|head|body|svg|script|iframe|object|embed)[\s/>]", re.IGNORECASE)
_MARKUP_BEFORE_PDF = re.compile(rb"<\s*[!?a-zA-Z/]")  # any tag or declaration ahead of "%PDF-"
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x19\x1c-\x1f\x7f]")  # C0 controls no text file needs


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
    if head.startswith(_OLE_MAGIC):
        if _file_contains(path, _ENCRYPTED_PACKAGE):
            raise ExtractionError("encrypted_file")
        raise ExtractionError(
            "unsupported_file_type", N_("Legacy Office files (.doc, .xls, .ppt) are not accepted; save as DOCX or PDF.")
        )
    if head.startswith(_ZIP_MAGICS):
        return _sniff_zip(path)
    text = _decode_text(head, complete=len(head) < _SNIFF_BYTES)
    if text is None:
        raise ExtractionError("unsupported_file_type", N_("The file format was not recognised."))
    if _looks_like_markup(text):
        raise ExtractionError("unsupported_file_type", N_("HTML, XML and SVG files are not accepted."))
    return "txt"


def _sniff_zip(path: Path) -> str:
    with _open_zip(path) as zf:
        infos = zf.infolist()
        names = {info.filename for info in infos}
        if "[Content_Types].xml" in names and "word/document.xml" in names:
            if _docx_main_content_type(zf) == _DOCX_MAIN_CT:
                return "docx"
            raise ExtractionError(  # .docm, .dotx ...
                "unsupported_file_type", N_("Macro-enabled Word files and templates are not accepted; save as DOCX.")
            )
        if infos and infos[0].filename == "mimetype" and infos[0].file_size < 256:
            if _read_member(zf, "mimetype").strip() == _ODT_MIME.encode():
                return "odt"
        if "META-INF/manifest.xml" in names and _odf_manifest_media_type(zf) == _ODT_MIME:
            return "odt"
    raise ExtractionError("unsupported_file_type", N_("The archive is not a DOCX or ODT document."))


def _docx_main_content_type(zf: zipfile.ZipFile) -> str | None:
    try:
        root = _parse_xml(_read_member(zf, "[Content_Types].xml"))
    except ExtractionError:
        return None
    for override in root.iter(f"{_CT_NS}Override"):
        if override.get("PartName", "").lower() == "/word/document.xml":
            return override.get("ContentType")
    return None


def _odf_manifest_media_type(zf: zipfile.ZipFile) -> str | None:
    try:
        root = _parse_xml(_read_member(zf, "META-INF/manifest.xml"))
    except ExtractionError:
        return None
    for entry in root.iter(f"{_MANIFEST_NS}file-entry"):
        if entry.get(f"{_MANIFEST_NS}full-path") == "/":
            return entry.get(f"{_MANIFEST_NS}media-type")
    return None


def _file_contains(path: Path, needle: bytes) -> bool:
    """Chunked substring search, so a large OLE file is never read into memory at once."""
    overlap = len(needle) - 1
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            if needle in tail + chunk:
                return True
            tail = chunk[-overlap:]
    return False


def _looks_like_markup(text: str) -> bool:
    """HTML/XML/SVG must not be stored as text/plain: a browser that sniffs could render it."""
    start = text.lstrip("\ufeff \t\r\n\f\v")
    return bool(_MARKUP_START.match(start) or _MARKUP_ANYWHERE.search(start, 0, 4096))


def _decode_text(data: bytes, *, complete: bool) -> str | None:
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


# --- extraction -------------------------------------------------------------------------------------------------
def extract(path: Path, kind: str, *, max_chars: int = 5_000_000) -> Extracted:
    """Extract normalised text from a file already identified as ``kind`` (see :func:`sniff`).

    Raises ExtractionError with code ``encrypted_file``, ``malformed_file`` or ``too_complex``. Text longer than
    ``max_chars`` is truncated (not an error); PDF extraction stops at the first page past the limit.
    """
    path = Path(path)
    if max_chars <= 0:
        raise ValueError("max_chars must be positive")
    if kind == "pdf":
        result = _extract_pdf(path, max_chars)
    elif kind == "docx":
        result = _extract_docx(path)
    elif kind == "odt":
        result = _extract_odt(path)
    elif kind == "txt":
        result = _extract_txt(path, max_chars)
    elif kind in IMAGE_KINDS:
        result = _extract_image(path, kind)
    else:
        raise ExtractionError("unsupported_file_type")
    result.text = _normalise(result.text)[:max_chars]
    return result


def extract_file(path: Path, *, max_chars: int = 5_000_000) -> tuple[str, Extracted]:
    """Sniff, then extract. Returns ``(kind, extracted)``."""
    kind = sniff(path)
    return kind, extract(path, kind, max_chars=max_chars)


_LINE_BREAKS = re.compile(r"\r\n?|[\f\v\u2028\u2029\x85]")
_STRIP_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\ufeff\ufffe\uffff]")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalise_text(text: str) -> str:
    """The normalisation every extracted text gets (OCR output too)."""
    return _normalise(text)


def _normalise(text: str) -> str:
    text = _LINE_BREAKS.sub("\n", text)
    text = _STRIP_CHARS.sub("", text)  # control characters, soft hyphens, non-characters
    text = unicodedata.normalize("NFC", text)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip()


# --- zip helpers ------------------------------------------------------------------------------------------------
def _zip_directory_size(path: Path) -> tuple[int, int] | None:
    """(entries, central-directory bytes) from the end-of-central-directory record, without parsing the directory.

    None when there is no EOCD (zipfile will then fail and we report malformed_file).
    """
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - (65_535 + 22)))
        tail = fh.read()
        pos = tail.rfind(b"PK\x05\x06")
        if pos < 0 or pos + 22 > len(tail):
            return None
        entries, cd_size = struct.unpack("<xxxxxxxxxxHI", tail[pos : pos + 16])
        locator = tail[pos - 20 : pos] if pos >= 20 else b""
        if locator.startswith(b"PK\x06\x07"):  # zip64: the real counts live in the zip64 EOCD record
            (offset,) = struct.unpack("<Q", locator[8:16])
            fh.seek(offset)
            record = fh.read(56)
            if len(record) == 56 and record.startswith(b"PK\x06\x06"):
                entries, cd_size = struct.unpack("<QQ", record[32:48])
        return entries, cd_size


def _open_zip(path: Path) -> zipfile.ZipFile:
    """Open a zip after checking the bomb limits; BadZipFile & co. become malformed_file."""
    directory = _zip_directory_size(path)
    if directory is not None and (directory[0] > MAX_ZIP_MEMBERS or directory[1] > MAX_ZIP_CENTRAL_DIRECTORY):
        raise ExtractionError("too_complex")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError, OSError) as exc:
        raise ExtractionError("malformed_file") from exc  # OSError: e.g. a seek to a negative offset
    infos = zf.infolist()
    total = sum(info.file_size for info in infos)
    bomb = any(
        info.file_size > ZIP_RATIO_MIN_SIZE
        and (info.compress_size == 0 or info.file_size / info.compress_size > MAX_ZIP_RATIO)
        for info in infos
    )
    if len(infos) > MAX_ZIP_MEMBERS or total > MAX_ZIP_TOTAL_UNCOMPRESSED or bomb:
        zf.close()
        raise ExtractionError("too_complex")
    return zf


def _read_member(zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = zf.getinfo(name)
        if info.file_size > MAX_XML_PART:
            raise ExtractionError("too_complex")
        return zf.read(info)
    except (KeyError, zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, OSError) as exc:
        raise ExtractionError("malformed_file") from exc  # missing member, CRC error, unsupported compression


def _parse_xml(data: bytes) -> Element:
    """defusedxml: any entity declaration (XXE, billion laughs) or external reference is an error."""
    try:
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, ValueError) as exc:
        raise ExtractionError("malformed_file") from exc


def _reject_ole(path: Path) -> None:
    """A password-protected DOCX is an OLE container, not a zip: say 'encrypted', not 'malformed'."""
    with path.open("rb") as fh:
        is_ole = fh.read(8) == _OLE_MAGIC
    if is_ole:
        code = "encrypted_file" if _file_contains(path, _ENCRYPTED_PACKAGE) else "malformed_file"
        raise ExtractionError(code)


# --- PDF --------------------------------------------------------------------------------------------------------
def _extract_pdf(path: Path, max_chars: int) -> Extracted:
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


# --- DOCX -------------------------------------------------------------------------------------------------------
_W: Final = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_R_ID: Final = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_MC_FALLBACK: Final = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_W_SKIP: Final = frozenset(
    _W + tag for tag in ("pPr", "rPr", "tblPr", "tcPr", "trPr", "sectPr", "del", "moveFrom", "instrText")
) | {_MC_FALLBACK}
_W_INLINE: Final = {_W + "tab": "\t", _W + "br": "\n", _W + "cr": "\n", _W + "noBreakHyphen": "-"}
_DOCTYPE_MARKERS: Final = tuple("<!DOCTYPE".encode(enc) for enc in ("utf-8", "utf-16-le", "utf-16-be"))


def _extract_docx(path: Path) -> Extracted:
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE as RT

    _reject_ole(path)
    with _open_zip(path) as zf:
        for info in zf.infolist():  # python-docx parses every XML part; refuse DTDs before it sees them
            if info.filename.endswith((".xml", ".rels")):
                data = _read_member(zf, info.filename)
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


# --- ODT --------------------------------------------------------------------------------------------------------
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


def _extract_odt(path: Path) -> Extracted:
    _reject_ole(path)
    with _open_zip(path) as zf:
        names = set(zf.namelist())
        if "META-INF/manifest.xml" in names:
            manifest = _parse_xml(_read_member(zf, "META-INF/manifest.xml"))
            for tag in ("encryption-data", "encrypted-key"):
                if next(manifest.iter(_MANIFEST_NS + tag), None) is not None:
                    raise ExtractionError("encrypted_file")
        content = _parse_xml(_read_member(zf, "content.xml"))
        styles = _parse_xml(_read_member(zf, "styles.xml")) if "styles.xml" in names else None

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


# --- TXT --------------------------------------------------------------------------------------------------------
def _extract_txt(path: Path, max_chars: int) -> Extracted:
    limit = max_chars * 4 + 4  # enough bytes for max_chars characters in any supported encoding
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    complete = len(data) <= limit
    text = _decode_text(data[:limit], complete=complete)
    if text is None:
        raise ExtractionError("malformed_file", N_("The file is not valid text in a supported encoding."))
    return Extracted(text=text, page_count=None)


# --- images (scans) ---------------------------------------------------------------------------------------------
_PILLOW_FORMATS: Final = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF"}


def _extract_image(path: Path, kind: str) -> Extracted:
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


# --- language ---------------------------------------------------------------------------------------------------
_CYRILLIC = re.compile("[\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f]")
_LATIN = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
MIN_LETTERS: Final = 20
BILINGUAL_SHARE: Final = 0.2


def detect_language(text: str) -> str | None:
    """'it', 'ru', 'bi' (both scripts substantially present) or None (< 20 letters).

    Only the script is counted: the service handles Italian and Russian only, so Latin means Italian. 'bi' when
    the minority script has at least 20% of the letters.
    """
    cyrillic = _CYRILLIC.subn("", text)[1]
    latin = _LATIN.subn("", text)[1]
    letters = cyrillic + latin
    if letters < MIN_LETTERS:
        return None
    if min(cyrillic, latin) >= BILINGUAL_SHARE * letters:
        return "bi"
    return "ru" if cyrillic > latin else "it"
