"""Turning what a user types into a bounded Whoosh query.

Syntax: words (all must match), ``"exact phrase"``, ``OR``, ``-exclude`` (or ``NOT``), parentheses,
trailing wildcards (``accord*``), and field filters: ``kind:``, ``sector:``, ``lang:``, ``org:``,
``title:``, ``text:``, ``session:``, ``year:``. Every plain word is looked up in the combined field
of both languages (stemmed by its script: the user does not say which language they type in) and
in the cross-script names field; ``text:`` is the same field restricted to the files' texts.

What the parser cannot make sense of falls back to plain words. What would be expensive is refused
with a 422 naming ``q``: very long queries, too many terms, short-prefix or leading wildcards, and
wildcards expanding to too many index terms (checked against the index in :func:`bound_expansions`).
Availability: bare and field-only wildcards (``*``, ``body:*``) and a query whose wildcards together
expand past ``MAX_EXPANSIONS_TOTAL`` answer ``search_too_costly``; the engine's deadline
``search_timeout``.
"""

from __future__ import annotations

import re
from itertools import islice

from flask_babel import gettext
from whoosh import query as wq
from whoosh.fields import TEXT
from whoosh.qparser import (
    FieldAliasPlugin,
    GroupPlugin,
    MultifieldParser,
    OperatorsPlugin,
    PhrasePlugin,
    PlusMinusPlugin,
    SingleQuotePlugin,
    WhitespacePlugin,
)
from whoosh.qparser.plugins import FieldsPlugin, WildcardPlugin
from whoosh.qparser.syntax import AndGroup
from whoosh.query.spans import SpanNear2

from docmgr.errors import Invalid
from docmgr.search.engine import InText
from docmgr.search.text import BODY, analyze, fold, language_analyzer, plain_analyzer

MAX_QUERY_CHARS = 500
MAX_TERMS = 40
MAX_NESTING = 6
MIN_WILDCARD_PREFIX = 3
MAX_EXPANSIONS_PER_WILDCARD = 200
MAX_EXPANSIONS_TOTAL = 600
# A wildcard standing alone, bare or after a field name: `*`, `body:*`, `(title:?*)`.
_UNANCHORED_WILDCARD = re.compile(r"(?:^|[\s(+-])(?:\w+:)?[*?]+(?=$|[\s)])")

# Plain words search these: the combined field (titles, texts and meta of both languages, see
# docmgr.search.engine.build_schema) and the cross-script names.
DEFAULT_FIELDS = ("body", "names")
# Fields a user may name. `title:` is fanned out to both languages' titles; `text:` is InText(body).
USER_FIELDS = {"body", "title_it", "title_ru", "meta", "names", "org", "kind", "sector", "lang", "session_id",
               "year", "organization_id"}
NO_POSITIONS = {"names", "org"}  # skeleton fields: phrases become AND, wildcards are skipped
PSEUDO_FIELDS = {"title": ("title_it", "title_ru"), "text": (BODY,)}  # `text:` is InText(body)
ALIASES = {"lang": ["language", "lingua", "язык"], "sector": ["sectors", "settore"], "session_id": ["session"],
           "org": ["organization", "organisation", "organizzazione"], "kind": ["tipo"]}

_ANALYZERS = {"title_it": language_analyzer("it"), "title_ru": language_analyzer("ru"), BODY: language_analyzer(BODY)}


def _parse_schema(index_schema):
    schema = index_schema.copy()
    for name in list(schema.names()):
        if name not in USER_FIELDS:
            schema.remove(name)
    for name in PSEUDO_FIELDS:
        schema.add(name, TEXT(analyzer=plain_analyzer()))
    return schema


