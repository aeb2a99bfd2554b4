"""Highlights on long bilingual documents: the candidate scan (docmgr.search.text.LanguageTokenizer.find)
puts the marks exactly where a full analysis of the text puts them, in both languages, wherever in
a 30-page text the words are."""

from __future__ import annotations

import random
import re
import sys
from datetime import UTC, datetime

import pytest

from docmgr.search import highlights, schema, text
from docmgr.search.engine import IndexEntry, WhooshEngine
from docmgr.search.indexers import get_engine
from docmgr.search.query import QueryBuilder
from docmgr.search.text import BODY, LanguageTokenizer, language_analyzer
from tests.search.conftest import parallel

# Characters that fold or case-map in unusual ways, Latin look-alikes inside Cyrillic words (as
# OCR makes them), dotted words and digits: the candidate scan must not lose any of them.
TRICKY = (" Straße STRASSE Œuvre œuvres Kelvin 5\u212a Ångström \u212bngström İstanbul ĐORĐE Sıla "
          "cafe\u0301 NAÏVE naïve a.b.c ..diritto 2013.5 diritti.Права pаботой рaботы Цзэсюй abc1где "
          "ПРАВИТЕЛЬСТВО Ёлка ёлки ЧЕЛОВЕКА человека_и Человек ")


def bilingual_text(min_chars: int = 60_000, seed: int = 3) -> str:
    """A real bilingual document of about 30 pages: PUD sentences in Italian each followed by its
    Russian translation, in paragraphs, with the tricky words sprinkled in."""
    rows = list(parallel().values())
    rng = random.Random(seed)
    parts, size = [], 0
    while size < min_chars:
        it, ru = rng.choice(rows)
        parts.append(f"{it}\n{ru}\n" + (TRICKY if rng.random() < 0.01 else ""))
        size += len(parts[-1])
    return "\n".join(parts)


def full_analysis(value: str, forms: set[str]) -> list[tuple[int, int, str]]:
    """Where a full analysis (every word tokenised, folded and stemmed) finds ``forms``."""
    return [(t.startchar, t.endchar, t.text) for t in language_analyzer(BODY)(value, chars=True, mode="index")
            if t.text in forms]


@pytest.fixture(scope="module")
def long_text() -> str:
    return bilingual_text()


def test_find_equals_full_analysis_on_a_long_bilingual_text(long_text):
    assert len(long_text) > 60_000
    tokens = [(t.startchar, t.endchar, t.text) for t in language_analyzer(BODY)(long_text, chars=True, mode="index")]
    vocabulary = sorted({form for _s, _e, form in tokens})
    rng = random.Random(11)
    latin = [f for f in vocabulary if re.search("[a-z]", f)]
    cyrillic = [f for f in vocabulary if re.search("[а-я]", f)]
    tricky = [{t.text} for t in language_analyzer(BODY)(TRICKY, mode="index")]
    assert {"strass", "пабот"} <= {form for forms in tricky for form in forms}
    samples = tricky + [{rng.choice(latin), rng.choice(cyrillic)} for _ in range(30)]
    samples += [set(rng.sample(vocabulary, 3)) for _ in range(10)]
    mixed = LanguageTokenizer.mixed_runs(long_text)
    assert mixed  # the look-alikes make words of two scripts
    for forms in samples:
        expected = [token for token in tokens if token[2] in forms]
        assert expected, forms
        assert LanguageTokenizer(BODY).find(long_text, forms) == expected, sorted(forms)  # cold cache
        assert LanguageTokenizer(BODY).find(long_text, forms, mixed) == expected, sorted(forms)


def test_the_fold_table_covers_every_character_of_unicode():
    """Every word character whose folded lowercase form is Latin letters, digits or Cyrillic lies
    in the blocks the candidate scan reads, and every one holding a Latin letter counts as Latin."""
    table = text._folds_to()
    latin = text._latin_chars()
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if not (char.isalnum() or char == "_"):
            continue
        folded = text.fold.__wrapped__(char.lower())
        if folded and text._FAST_PREFIX.fullmatch(folded) and not char.isascii():
            assert char in table.get(folded, ()), (hex(code), folded)
        if text._LATIN.search(folded):
            assert char in latin, hex(code)


