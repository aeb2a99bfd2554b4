"""The parser registry: one parser per kind the sniffer returns, looked up by that kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from docmgr.documents import extraction
from docmgr.documents.extraction.registry import register_parser


def test_every_kind_the_sniffer_returns_has_a_parser():
    assert extraction.registered_kinds() == frozenset(extraction.SUPPORTED)


def test_a_kind_the_sniffer_never_returns_cannot_be_registered():
    with pytest.raises(ValueError, match="not a kind"):
        register_parser("rtf", lambda path, max_chars: extraction.Extracted("", None))
    assert "rtf" not in extraction.registered_kinds()


def test_a_second_parser_for_a_kind_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_parser("pdf", lambda path, max_chars: extraction.Extracted("", None))


def test_extract_runs_the_parser_of_the_sniffed_kind(tmp_path: Path):
    path = tmp_path / "note.bin"
    path.write_bytes("Accordo di collaborazione\r\nСоглашение о сотрудничестве\r\n".encode())
    kind, extracted = extraction.extract_file(path)
    assert kind == "txt"
    assert extracted.text == "Accordo di collaborazione\nСоглашение о сотрудничестве"
    assert extracted.page_count is None


def test_a_kind_without_a_parser_is_unsupported(tmp_path: Path):
    path = tmp_path / "x.txt"
    path.write_text("testo")
    with pytest.raises(extraction.ExtractionError) as refused:
        extraction.extract(path, "rtf")
    assert refused.value.code == "unsupported_file_type"
