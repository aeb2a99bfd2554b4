"""docmgr.vocab: the one source of each vocabulary, and the small parsers everyone shares."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from docmgr import vocab
from docmgr.accounts.models import Role
from docmgr.documents.models import SECTORS, DocumentKind


@pytest.mark.parametrize(("typed", "number"), [
    ("1234.5", 1234.5), ("1234,5", 1234.5), ("1.234,5", 1234.5), ("1 234,5", 1234.5), ("1\u00a0234,56", 1234.56),
    ("1\u202f234,56", 1234.56), ("12", 12), ("-3", -3), ("1.0", 1.0), ("1.234.567,89", 1234567.89),
])
def test_parse_number_reads_italian_russian_and_english_styles(typed, number):
    parsed = vocab.parse_number(typed)
    assert parsed == number and type(parsed) is type(number)


@pytest.mark.parametrize("typed", ["abc", "", "nan", "inf", "1,2,3,,"])
def test_parse_number_refuses_what_is_not_a_number(typed):
    with pytest.raises(ValueError):
        vocab.parse_number(typed)


def test_parse_int():
    assert vocab.parse_int("42") == 42 and vocab.parse_int(" 7 ") == 7 and vocab.parse_int(5) == 5
    assert vocab.parse_int("") is None and vocab.parse_int(None) is None
    for bad in ("1_000", "1.5", "12abc", "٣", True):  # int() alone would take "1_000" and Arabic-Indic digits
        with pytest.raises(ValueError):
            vocab.parse_int(bad)


def test_scripts_and_email():
    assert vocab.is_cyrillic("ООО «Сибирские технологии»") and vocab.is_cyrillic("abc ё")
    assert not vocab.is_cyrillic("Città di Torino") and not vocab.is_cyrillic("") and not vocab.is_cyrillic(None)
    assert vocab.is_email("a.b@example.org") and not vocab.is_email("a b@example.org") and not vocab.is_email("a@b")


def test_iso_ends_utc_times_in_z():
    assert vocab.iso(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    assert vocab.iso(date(2026, 1, 2)) == "2026-01-02" and vocab.iso(None) is None


def test_models_speak_the_same_vocabulary():
    assert Role is vocab.Role and DocumentKind is vocab.DocumentKind and SECTORS is vocab.SECTORS
    assert set(vocab.SECTOR_LABELS) == set(vocab.SECTOR_NAMES) == set(vocab.SECTORS)
    assert set(vocab.KIND_LABELS) == set(vocab.KINDS) and set(vocab.ROLE_LABELS) == set(vocab.ROLES)
    assert set(vocab.LANGUAGE_LABELS) == set(vocab.LANGUAGES)
    assert vocab.READS_EVERYTHING_ROLES | vocab.WRITER_ROLES == set(vocab.ROLES)


# No database, search backend or queue here: CI's second pass (PostgreSQL + Redis) does not run these again.
pytestmark = pytest.mark.backend_independent
