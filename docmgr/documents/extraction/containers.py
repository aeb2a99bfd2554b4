"""Zip and OLE containers, and the XML inside them, opened within limits (DOCX, ODT and the sniffer).

Zip limits are checked on the central directory *before* any member is decompressed (CPython's
``zipfile`` never inflates past a member's declared size, so the declared sizes are a real bound); XML
is parsed with ``defusedxml``, so entities are never expanded or fetched.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path
from typing import Final
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from docmgr.documents.extraction.base import ExtractionError

MAX_ZIP_MEMBERS: Final = 10_000
MAX_ZIP_TOTAL_UNCOMPRESSED: Final = 200 * 1024 * 1024
MAX_ZIP_RATIO: Final = 200
ZIP_RATIO_MIN_SIZE: Final = 10 * 1024 * 1024  # the ratio rule only applies to members bigger than this
MAX_ZIP_CENTRAL_DIRECTORY: Final = 16 * 1024 * 1024  # bounds the memory zipfile spends on ZipInfo objects
MAX_XML_PART: Final = 64 * 1024 * 1024  # a single XML part we parse into a tree (tree ~10x the bytes)

_CHUNK: Final = 1024 * 1024
OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTED_PACKAGE: Final = "EncryptedPackage".encode("utf-16-le")
MANIFEST_NS: Final = "{urn:oasis:names:tc:opendocument:xmlns:manifest:1.0}"


def file_contains(path: Path, needle: bytes) -> bool:
    """Chunked substring search, so a large OLE file is never read into memory at once."""
    overlap = len(needle) - 1
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            if needle in tail + chunk:
                return True
            tail = chunk[-overlap:]
    return False


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


def open_zip(path: Path) -> zipfile.ZipFile:
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


def read_member(zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = zf.getinfo(name)
        if info.file_size > MAX_XML_PART:
            raise ExtractionError("too_complex")
        return zf.read(info)
    except (KeyError, zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, OSError) as exc:
        raise ExtractionError("malformed_file") from exc  # missing member, CRC error, unsupported compression


def parse_xml(data: bytes) -> Element:
    """defusedxml: any entity declaration (XXE, billion laughs) or external reference is an error."""
    try:
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, ValueError) as exc:
        raise ExtractionError("malformed_file") from exc


def reject_ole(path: Path) -> None:
    """A password-protected DOCX is an OLE container, not a zip: say 'encrypted', not 'malformed'."""
    with path.open("rb") as fh:
        is_ole = fh.read(8) == OLE_MAGIC
    if is_ole:
        code = "encrypted_file" if file_contains(path, ENCRYPTED_PACKAGE) else "malformed_file"
        raise ExtractionError(code)
