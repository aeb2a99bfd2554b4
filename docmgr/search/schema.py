"""The index layout: the Whoosh schema, what one entry holds (:class:`IndexEntry`) and how it is
stored (:func:`entry_fields`), what a hit carries (:class:`EngineHit`), and the ``text:`` span
(:class:`InText`) that tells the files' texts from titles and labels in the combined ``body`` field.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from markupsafe import Markup
from whoosh import query as wq
from whoosh.fields import DATETIME, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.query.spans import SpanFirst

from docmgr.search.text import (
    BODY,
    HEAD_POSITION,
    SEGMENT_GAP,
    LanguageTokenizer,
    body_value,
    language_analyzer,
    name_analyzer,
    place_adjective_names,
    proper_names,
)
from docmgr.vocab import CYRILLIC

TEXT_LANGUAGES = ("it", "ru")
TITLE_FIELDS = ("title_it", "title_ru")
HIGHLIGHT_CHARLIMIT = 200_000


# Changes whenever the schema or the analysis changes: it is part of every entry's stamp, so
# `docmgr check` reports an index built by an older version as stale (fix: `docmgr reindex`).
SCHEMA_VERSION = "5"  # 4: Italian gli/gn in skeletons, places behind Russian adjectives; 5: text positions
VERSION_FILE = "schema-version"  # in each generation: the SCHEMA_VERSION that built it


def build_schema() -> Schema:
    it, ru, names = language_analyzer("it"), language_analyzer("ru"), name_analyzer()
    return Schema(
        uid=ID(unique=True, stored=True),  # "document:12", "agreement:5" (latest draft of agreement 5)
        object_key=ID(stored=True),  # "document:12", "draft:33": what the queue calls it
        doctype=ID(stored=True),
        title_it=TEXT(analyzer=it, stored=True, field_boost=3.0),
        title_ru=TEXT(analyzer=ru, stored=True, field_boost=3.0),
        # Organisation, session and file names, kind and sector labels in both languages. One field
        # is enough: stemming goes by script (see docmgr.search.text), only stop words differ.
        meta=TEXT(analyzer=it),
        # What plain words are scored on, and the only field holding the files' texts: texts of both
        # languages, then titles (weighing 3x) and meta, so each word costs one posting list instead
        # of five, and each text word is indexed once (a posting is most of what a rebuild costs).
        # `text:` is this field below HEAD_POSITION (see InText); highlights place the words of the
        # ten hits shown from its positions (see text_positions).
        body=TEXT(analyzer=language_analyzer(BODY)),
        names=TEXT(analyzer=names, phrase=False, field_boost=1.5),  # cross-script skeletons of names
        org=TEXT(analyzer=names, phrase=False),  # organisation names only: the `org:` filter
        kind=ID(stored=True),
        sector=KEYWORD(stored=True, commas=True, lowercase=True),
        lang=KEYWORD(stored=True, commas=True, lowercase=True),
        organization_id=ID(stored=True),
        readers=KEYWORD(stored=True, commas=True),  # organisation ids whose firm users may read it
        session_id=ID(stored=True),
        year=ID(stored=True),  # of the object's own date (IndexEntry.dated_on), else of its upload
        created=DATETIME(stored=True, sortable=True),
        stamp=STORED(),
        payload=STORED(),  # JSON: texts for snippets, file offsets, mixed-script runs, text positions, display names
    )


@dataclass
class IndexEntry:
    """One searchable thing, as plain data. ``stamp`` fingerprints its content (see ``check``)."""

    uid: str
    object_key: str
    doctype: str
    object_id: int
    created_at: datetime
    title_it: str = ""
    title_ru: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)  # {"id", "language" (it|ru|bi), "text", "filename"}
    kind: str = ""
    sectors: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    organization_id: int | None = None
    organization_names: list[str] = field(default_factory=list)
    person_names: list[str] = field(default_factory=list)
    reader_org_ids: list[int] = field(default_factory=list)
    session_id: int | None = None
    session_name: str = ""
    meta: list[str] = field(default_factory=list)  # extra searchable words: labels, file names
    document_id: int | None = None
    agreement_id: int | None = None
    # The object's own date (a document's date, its session's, an agreement's signature): the year facet.
    dated_on: date | None = None
    # Drafts of one agreement share a uid; a lower object_id never replaces a higher one.
    supersedes_by_object_id: bool = False
    stamp: str = ""


@dataclass
class EngineHit:
    uid: str
    doctype: str
    object_id: int
    document_id: int | None
    agreement_id: int | None
    title_it: str
    title_ru: str
    kind: str
    sectors: list[str]
    languages: list[str]
    organization_id: int | None
    organization: str
    session_id: int | None
    created_at: datetime | None
    score: float | None  # None when the reader may not see scores (search.services.shows_scores)
    highlights: list[Markup] = field(default_factory=list)
    file_id: int | None = None
    snippet_language: str | None = None


@dataclass
class EngineResult:
    total: int
    hits: list[EngineHit]
    facets: dict[str, dict[str, int]]


def int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def text_field_language(file: dict[str, Any]) -> str:
    """Which text field holds a file's text: its language for it, ru and bi; for another detected language
    (en, fr, uk…) the field of its script, Russian for Cyrillic, else Italian, so that its words are found."""
    language = file.get("language") or "it"
    if language in (*TEXT_LANGUAGES, "bi"):
        return language
    sample = (file.get("text") or "")[:2000]
    return "ru" if len(CYRILLIC.findall(sample)) * 2 > sum(ch.isalpha() for ch in sample) else "it"


def _join_texts(files: list[dict[str, Any]], language: str) -> tuple[str, list[list[Any]]]:
    """The text of one language field and where each file sits in it ([file_id, start, end])."""
    parts, offsets, position = [], [], 0
    for file in files:
        if text_field_language(file) not in (language, "bi") or not file.get("text"):
            continue
        text = file["text"]
        offsets.append([file.get("id"), position, position + len(text)])
        parts.append(text)
        position += len(text) + 2
    return "\n\n".join(parts), offsets


_CHECKPOINTS = LanguageTokenizer(BODY)


def text_positions(text_it: str, text_ru: str) -> dict[str, list[Any]]:
    """``positions_<lang>``: [the ``body`` position of the text's first word, the number of its
    positions, the character offsets of every ``CHECKPOINT_EVERY``-th one] — how highlights turn the
    positions the index keeps for the query's words into characters without re-reading the text
    (:meth:`docmgr.search.text.LanguageTokenizer.locate`). The texts are the first parts of the
    ``body`` value (see :func:`docmgr.search.text.body_value`): the Russian one starts
    ``SEGMENT_GAP`` positions after the Italian one ends."""
    out: dict[str, list[Any]] = {}
    start = 0
    for language, text in (("it", text_it), ("ru", text_ru)):
        if not text:
            continue
        count, offsets = _CHECKPOINTS.checkpoints(text)
        out["positions_" + language] = [start, count, offsets]
        start += count + SEGMENT_GAP
    return out


def entry_fields(entry: IndexEntry) -> dict[str, Any]:
    """The Whoosh document of an entry."""
    text_it, offsets_it = _join_texts(entry.files, "it")
    text_ru, offsets_ru = _join_texts(entry.files, "ru")
    names = [*entry.organization_names, *entry.person_names]
    names += proper_names(" ".join([entry.title_it, entry.title_ru, text_it[:HIGHLIGHT_CHARLIMIT], text_ru[:HIGHLIGHT_CHARLIMIT]]))
    names += place_adjective_names(" ".join([entry.title_ru, text_ru[:HIGHLIGHT_CHARLIMIT], text_it[:HIGHLIGHT_CHARLIMIT]]))
    meta = " ".join([*entry.organization_names, entry.session_name, *entry.meta])
    payload = {
        "text_it": text_it, "text_ru": text_ru, "offsets_it": offsets_it, "offsets_ru": offsets_ru,
        # Where words mixing Latin and Cyrillic letters are: the one part of finding highlights
        # that costs a scan of the whole text whatever the query, so it is done once, here.
        "mixed_it": LanguageTokenizer.mixed_runs(text_it[:HIGHLIGHT_CHARLIMIT]),
        "mixed_ru": LanguageTokenizer.mixed_runs(text_ru[:HIGHLIGHT_CHARLIMIT]),
        **text_positions(text_it, text_ru),
        "organization": entry.organization_names[0] if entry.organization_names else "",
        "session": entry.session_name, "object_id": entry.object_id, "document_id": entry.document_id,
        "agreement_id": entry.agreement_id,
    }
    created = entry.created_at
    if created.tzinfo is not None:
        created = created.astimezone(UTC).replace(tzinfo=None)
    fields: dict[str, Any] = {
        "uid": entry.uid, "object_key": entry.object_key, "doctype": entry.doctype,
        "title_it": entry.title_it, "title_ru": entry.title_ru,
        "meta": meta, "body": body_value([text_it, text_ru], [entry.title_it, entry.title_ru], [meta]),
        "names": " ".join(names), "org": " ".join(entry.organization_names),
        "kind": entry.kind, "sector": ",".join(entry.sectors), "lang": ",".join(entry.languages),
        "readers": ",".join(str(i) for i in sorted(set(entry.reader_org_ids))),
        "created": created, "year": str((entry.dated_on or created).year), "stamp": entry.stamp,
        # JSON text, not bytes: Whoosh compresses stored fields itself, and pickles (protocol 2)
        # a str in one step where bytes go through a latin-1 round trip (slow for long texts).
        "payload": json.dumps(payload, ensure_ascii=False),
    }
    if entry.organization_id is not None:
        fields["organization_id"] = str(entry.organization_id)
    if entry.session_id is not None:
        fields["session_id"] = str(entry.session_id)
    return {name: value for name, value in fields.items() if value not in ("", None)}


def payload_of(stored: dict[str, Any]) -> dict[str, Any]:
    raw = stored.get("payload")
    if not raw:
        return {}
    return json.loads(zlib.decompress(raw) if isinstance(raw, bytes) else raw)  # bytes: built by older versions


class InText(SpanFirst):
    """``q`` (a word or a span query on ``body``) where it occurs in the files' texts, not in the
    titles and labels: its positions below ``HEAD_POSITION`` (see docmgr.search.text)."""

    boost = 1.0  # Or/And.normalize() multiply their children's boosts (SpanFirst has none: a 500)

    def __init__(self, q: wq.Query):
        super().__init__(q, limit=HEAD_POSITION - 1)

    def children(self):
        return iter([self.q])

    def estimate_size(self, ixreader) -> int:
        return self.q.estimate_size(ixreader)

    def estimate_min_size(self, ixreader) -> int:
        return 0  # every occurrence may be in a title

    def apply(self, fn) -> wq.Query:
        """Wildcard expansion turns the word into ``Or`` of words: keep each one inside."""
        inner = fn(self.q)
        if inner is wq.NullQuery or isinstance(inner, wq.NullQuery.__class__):
            return wq.NullQuery
        if isinstance(inner, wq.Or):
            return wq.Or([InText(child) for child in inner.subqueries], boost=inner.boost)
        return InText(inner)
