"""Matching and scoring without Whoosh's matcher tree: the documents of a query by set algebra over
cached per-term document sets (:meth:`Scoring.docset`), and the top N by the BM25F score Whoosh
would give them (:meth:`Scoring._fast_top`), read from posting blocks and field-length columns.

It reads private parts of Whoosh 2.7 (the whoosh3 codec's block matcher and length column);
``tests/search/test_scoring.py`` pins its ranks and scores to Whoosh's own collector, so a Whoosh
that changes them fails the tests rather than ranking differently.
"""

from __future__ import annotations

import heapq
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any

from whoosh import query as wq
from whoosh.codec.whoosh3 import LENGTHS_COLUMN
from whoosh.scoring import BM25F
from whoosh.searching import Searcher
from whoosh.util.numeric import byte_to_length

from docmgr.search.schema import InText


class SearchTimeout(Exception):
    """A search ran past its deadline (the caller answers 422 ``search_timeout``)."""


class Scoring:
    """The matching and scoring part of :class:`docmgr.search.engine.WhooshEngine` (caches live in
    ``self._local``, per thread, and are dropped when the searcher changes)."""

    schema: Any
    _local: Any

    TERM_CACHE_SIZE = 4096
    RESTRICT_SCORING_BELOW = 3000

    def _check_deadline(self) -> float | None:
        """Seconds left for this thread's search (None: no deadline); raises once it has passed."""
        deadline = getattr(self._local, "deadline", None)
        if deadline is None:
            return None
        left = deadline - time.monotonic()
        if left <= 0:
            raise SearchTimeout
        return left

    def _term_set(self, searcher: Searcher, fieldname: str, text) -> frozenset[int]:
        """The documents of one term, remembered while the searcher is unchanged (LRU)."""
        cache: OrderedDict = self._local.__dict__.setdefault("term_cache", OrderedDict())
        if cache.get("__searcher__") is not searcher:
            cache.clear()
            cache["__searcher__"] = searcher
        key = (fieldname, text)
        docs = cache.get(key)
        if docs is None:
            fieldobj = self.schema[fieldname] if fieldname in self.schema else None
            if fieldobj is not None and fieldobj.scorable:  # text: the block read scoring reuses
                docs = frozenset(self._postings(searcher, fieldname, text))
                deleted = self._deleted(searcher)
                if deleted:
                    docs -= deleted
            else:
                docs = frozenset(searcher.docs_for_query(wq.Term(fieldname, text)))
            cache[key] = docs
            if len(cache) > self.TERM_CACHE_SIZE:
                cache.move_to_end("__searcher__")  # the marker is not the oldest entry
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        return docs

    def _deleted(self, searcher: Searcher) -> frozenset[int]:
        """The deleted documents still in the segments (their postings remain until a merge)."""

        def compute() -> frozenset[int]:
            deleted: set[int] = set()
            for subsearcher, offset in searcher.leaf_searchers():
                reader = subsearcher.reader()
                if reader.has_deletions():
                    live = set(reader.all_doc_ids())
                    deleted.update(offset + d for d in range(reader.doc_count_all()) if d not in live)
            return frozenset(deleted)

        return self._term_set_like(searcher, "__deleted__", compute)

    def _all_docs(self, searcher: Searcher) -> frozenset[int]:
        return self._term_set_like(searcher, "__all__", lambda: frozenset(searcher.reader().all_doc_ids()))

    def _term_set_like(self, searcher: Searcher, key: Hashable, compute) -> frozenset[int]:
        cache: OrderedDict = self._local.__dict__.setdefault("term_cache", OrderedDict())
        if cache.get("__searcher__") is not searcher:
            cache.clear()
            cache["__searcher__"] = searcher
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    def docset(self, searcher: Searcher, query: wq.Query) -> set[int]:
        """The documents matching ``query``, by set algebra over cached per-term document sets.

        Whoosh's matchers walk every posting of every field in Python; for totals and facets only
        the set is needed, and set operations run in C. Phrases and other positional queries are
        left to Whoosh."""
        self._check_deadline()
        if query is wq.NullQuery or isinstance(query, wq.NullQuery.__class__):
            return set()
        if isinstance(query, wq.Term):
            return set(self._term_set(searcher, query.fieldname, query.text))
        if isinstance(query, wq.Every):
            return set(self._all_docs(searcher))
        if isinstance(query, InText):  # positions are read: remembered, as a word's documents are
            return set(self._term_set_like(searcher, query, lambda: frozenset(searcher.docs_for_query(query))))
        if isinstance(query, (wq.Or, wq.DisjunctionMax)) and not getattr(query, "minmatch", 0):
            result: set[int] = set()
            for child in query.subqueries:
                result |= self.docset(searcher, child)
            return result
        if isinstance(query, wq.And):
            positives = [c for c in query.subqueries if not isinstance(c, wq.Not)]
            negatives = [c.query for c in query.subqueries if isinstance(c, wq.Not)]
            result = self.docset(searcher, positives[0]) if positives else set(self._all_docs(searcher))
            for child in positives[1:]:
                if not result:
                    return result
                result &= self.docset(searcher, child)
            for child in negatives:
                result -= self.docset(searcher, child)
            return result
        if isinstance(query, wq.AndNot):
            return self.docset(searcher, query.a) - self.docset(searcher, query.b)
        if isinstance(query, wq.AndMaybe):
            return self.docset(searcher, query.a)
        if isinstance(query, wq.Not):
            return set(self._all_docs(searcher)) - self.docset(searcher, query.query)
        return set(searcher.docs_for_query(query))

    # --- scoring -----------------------------------------------------------------------------------

    POSTINGS_CACHE_SIZE = 256

    def _fast_top(self, searcher: Searcher, query: wq.Query, matched: set[int], limit: int) -> list[_Hit] | None:
        """The best ``limit`` of ``matched`` by the BM25F score Whoosh would give them, or None for
        queries this does not cover (phrases, wildcards left unexpanded, anything unusual).

        ``matched`` is already known (set algebra in ``docset``), so scoring only needs, per word,
        the posting list's weights and the documents' field lengths: read block by block and summed
        in plain loops, instead of Whoosh's matcher tree calling a scorer per posting per field."""
        scores = self._scores(searcher, query, matched)
        if scores is None:
            return None
        candidates: Iterable[int] = matched
        if len(scores) > limit:
            # Only documents scoring at least the limit-th best score can rank: found on the bare
            # scores (in C), then ordered by (score, docnum) among themselves.
            cutoff = heapq.nlargest(limit, scores.values())[-1]
            if cutoff > 0.0:
                candidates = [docnum for docnum, score in scores.items() if score >= cutoff]
        ranked = heapq.nsmallest(limit, candidates, key=lambda d: (-scores.get(d, 0.0), d))
        return [_Hit(searcher, docnum, scores.get(docnum, 0.0)) for docnum in ranked]

    def _scores(self, searcher: Searcher, node: wq.Query, matched: set[int]) -> dict[int, float] | None:
        """docnum → score of ``node`` for the documents of ``matched`` it matches, as Whoosh scores
        them: a word's BM25F times its boost, summed over the words of ``Or``/``And``/``AndMaybe``,
        the first part of ``AndNot``, nothing for ``Not``; None when a part is not covered."""
        self._check_deadline()
        if isinstance(node, wq.Term):
            scores = self._term_scores(searcher, node.fieldname, node.text, matched)
        elif isinstance(node, InText):  # the inner word's score, where it occurs in the text
            scores = self._scores(searcher, node.q, matched & self.docset(searcher, node))
        elif isinstance(node, wq.Not) or node is wq.NullQuery or isinstance(node, wq.NullQuery.__class__):
            return {}
        elif isinstance(node, wq.AndNot):
            scores = self._scores(searcher, node.a, matched)
        elif isinstance(node, (wq.And, wq.AndMaybe)) or (isinstance(node, wq.Or) and not getattr(node, "minmatch", 0)
                                                         and getattr(node, "scale", None) is None):
            scores = {}
            for child in node.children():
                part = self._scores(searcher, child, matched)
                if part is None:
                    return None
                if not scores:
                    scores = dict(part)
                    continue
                get = scores.get
                for docnum, score in part.items():
                    scores[docnum] = get(docnum, 0.0) + score
        else:
            return None
        if scores is None:
            return None
        boost = getattr(node, "boost", 1.0)
        if boost != 1.0 and scores:
            scores = {docnum: score * boost for docnum, score in scores.items()}
        return scores

    def _term_scores(self, searcher: Searcher, fieldname: str, text, matched: set[int]) -> dict[int, float] | None:
        if fieldname not in self.schema:
            return {}
        fieldobj = self.schema[fieldname]
        if not fieldobj.scorable or not isinstance(searcher.weighting, BM25F):
            return None
        postings = self._postings(searcher, fieldname, text)
        if not postings:
            return {}
        weighting = searcher.weighting
        b = weighting._field_B.get(fieldname, weighting.B)
        k1 = weighting.K1
        norms = self._length_norms(searcher, fieldname, b, k1)
        idf = searcher.idf(fieldname, text) * (k1 + 1)
        return {docnum: idf * weight / (weight + norms[docnum])
                for docnum, weight in postings.items() if docnum in matched}

    def _postings(self, searcher: Searcher, fieldname: str, text) -> dict[int, float]:
        """docnum → weight of one term (deleted documents included: callers intersect), cached."""
        cache: OrderedDict = self._local.__dict__.setdefault("postings_cache", OrderedDict())
        if cache.get("__searcher__") is not searcher:
            cache.clear()
            cache["__searcher__"] = searcher
        key = (fieldname, text)
        found = cache.get(key)
        if found is not None:
            cache.move_to_end(key)
            return found
        btext = self.schema[fieldname].to_bytes(text)
        found = {}
        for subsearcher, offset in searcher.leaf_searchers():
            reader = subsearcher.reader()
            if (fieldname, btext) not in reader:
                continue
            matcher = reader.postings(fieldname, btext)
            while not hasattr(matcher, "_read_ids") and hasattr(matcher, "child"):
                matcher = matcher.child  # deletion filters: ``matched`` has no deleted documents
            if hasattr(matcher, "_read_ids") and hasattr(matcher, "_next_block"):
                while matcher.is_active():  # whole blocks at a time (whoosh3 leaf matcher)
                    matcher._read_ids()
                    matcher._read_weights()
                    if offset:
                        found.update(zip([d + offset for d in matcher._ids], matcher._weights, strict=True))
                    else:
                        found.update(zip(matcher._ids, matcher._weights, strict=True))
                    matcher._next_block()
            else:
                while matcher.is_active():
                    found[matcher.id() + offset] = matcher.weight()
                    matcher.next()
        cache[key] = found
        if len(cache) > self.POSTINGS_CACHE_SIZE:
            cache.move_to_end("__searcher__")  # the marker is not the oldest entry
            cache.popitem(last=False)
        return found

    def _length_norms(self, searcher: Searcher, fieldname: str, b: float, k1: float) -> list[float]:
        """Per docnum, the BM25 length part ``K1 * (1 - B + B * length / average)`` of one field."""
        cache = self._local.__dict__.setdefault("norm_cache", {})
        if cache.get("__searcher__") is not searcher:
            cache.clear()
            cache["__searcher__"] = searcher
        key = (fieldname, b, k1)
        if key not in cache:
            avgfl = searcher.avg_field_length(fieldname) or 1
            norms: list[float] = []
            for subsearcher, _offset in searcher.leaf_searchers():
                for length in _field_lengths(subsearcher.reader(), fieldname):
                    norms.append(k1 * ((1 - b) + b * length / avgfl))
            cache[key] = norms
        return cache[key]