def _entries(long_text: str) -> list[IndexEntry]:
    """A 30-page bilingual file, two 70,000-character files (Italian, Russian) and a one-page one."""
    rows = list(parallel().values())
    it_text = "\n".join(it for it, _ru in rows)[:70_000]
    ru_text = "\n".join(ru for _it, ru in rows)[:70_000]

    def entry(i: int, files: list[dict]) -> IndexEntry:
        return IndexEntry(uid=f"document:{i}", object_key=f"document:{i}", doctype="document", object_id=i,
                          document_id=i, created_at=datetime(2020, 1, 1, tzinfo=UTC), title_it=f"Documento {i}",
                          title_ru=f"Документ {i}", files=files, kind="agreement", reader_org_ids=[1], stamp=str(i))

    return [
        entry(1, [{"id": 10, "language": "bi", "text": long_text}]),  # one bilingual file
        entry(2, [{"id": 20, "language": "it", "text": it_text}, {"id": 21, "language": "ru", "text": ru_text}]),
        entry(3, [{"id": 30, "language": "bi", "text": long_text[:2_000]}]),  # a one-page one
    ]


@pytest.fixture(scope="module")
def engine(tmp_path_factory, long_text):
    engine = WhooshEngine(tmp_path_factory.mktemp("index"))
    with engine.drain_lock(blocking=True):
        engine.rebuild(_entries(long_text))
    return engine


def late_words(value: str, after: int) -> tuple[list[str], list[str]]:
    """Italian and Russian words (as written) whose every occurrence is past ``after`` characters."""
    first: dict[str, int] = {}
    for match in re.finditer(r"\w{6,}", value):
        first.setdefault(match.group(0).lower(), match.start())
    late = sorted(w for w, start in first.items() if start > after)
    return [w for w in late if re.fullmatch("[a-z]+", w)], [w for w in late if re.fullmatch("[а-я]+", w)]


def marks(highlight: str) -> list[str]:
    return re.findall(r"<mark>(.*?)</mark>", highlight)


def test_highlights_of_long_documents_are_those_of_a_full_analysis(engine, long_text, monkeypatch):
    """Marks in both languages, at the places a full analysis puts them, for words found only past
    the first 40,000 characters of a bilingual file, and for words spread all over it."""
    located = _same_as_full_analysis(engine, long_text, monkeypatch,
                                     lambda: engine._local.__dict__.pop("document_cache", None))
    assert located and all(located)  # the long texts' words were placed from the index's positions


@pytest.mark.postgres_only
def test_the_postgresql_backend_marks_them_where_a_full_analysis_does(app, long_text, monkeypatch):
    """The same on the PostgreSQL backend, whose hits' texts are scanned for the words (reading the positions
    their vectors keep costs as much as the scan: measured, 0.3–1.1 ms a hit either way)."""
    engine = get_engine(app)
    with engine.drain_lock(blocking=True):
        engine.rebuild(_entries(long_text))
    _same_as_full_analysis(engine, long_text, monkeypatch, engine._documents.clear)


def _same_as_full_analysis(engine, long_text, monkeypatch, forget) -> list[bool]:
    """Compares an engine's highlights with a full analysis's; returns whether each placement from positions
    fitted."""
    builder = QueryBuilder(engine.schema)
    italian, russian = late_words(long_text, 40_000)
    rng = random.Random(5)
    queries = [f"{rng.choice(italian)} {rng.choice(russian)}" for _ in range(8)]
    queries += ["diritto человек", "stato правительство", "straße pаботой", "presidente OR году"]
    seen_both = 0
    located = []
    real_locate = LanguageTokenizer.locate

    def counted_locate(self, *args):
        found = real_locate(self, *args)
        located.append(found is not None)
        return found

    monkeypatch.setattr(LanguageTokenizer, "locate", counted_locate)
    for q in queries:
        fast = engine.search(builder.parse(q), page=1, per_page=10)
        assert fast.hits, q
        with monkeypatch.context() as patch:
            class FullAnalysis:
                @staticmethod
                def find(value, forms, _mixed=None):
                    return full_analysis(value, forms)

                @staticmethod
                def locate(*_args):  # no positions: every text analysed in full
                    return None

            patch.setattr(highlights, "_HIGHLIGHT_TOKENIZER", FullAnalysis)
            forget()
            reference = engine.search(builder.parse(q), page=1, per_page=10)
        assert [h.highlights for h in fast.hits] == [h.highlights for h in reference.hits], q
        assert [(h.file_id, h.snippet_language) for h in fast.hits] == \
            [(h.file_id, h.snippet_language) for h in reference.hits]
        for hit in fast.hits:
            marked = [m for h in hit.highlights for m in marks(str(h))]
            assert marked, (q, hit.uid)
            if any(re.search("[A-Za-z]", m) for m in marked) and any(re.search("[А-Яа-я]", m) for m in marked):
                seen_both += 1
    assert seen_both >= 6  # the bilingual file: both languages marked in its snippets
    return located


