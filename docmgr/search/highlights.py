"""Highlights: up to three snippets of a hit's stored text with ``<mark>`` around the words the
query looks for, where the ``body`` field's analysis put them (the index keeps no character offsets:
they would double what a rebuild writes). For a long text, the words' positions come from the index
and the text's checkpoints (stored with it) turn them into characters
(:meth:`docmgr.search.text.LanguageTokenizer.locate`): the cost follows the words found, not the
length of the text. Otherwise the words are found again by a scan of candidates
(:meth:`docmgr.search.text.LanguageTokenizer.find`).
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape
from whoosh import query as wq
from whoosh.highlight import Fragment, PinpointFragmenter

from docmgr.search.schema import HIGHLIGHT_CHARLIMIT, TEXT_LANGUAGES, TITLE_FIELDS, EngineHit
from docmgr.search.text import BODY, LanguageTokenizer


class _MarkFormatter:
    """``<mark>`` around matches, everything else HTML-escaped."""

    @staticmethod
    def format(fragment: Fragment) -> Markup:
        text, index, out = fragment.text, fragment.startchar, []
        for token in sorted(fragment.matches, key=lambda t: (t.startchar, -(t.endchar - t.startchar))):
            if token.startchar < index:
                continue
            out.append(str(escape(text[index:token.startchar])))
            out.append("<mark>" + str(escape(text[token.startchar:token.endchar])) + "</mark>")
            index = token.endchar
        out.append(str(escape(text[index:fragment.endchar])))
        body = "".join(out).replace("\n", " ").strip()
        prefix = "… " if fragment.startchar > 0 else ""
        suffix = " …" if fragment.endchar < len(text) else ""
        return Markup(prefix + body + suffix)


class _Match:
    __slots__ = ("startchar", "endchar", "text")

    def __init__(self, startchar: int, endchar: int, text: str = ""):
        self.startchar, self.endchar, self.text = startchar, endchar, text


_HIGHLIGHT_TOKENIZER = LanguageTokenizer(BODY)


class Highlighting:
    """The highlighting part of :class:`docmgr.search.engine.WhooshEngine`."""

    schema: Any

    @staticmethod
    def _query_terms(query: wq.Query, fieldname: str) -> set[str]:
        """The words the query looks for in one field (positive parts only; negated ones are not
        highlighted). Words looked for in ``body`` count for the title fields too: the analysis is
        the same but for stop words."""
        terms: set[str] = set()
        fieldnames = {fieldname, BODY}

        def walk(node: wq.Query) -> None:
            if isinstance(node, wq.Not):
                return
            if isinstance(node, wq.AndNot):
                walk(node.a)
                return
            if isinstance(node, wq.Term):
                if node.fieldname in fieldnames:
                    terms.add(node.text)
                return
            if isinstance(node, wq.Phrase):
                if node.fieldname in fieldnames:
                    terms.update(node.words)
                return
            for child in node.children():
                walk(child)

        walk(query)
        return terms

    @staticmethod
    def _located(text: str, terms: set[str], positions: dict[str, list[int]],
                 where: list[Any]) -> list[tuple[int, int, str]] | None:
        """The words of one language's text at the ``body`` positions the index keeps for ``terms``
        (``positions``: term → positions in this document), placed by the text's checkpoints
        (``where``, see :func:`docmgr.search.schema.text_positions`); None if they do not fit."""
        start, count, offsets = where
        wanted = [p - start for term in terms for p in positions.get(term, ()) if start <= p < start + count]
        return _HIGHLIGHT_TOKENIZER.locate(text, wanted, offsets, terms, HIGHLIGHT_CHARLIMIT)

    def _highlight(self, query: wq.Query, stored: dict[str, Any], payload: dict[str, Any], result: EngineHit,
                   positions: dict[str, list[int]] | None = None) -> None:
        """Up to three snippets from the best-matching text field, mapped back to the file they
        come from; the highlighted title when only the title matched. ``positions`` (term → its
        ``body`` positions in this document, when the engine read them from its index) spare
        scanning the text for the words."""
        fragmenter = PinpointFragmenter(maxchars=220, surround=70, autotrim=True, charlimit=HIGHLIGHT_CHARLIMIT)
        best: tuple[int, str, list[Fragment]] | None = None
        terms = self._query_terms(query, BODY)
        for language in TEXT_LANGUAGES if terms else ():
            text = payload.get("text_" + language, "")
            # The index keeps no character offsets (they would double what a rebuild writes): the
            # words are placed from their positions and the text's checkpoints, or else found
            # again in the stored text, as the body field analysed them.
            where = payload.get("positions_" + language)
            found = self._located(text, terms, positions, where) if positions is not None and where else None
            if found is None:
                found = _HIGHLIGHT_TOKENIZER.find(text[:HIGHLIGHT_CHARLIMIT], terms, payload.get("mixed_" + language))
            matches = [_Match(start, end, form) for start, end, form in found]
            if not matches:
                continue
            fragments = list(fragmenter.fragment_matches(text, matches))
            fragments.sort(key=lambda f: (-len({m.text for m in f.matches}), -len(f.matches), f.startchar))
            chosen = sorted(fragments[:3], key=lambda f: f.startchar)
            weight = len({m.text for m in matches})
            if best is None or weight > best[0]:
                best = (weight, language, chosen)
        if best is not None:
            _weight, language, fragments = best
            result.highlights = [_MarkFormatter.format(f) for f in fragments]
            result.snippet_language = language
            offsets = payload.get("offsets_" + language, [])
            start = fragments[0].matches[0].startchar if fragments and fragments[0].matches else 0
            for file_id, begin, end in offsets:
                if begin <= start < end:
                    result.file_id = file_id
                    break
            return
        for fieldname in TITLE_FIELDS:
            terms = self._query_terms(query, fieldname)
            title = stored.get(fieldname, "")
            if not terms or not title:
                continue
            analyzer = self.schema[fieldname].analyzer
            matches = [_Match(t.startchar, t.endchar, t.text)
                       for t in analyzer(title, chars=True, mode="index", removestops=False) if t.text in terms]
            if matches:
                result.highlights = [_MarkFormatter.format(Fragment(title, matches, 0, len(title)))]
                result.snippet_language = fieldname[-2:]
                return
