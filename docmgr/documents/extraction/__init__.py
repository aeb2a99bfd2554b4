"""Type sniffing and plain-text extraction for uploaded documents (PDF, DOCX, ODT, TXT; PNG/JPEG/TIFF scans).

Pure functions, no Flask: the upload service calls :func:`sniff` + :func:`extract` (or :func:`extract_file`) and maps
:class:`ExtractionError` codes to user-facing messages.

Everything here handles untrusted input. The rules are:

* the type comes from the bytes, never from the file name (``sniff``, the one sniffer);
* zip limits are checked on the central directory *before* any member is
  decompressed (CPython's ``zipfile`` never inflates past a member's declared
  size, so the declared sizes are a real bound) (``containers``);
* XML is parsed with ``defusedxml`` (ODT) or python-docx's parser with
  ``resolve_entities=False`` after rejecting any DTD (DOCX), so entities are
  never expanded or fetched;
* every pypdf failure becomes ``malformed_file``;
* images (scans of signed pages) are opened with Pillow restricted to the sniffed format, and refused as
  ``too_complex`` above Pillow's ``MAX_IMAGE_PIXELS`` decompression-bomb guard; their text is '' (OCR recognises it
  later, see ``docmgr.documents.ocr``).

One module per format (``pdf``, ``docx``, ``odt``, ``txt``, ``images``), each registering its parser for the kind
the sniffer returns (``registry.register_parser``); ``text`` decodes and normalises, ``language`` tells Italian from
Russian. The names below are the package's interface.
"""

# The parsers register themselves when imported (the extraction sandbox's fork server imports this package).
from docmgr.documents.extraction import docx, images, odt, pdf, txt  # noqa: F401
from docmgr.documents.extraction.base import Extracted, ExtractionError
from docmgr.documents.extraction.language import detect_language
from docmgr.documents.extraction.registry import extract, extract_file, register_parser, registered_kinds
from docmgr.documents.extraction.sniff import IMAGE_KINDS, SUPPORTED, sniff
from docmgr.documents.extraction.text import normalise_text

__all__ = [
    "IMAGE_KINDS",
    "SUPPORTED",
    "ExtractionError",
    "Extracted",
    "detect_language",
    "extract",
    "extract_file",
    "normalise_text",
    "register_parser",
    "registered_kinds",
    "sniff",
]