_BYTE_TO_LENGTH = [byte_to_length(i) for i in range(256)]


def _field_lengths(reader, fieldname: str) -> list[int]:
    """Every document's length of one field in one segment, as ``doc_field_length`` gives it (1 when
    unknown, as Whoosh's scorers ask): the whole column at once when it is the whoosh3 one."""
    count = reader.doc_count_all()
    try:
        column = reader._perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
        raw = column._dbfile.get(column._basepos, column._count) if column is not None else b""
    except AttributeError:
        return [reader.doc_field_length(d, fieldname, 1) or 1 for d in range(count)]
    lengths = [_BYTE_TO_LENGTH[byte] or 1 for byte in raw]
    return lengths + [1] * (count - len(lengths))


class _Hit:
    """What ``_hit`` needs of a Whoosh hit."""

    __slots__ = ("searcher", "docnum", "score")

    def __init__(self, searcher: Searcher, docnum: int, score: float):
        self.searcher, self.docnum, self.score = searcher, docnum, score

    def fields(self) -> dict[str, Any]:
        return self.searcher.stored_fields(self.docnum)


class DocSetQuery(wq.Query):
    """Matches a given set of (global) document numbers, scoring nothing: ANDed with a query, it
    makes Whoosh skip straight to those documents."""

    def __init__(self, searcher: Searcher, docnums: set[int]):
        self._by_reader: dict[int, list[int]] = {}
        ordered = sorted(docnums)
        for subsearcher, offset in searcher.leaf_searchers():
            end = offset + subsearcher.doc_count_all()
            self._by_reader[id(subsearcher.reader())] = [d - offset for d in ordered if offset <= d < end]
        self.boost = 1.0

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def is_leaf(self) -> bool:
        return True

    def estimate_size(self, ixreader) -> int:
        return len(self._by_reader.get(id(ixreader), ()))

    def matcher(self, searcher, context=None):
        from whoosh.matching import ListMatcher, NullMatcher

        ids = self._by_reader.get(id(searcher.reader()))
        return ListMatcher(ids, all_weights=0.0) if ids else NullMatcher()
