"""Facet counts over the matching documents: by set intersections when they are few, by counting
the matches' values with numpy (docnum → value codes, cached per searcher) when they are many."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from whoosh import query as wq
from whoosh.searching import Searcher

if TYPE_CHECKING:
    import numpy as np


@functools.cache
def _numpy():
    """numpy, imported on the first count over many matches, not with the module: the upload sandbox's fork
    server imports the search package, and numpy's BLAS buffers in every extraction child would eat into its
    256 MB address-space limit (a memory bomb is then reported as a damaged file instead of too complex)."""
    return importlib.import_module("numpy")


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
        many = len(matched) > self.FACETS_BY_DOCUMENT_ABOVE
        docnums = _numpy().fromiter(matched, dtype="int64", count=len(matched)) if many else None
        for name, fieldname in FACET_FIELDS.items():
            if docnums is not None:
                counts = self._doc_values(searcher, fieldname).count(docnums)
            else:
                counts = {}
                for value, docs in self._term_docs(searcher, fieldname).items():
                    count = len(matched & docs) if len(docs) < len(matched) else len(docs & matched)
                    if count:
                        counts[value] = count
            facets[name] = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
        return facets

    def _doc_values(self, searcher: Searcher, fieldname: str) -> FacetColumn:
        """docnum → the values of one facet field, cached while the searcher is unchanged."""
        cache = self._local.facet_cache
        key = ("by document", fieldname)
        if key not in cache:
            cache[key] = FacetColumn(self._term_docs(searcher, fieldname), searcher.doc_count_all())
        return cache[key]

    def per_searcher(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, remembered while the index is unchanged (per thread, with the searcher)."""
        if self.searcher() is None:
            return compute()
        cache = self._local.facet_cache
        if ("per searcher", key) not in cache:
            cache[("per searcher", key)] = compute()
        return cache[("per searcher", key)]


class FacetColumn:
    """One facet field's values by docnum, counted for a set of docnums in one numpy pass. A field with one
    value per document (kind, organisation, session, year) is a column of value codes (0: none) counted by
    ``bincount``; a field with several (sectors, languages) is a matrix value × docnum of 0/1 summed over
    the docnums' columns."""

    def __init__(self, term_docs: dict[str, frozenset[int]], doc_count: int):
        np = _numpy()
        self.values = sorted(term_docs)
        per_doc = np.zeros(doc_count, dtype=np.int32)
        for docs in term_docs.values():
            per_doc[np.fromiter(docs, dtype=np.int64, count=len(docs))] += 1
        self.single = bool(per_doc.max(initial=0) <= 1)
        if self.single:
            self.codes = np.zeros(doc_count, dtype=np.int32)
            for code, value in enumerate(self.values, start=1):
                docs = term_docs[value]
                self.codes[np.fromiter(docs, dtype=np.int64, count=len(docs))] = code
        else:
            self.matrix = np.zeros((len(self.values), doc_count), dtype=np.uint8)
            for row, value in enumerate(self.values):
                docs = term_docs[value]
                self.matrix[row, np.fromiter(docs, dtype=np.int64, count=len(docs))] = 1

    def count(self, docnums: np.ndarray) -> dict[str, int]:
        """value → how many of ``docnums`` have it (values no docnum has are left out)."""
        np = _numpy()
        if self.single:
            counts = np.bincount(self.codes[docnums], minlength=len(self.values) + 1)[1:]
        else:
            counts = self.matrix[:, docnums].sum(axis=1, dtype=np.int64)
        return {self.values[i]: int(counts[i]) for i in np.flatnonzero(counts)}
