"""The parsers, keyed by the kind the sniffer returns, and :func:`extract`, which runs the right one.

Each parser module registers itself (``register_parser("pdf", extract_pdf)``) when the package is
imported, so adding a format is one new module and one line in the package's ``__init__``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from docmgr.documents.extraction.base import Extracted, ExtractionError
from docmgr.documents.extraction.sniff import SUPPORTED, sniff
from docmgr.documents.extraction.text import normalise_text

# A parser reads a file of its kind and returns its raw text (normalised and cut to ``max_chars`` by
# extract()); it may stop early once it has more than ``max_chars`` characters.
Parser = Callable[[Path, int], Extracted]

_PARSERS: dict[str, Parser] = {}


def register_parser(kind: str, parser: Parser) -> Parser:
    """Make ``parser`` the one that reads files the sniffer calls ``kind`` (a key of ``SUPPORTED``)."""
    if kind not in SUPPORTED:
        raise ValueError(f"{kind!r} is not a kind the sniffer returns")
    if _PARSERS.get(kind, parser) is not parser:
        raise ValueError(f"a parser for {kind!r} is already registered")
    _PARSERS[kind] = parser
    return parser


def registered_kinds() -> frozenset[str]:
    """The kinds a parser is registered for."""
    return frozenset(_PARSERS)


def extract(path: Path, kind: str, *, max_chars: int = 5_000_000) -> Extracted:
    """Extract normalised text from a file already identified as ``kind`` (see :func:`sniff`).

    Raises ExtractionError with code ``encrypted_file``, ``malformed_file`` or ``too_complex``. Text longer than
    ``max_chars`` is truncated (not an error); PDF extraction stops at the first page past the limit.
    """
    path = Path(path)
    if max_chars <= 0:
        raise ValueError("max_chars must be positive")
    parser = _PARSERS.get(kind)
    if parser is None:
        raise ExtractionError("unsupported_file_type")
    result = parser(path, max_chars)
    result.text = normalise_text(result.text)[:max_chars]
    return result


def extract_file(path: Path, *, max_chars: int = 5_000_000) -> tuple[str, Extracted]:
    """Sniff, then extract. Returns ``(kind, extracted)``."""
    kind = sniff(path)
    return kind, extract(path, kind, max_chars=max_chars)
