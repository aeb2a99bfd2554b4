"""Facet counts over the matching documents: by set intersections when they are few, by one pass
over the matches (docnum → value, cached per searcher) when they are many."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from whoosh import query as wq
from whoosh.searching import Searcher

FACET_FIELDS = {"kind": "kind", "sector": "sector", "language": "lang", "organization": "organization_id",
                "session": "session_id", "year": "year"}


class Facets:
    """The facet part of :class:`docmgr.search.engine.WhooshEngine`."""

    schema: Any
    _local: Any
    searcher: Callable[[], Searcher | None]

    def _term_docs(self, searcher: Searcher, fieldname: str) -> dict[str, frozenset[int]]:
        """term → docnums for a facet field, cached while the searcher is unchanged."""
        cache = self._local.facet_cache
        if fieldname not in cache:
            reader = searcher.reader()
            fieldobj = self.schema[fieldname]
            docs = {}
            for btext in reader.lexicon(fieldname):
                text = fieldobj.from_bytes(btext)
                docs[text] = frozenset(searcher.docs_for_query(wq.Term(fieldname, text)))
            cache[fieldname] = docs
        return cache[fieldname]

    # Below this many matches facets are counted by set intersections, one per facet value; above
    # it, by looking up each matching document's values (two hundred organisations make hundreds
    # of intersections, where one pass over the matches does).
    FACETS_BY_DOCUMENT_ABOVE = 2000

    def _facets(self, searcher: Searcher, matched: set[int]) -> dict[str, dict[str, int]]:
        facets: dict[str, dict[str, int]] = {}
        for name, fieldname in FACET_FIELDS.items():
            if len(matched) > self.FACETS_BY_DOCUMENT_ABOVE:
                counts = Counter()
                for values, count in Counter(map(self._doc_values(searcher, fieldname).__getitem__, matched)).items():
                    if isinstance(values, str):
                        counts[values] += count
                    elif values:
                        for value in values:
                            counts[value] += count
            else:
                counts = {}
                for value, docs in self._term_docs(searcher, fieldname).items():
                    count = len(matched & docs) if len(docs) < len(matched) else len(docs & matched)
                    if count:
                        counts[value] = count
            facets[name] = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
        return facets

    def _doc_values(self, searcher: Searcher, fieldname: str) -> list[str | tuple[str, ...] | None]:
        """docnum → the value of one facet field (a tuple when it has several, None when none),
        cached while the searcher is unchanged. Counting strings, whose hash is cached, is what
        makes one pass over the matches cheap."""
        cache = self._local.facet_cache
        key = ("by document", fieldname)
        if key not in cache:
            by_doc: list[tuple[str, ...]] = [()] * searcher.doc_count_all()
            for value, docs in self._term_docs(searcher, fieldname).items():
                for docnum in docs:
                    by_doc[docnum] += (value,)
            cache[key] = [values[0] if len(values) == 1 else values or None for values in by_doc]
        return cache[key]

    def per_searcher(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, remembered while the index is unchanged (per thread, with the searcher)."""
        if self.searcher() is None:
            return compute()
        cache = self._local.facet_cache
        if ("per searcher", key) not in cache:
            cache[("per searcher", key)] = compute()
        return cache[("per searcher", key)]
