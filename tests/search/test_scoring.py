"""The engine's own top-N scoring ranks and scores exactly as Whoosh's BM25F collector would."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from docmgr.search.engine import IndexEntry, WhooshEngine
from docmgr.search.query import QueryBuilder, bound_expansions
from docmgr.search.text import BODY, HEAD_POSITION, analyze, body_value, language_analyzer
from tests.conftest import CORPUS


def _sentences(name: str) -> list[str]:
    text = (CORPUS / "text" / name).read_text(encoding="utf-8")
    return [line.strip() for line in text.split(".") if len(line.split()) >= 4]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    rng = random.Random(7)
    it, ru = _sentences("PUD_it.txt"), _sentences("PUD_ru.txt")
    engine = WhooshEngine(tmp_path_factory.mktemp("index"))

    def entries(first: int, count: int):
        for i in range(first, first + count):
            yield IndexEntry(
                uid=f"document:{i}", object_key=f"document:{i}", doctype="document", object_id=i, document_id=i,
                created_at=datetime(2020, 1, 1, tzinfo=UTC), title_it=" ".join(rng.choice(it).split()[:6]),
                title_ru=" ".join(rng.choice(ru).split()[:6]),
                files=[{"id": i, "language": "it", "text": ". ".join(rng.sample(it, 8))},
                       {"id": -i, "language": "ru", "text": ". ".join(rng.sample(ru, 8))}],
                kind=rng.choice(["proposal", "annex", "agreement"]), organization_id=rng.randint(1, 6),
                organization_names=["Кузнецов и Партнеры"], reader_org_ids=[1], stamp=str(i),
                sectors=rng.sample(["energy", "mechanics", "biotech"], rng.randint(0, 2)),
                languages=rng.sample(["it", "ru"], rng.randint(1, 2)), session_id=rng.choice([None, 1, 2]),
            )

    with engine.drain_lock(blocking=True):
        engine.rebuild(entries(1, 300))
        with engine.writer() as batch:  # a second segment, and deletions in the first
            for entry in entries(290, 40):
                batch.put(entry)
    return engine


QUERIES = ["accordo", "governo presidente", "году", "страны правительство", "accordo OR году", "stato -governo",
           "title:presidente", "text:году", "text:году OR accordo", "text:stat* governo", "kuznetsov",
           "(stato OR paese) anni", "presid*"]


@pytest.mark.parametrize("text", QUERIES)
def test_fast_top_equals_whoosh(engine, text):
    builder = QueryBuilder(engine.schema)
    searcher = engine.searcher()
    assert len(searcher.leaf_searchers()) > 1
    query = bound_expansions(builder.parse(text), searcher.reader()).normalize()
    matched = engine.docset(searcher, query)
    assert matched, text
    assert matched == set(searcher.docs_for_query(query))  # deleted documents left out
    fast = engine._fast_top(searcher, query, matched, 20)
    assert fast is not None
    expected = searcher.search(query, limit=20)
    # Same scores, same documents, same order; equal scores ranked by document number, as Whoosh does.
    assert [(round(h.score, 5), h.docnum) for h in fast] == [(round(h.score, 5), h.docnum) for h in expected]


@pytest.mark.parametrize("text", ["", "accordo", "году", "stato -governo", "kind:annex"])
def test_facets_counted_per_document_equal_facets_by_intersection(engine, text, monkeypatch):
    searcher = engine.searcher()
    query = QueryBuilder(engine.schema).parse(text).normalize()
    matched = engine.docset(searcher, query)
    assert matched, text
    monkeypatch.setattr(engine, "FACETS_BY_DOCUMENT_ABOVE", 10**9)
    by_intersection = engine._facets(searcher, matched)
    monkeypatch.setattr(engine, "FACETS_BY_DOCUMENT_ABOVE", 0)
    by_document = engine._facets(searcher, matched)
    assert by_document == by_intersection
    assert len(by_document["organization"]) > 1 and len(by_document["sector"]) > 1  # several values, some multi
    assert sum(by_document["kind"].values()) == len(matched)


def test_phrases_are_left_to_whoosh(engine):
    searcher = engine.searcher()
    query = QueryBuilder(engine.schema).parse('"governo italiano"').normalize()
    assert engine._fast_top(searcher, query, {0, 1}, 10) is None


def test_body_puts_texts_first_weighs_titles_and_keeps_phrases_inside_one_part():
    analyzer = language_analyzer(BODY)
    value = body_value(["parigi è lontana", "Соглашение о ёлках"], ["Accordo quadro"], ["Sessione di Roma"])
    tokens = [(t.text, t.pos, t.boost) for t in analyzer(value, positions=True, mode="index")]
    assert tokens[:2] == [("parig", 0, 1.0), ("lontan", 1, 1.0)]
    assert [t[0] for t in tokens[2:4]] == analyze(language_analyzer("ru"), "Соглашение ёлках")
    assert tokens[2][1] > 1 + 50 and tokens[3][1] == tokens[2][1] + 1  # a gap between parts, none inside
    assert tokens[3][1] < HEAD_POSITION
    assert tokens[4:6] == [("accord", HEAD_POSITION, 3.0), ("quadr", HEAD_POSITION + 1, 3.0)]
    assert [(t[0], t[2]) for t in tokens[6:]] == [("session", 1.0), ("rom", 1.0)]
    assert tokens[6][1] > HEAD_POSITION + 1 + 50
    assert analyze(analyzer, "accordo di Parigi") == ["accord", "parig"]  # both languages' stop words


@pytest.mark.parametrize("uid", ["document:3", "document:150", "document:295", "document:320"])
def test_similar_documents_rank_and_score_as_whoosh_collector(engine, uid, monkeypatch):
    """"Similar documents" by the engine's set algebra and loops: the same list and scores as Whoosh's own
    collector (what the engine falls back to), within a filter, never the document itself."""
    from whoosh import query as wq

    within = wq.And([wq.Term("kind", "proposal"), wq.Not(wq.Term("organization_id", "2"))])
    fast = [(hit.uid, round(score, 9)) for hit, score in engine.more_like_this(uid, filter_query=within, top=20)]
    monkeypatch.setattr(WhooshEngine, "_fast_top", lambda *args: None)
    collector = [(hit.uid, round(score, 9)) for hit, score in engine.more_like_this(uid, filter_query=within, top=20)]
    assert fast == collector and len(fast) == 20 and uid not in {found for found, _ in fast}