class QueryBuilder:
    """Parses user queries against one index schema."""

    def __init__(self, index_schema):
        self.index_schema = index_schema
        self.schema = _parse_schema(index_schema)
        plugins = [WhitespacePlugin(), SingleQuotePlugin(), FieldsPlugin(), WildcardPlugin(), PhrasePlugin(),
                   GroupPlugin(), OperatorsPlugin(), PlusMinusPlugin(), FieldAliasPlugin(ALIASES)]
        self.parser = MultifieldParser(list(DEFAULT_FIELDS), self.schema, group=AndGroup, plugins=plugins)

    # --- parsing -----------------------------------------------------------------------------------

    def parse(self, text: str | None) -> wq.Query:
        """The query for ``text`` (``Every`` when blank). Raises ``Invalid`` (field ``q``) for
        queries too long or too broad to run."""
        text = (text or "").strip()
        if not text:
            return wq.Every()
        if len(text) > MAX_QUERY_CHARS:
            raise Invalid(gettext("The search is too long: at most %(num)s characters.", num=MAX_QUERY_CHARS), field="q",
                          code="query_too_long")
        words = re.findall(r"\w+", text)
        if len(words) > MAX_TERMS:
            raise Invalid(gettext("The search has too many words: at most %(num)s.", num=MAX_TERMS), field="q",
                          code="too_many_terms")
        if _UNANCHORED_WILDCARD.search(text) or (not words and re.search(r"[*?]", text)):
            raise _too_costly()  # `*`, `body:*`, `names:?*`: a wildcard with nothing to anchor it
        if not words:
            return wq.NullQuery
        parsed = None
        if _nesting(text) <= MAX_NESTING:
            try:
                parsed = self._rewrite(self.parser.parse(text))
            except Invalid:
                raise
            except Exception:  # noqa: BLE001 - whatever the parser chokes on falls back to plain words
                parsed = None
        if parsed is None or parsed is wq.NullQuery or not _has_positive_terms(parsed):
            parsed = self.plain(words)
        return parsed

    def plain(self, words: list[str]) -> wq.Query:
        """All words must match, each in any default field: the fallback for unparseable input."""
        return self._rewrite(self.parser.parse(" ".join(word.lower() for word in words)))

    def _rewrite(self, query: wq.Query) -> wq.Query:
        """Fan pseudo-fields out to both languages, fold and check wildcards, map `org:12` to the id."""
        if isinstance(query, wq.Every):  # `body:*`, `text:*`: would walk every word of the field
            raise _too_costly()
        if isinstance(query, (wq.Wildcard, wq.Prefix)):
            return self._wildcard(query)
        if isinstance(query, (wq.Term, wq.Phrase)) and query.fieldname in PSEUDO_FIELDS:
            return self._fan_out(query)
        if isinstance(query, wq.Phrase) and query.fieldname in NO_POSITIONS:
            return wq.And([wq.Term(query.fieldname, word) for word in query.words])
        if isinstance(query, wq.Term) and query.fieldname == "org" and str(query.text).isdigit():
            return wq.Or([query, wq.Term("organization_id", str(query.text))])
        if isinstance(query, wq.Term) and query.fieldname in ("kind", "sector", "lang", "session_id", "year"):
            return wq.Term(query.fieldname, fold(str(query.text).lower()), boost=query.boost)
        if isinstance(query, (wq.FuzzyTerm, wq.TermRange, wq.NumericRange, wq.Regex)):
            raise Invalid(gettext("This kind of search is not supported; use words, phrases, OR and -word."), field="q",
                          code="unsupported_query")
        return query.apply(self._rewrite) if query.is_leaf() is False else query

    def _fan_out(self, query: wq.Query) -> wq.Query:
        alternatives = []
        in_text = query.fieldname == "text"
        for fieldname in PSEUDO_FIELDS[query.fieldname]:
            analyzer = _ANALYZERS[fieldname]
            if isinstance(query, wq.Phrase):
                words = [w for word in query.words for w in analyze(analyzer, word)]
                if len(words) > 1 and in_text:  # positions are what InText checks: a span query
                    alternatives.append(SpanNear2([wq.Term(fieldname, w) for w in words], slop=query.slop))
                elif len(words) > 1:
                    alternatives.append(wq.Phrase(fieldname, words, slop=query.slop))
                elif words:
                    alternatives.append(wq.Term(fieldname, words[0]))
            else:
                alternatives += [wq.Term(fieldname, w) for w in analyze(analyzer, str(query.text))]
        if in_text:
            alternatives = [InText(alternative) for alternative in alternatives]
        return wq.Or(alternatives) if alternatives else wq.NullQuery

    def _wildcard(self, query: wq.Query) -> wq.Query:
        pattern = fold(str(query.text).lower())
        literal = re.split(r"[*?]", pattern, maxsplit=1)[0] if isinstance(query, wq.Wildcard) else pattern
        if not re.search(r"\w", pattern):  # `names:*`, `body:?*`: the whole field
            raise _too_costly()
        if query.fieldname in NO_POSITIONS:
            return wq.NullQuery  # name skeletons are not prefixes of what people type
        if len(literal) < MIN_WILDCARD_PREFIX:
            raise Invalid(
                gettext("A wildcard needs at least %(num)s letters before * or ?.", num=MIN_WILDCARD_PREFIX), field="q",
                code="wildcard_too_broad",
            )
        fieldname = PSEUDO_FIELDS.get(query.fieldname, (query.fieldname,))
        variants = [type(query)(name, pattern) for name in fieldname]
        if query.fieldname == "text":
            variants = [InText(variant) for variant in variants]
        return variants[0] if len(variants) == 1 else wq.Or(variants)