def test_positions_place_every_word_where_the_body_field_analysed_it(long_text):
    """The checkpoints stored at index time turn every ``body`` position of a text (Italian and
    Russian parts, stop words left out, titles and labels after them) into the characters the
    analysis of the ``body`` field gave it."""
    it_text, ru_text = long_text[:30_000], long_text[30_000:] + text.SEGMENT + " Ёлка"
    entry = IndexEntry(uid="document:1", object_key="document:1", doctype="document", object_id=1,
                       created_at=datetime(2020, 1, 1, tzinfo=UTC), title_it="Il diritto", title_ru="Право",
                       files=[{"id": 1, "language": "it", "text": it_text}, {"id": 2, "language": "ru", "text": ru_text}],
                       meta=["diritto.pdf"], stamp="1")
    fields = schema.entry_fields(entry)
    payload = schema.payload_of(fields)
    tokens = [(t.pos, t.startchar, t.endchar, t.text)
              for t in language_analyzer(BODY)(fields["body"], positions=True, chars=True, mode="index")]
    assert tokens[-1][0] >= text.HEAD_POSITION  # titles and labels come after the texts
    tokenizer = LanguageTokenizer(BODY)
    for language, base in (("it", 0), ("ru", len(it_text) + 1)):
        value = payload["text_" + language]
        start, count, offsets = payload["positions_" + language]
        expected = [(s - base, e - base, form) for pos, s, e, form in tokens if start <= pos < start + count]
        assert len(expected) == count > 1000
        assert all(tokenizer._form(value[s:e]) == (f, False) for s, e, f in expected)  # the payload's text
        forms = {form for _s, _e, form in expected}
        positions = [pos - start for pos, *_rest in tokens if start <= pos < start + count]
        assert tokenizer.locate(value, positions, offsets, forms) == expected
        rng = random.Random(language)
        sample = sorted(rng.sample(range(count), 40))
        assert tokenizer.locate(value, sample, offsets, forms) == [expected[i] for i in sample]
        assert tokenizer.locate(value, sample, offsets, forms, 10_000) == \
            [expected[i] for i in sample if expected[i][1] <= 10_000]
        assert tokenizer.locate(value, [count + 50], offsets, forms) is None  # not this text's positions
        sample_forms = {expected[i][2] for i in sample}
        assert tokenizer.locate(value, sample, offsets, sample_forms) == [expected[i] for i in sample]
        assert tokenizer.locate(value, sample, offsets[1:], sample_forms) != [expected[i] for i in sample]


def test_highlights_come_from_a_document_cached_for_the_searcher(engine):
    """Showing a document again reuses its decoded texts until the index changes."""
    builder = QueryBuilder(engine.schema)
    engine.search(builder.parse("diritto"), page=1, per_page=10)
    cache = engine._local.document_cache
    searcher = engine.searcher()
    assert cache["__searcher__"] is searcher and len(cache) > 1
    first = engine.search(builder.parse("человек"), page=1, per_page=10)
    assert engine._local.document_cache is cache
    assert all(h.highlights for h in first.hits)
    size_limit = engine.DOCUMENT_CACHE_CHARS
    try:
        engine.DOCUMENT_CACHE_CHARS = 10  # bounded by the length of the texts: keeps only the newest
        engine._local.__dict__.pop("document_cache")
        engine.search(builder.parse("diritto"), page=1, per_page=10)
        assert len(engine._local.document_cache) == 2  # the marker and one document
        assert [h.highlights for h in engine.search(builder.parse("человек"), page=1, per_page=10).hits] == \
            [h.highlights for h in first.hits]
    finally:
        engine.DOCUMENT_CACHE_CHARS = size_limit