def _too_costly() -> Invalid:
    return Invalid(
        gettext("This search would read too much of the index: give words of at least %(num)s letters before "
                "each *, and fewer wildcards.", num=MIN_WILDCARD_PREFIX),
        field="q", code="search_too_costly",
    )


def _nesting(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(0, depth - 1)
    return deepest


def _has_positive_terms(query: wq.Query) -> bool:
    """False for queries that only exclude (``-word``) or matched nothing parseable."""
    if isinstance(query, wq.Not):
        return False
    if isinstance(query, wq.NullQuery.__class__):
        return False
    if query.is_leaf():
        return True
    if isinstance(query, wq.AndNot):
        return _has_positive_terms(query.a)
    return any(_has_positive_terms(child) for child in query.children())


def _matching_words(node: wq.Query, reader, limit: int) -> list | None:
    """Up to ``limit`` index terms a wildcard matches (None: not a text field), from a Whoosh reader or
    from an engine that lists them itself (``wildcard_terms``, the PostgreSQL backend's lexicon)."""
    if hasattr(reader, "wildcard_terms"):
        pattern = str(node.text) + ("*" if isinstance(node, wq.Prefix) else "")
        return reader.wildcard_terms(node.fieldname, pattern, limit)
    if node.fieldname not in reader.schema or not reader.schema[node.fieldname].format:
        return None
    fieldobj = reader.schema[node.fieldname]
    return [fieldobj.from_bytes(b) for b in islice(node._btexts(reader), limit)]


def bound_expansions(query: wq.Query, reader) -> wq.Query:
    """Replace wildcards by the index terms they match, refusing any that match too many, so a
    query's cost is known before it runs. ``reader``: a Whoosh reader, or an engine with
    ``wildcard_terms``."""
    budget = [MAX_EXPANSIONS_TOTAL]

    def expand(node: wq.Query) -> wq.Query:
        if isinstance(node, (wq.Wildcard, wq.Prefix)):
            words = _matching_words(node, reader, MAX_EXPANSIONS_PER_WILDCARD + 1)
            if words is None:
                return wq.NullQuery
            budget[0] -= len(words)
            if len(words) > MAX_EXPANSIONS_PER_WILDCARD:
                raise Invalid(gettext("'%(word)s' matches too many words; type more letters before the *.", word=node.text),
                              field="q", code="wildcard_too_broad")
            if budget[0] < 0:  # the budget is the whole query's, not each wildcard's
                raise _too_costly()
            terms = [wq.Term(node.fieldname, word) for word in words]
            return wq.Or(terms) if terms else wq.NullQuery
        return node if node.is_leaf() else node.apply(expand)

    return expand(query)
