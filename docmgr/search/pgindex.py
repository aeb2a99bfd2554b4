"""An :class:`IndexEntry` as a row of ``search_entries``: its columns, and its ``tsv`` built from the very
tokens Whoosh indexes (:func:`docmgr.search.schema.entry_fields` and the schema's analyzers), weighted by
field (see :mod:`docmgr.search.pgschema`).

Positions: titles and labels first (1 … ``HEAD_SPAN``), the files' texts after them, so that phrases in
titles always work; PostgreSQL keeps positions up to 16,383, so a phrase deeper than about 14,000 words into
a text is found as its words (AND) only, and at most 255 positions are kept per word.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from whoosh.fields import Schema

from docmgr.search.pgquery import lexeme
from docmgr.search.pgschema import NAME_PREFIX, ORG_PREFIX
from docmgr.search.schema import IndexEntry, build_schema, entry_fields
from docmgr.search.text import HEAD_POSITION, TITLE_BOOST

HEAD_SPAN = 2000  # positions for titles and labels
MAX_POSITION = 16383  # PostgreSQL's limit
NAMES_POSITION = MAX_POSITION  # name skeletons (weight C) have no useful positions: one reserved slot
TEXT_LAST = MAX_POSITION - 1
MAX_POSITIONS_PER_LEXEME = 255

COLUMNS = ("uid", "object_key", "doctype", "object_id", "title_it", "title_ru", "kind", "sectors", "langs",
           "organization_id", "readers", "session_id", "year", "created", "stamp", "payload", "tsv")


def tsvector_text(schema: Schema, fields: dict[str, Any]) -> str:
    """The tsvector input text of one entry's Whoosh fields."""
    positions: dict[str, dict[int, str]] = defaultdict(dict)
    body = fields.get("body", "")
    if body:
        for token in schema["body"].analyzer(body, positions=True, mode="index"):
            if not token.text:
                continue
            if token.pos >= HEAD_POSITION:
                position = min(token.pos - HEAD_POSITION + 1, HEAD_SPAN)
                weight = "A" if token.boost == TITLE_BOOST else "B"
            else:
                position = min(token.pos + HEAD_SPAN + 1, TEXT_LAST)
                weight = "D"
            found = positions[token.text]
            if len(found) < MAX_POSITIONS_PER_LEXEME and (position not in found or weight < found[position]):
                found[position] = weight
    for fieldname, prefix in (("names", NAME_PREFIX), ("org", ORG_PREFIX)):
        value = fields.get(fieldname, "")
        if value:
            for token in schema[fieldname].analyzer(value, mode="index"):
                if token.text:
                    positions[prefix + token.text][NAMES_POSITION] = "C"
    return " ".join(
        lexeme(word) + ":" + ",".join(f"{p}{w}" for p, w in sorted(found.items()))
        for word, found in positions.items()
    )


def entry_row(schema: Schema, entry: IndexEntry) -> dict[str, Any]:
    """The column values of one entry."""
    fields = entry_fields(entry)
    return {
        "uid": entry.uid, "object_key": entry.object_key, "doctype": entry.doctype, "object_id": entry.object_id,
        "title_it": entry.title_it, "title_ru": entry.title_ru, "kind": entry.kind,
        "sectors": sorted({s.lower() for s in entry.sectors if s}), "langs": sorted({s.lower() for s in entry.languages if s}),
        "organization_id": entry.organization_id, "readers": sorted(set(entry.reader_org_ids)),
        "session_id": entry.session_id, "year": fields["year"], "created": fields["created"], "stamp": entry.stamp,
        "payload": fields["payload"], "tsv": tsvector_text(schema, fields),
    }


_child_schema: Schema | None = None


def entry_rows(entries: list[IndexEntry]) -> list[dict[str, Any]]:
    """The rows of a chunk of entries, in a worker process of a parallel rebuild (its own analyzers, built
    once per process)."""
    global _child_schema
    if _child_schema is None:
        _child_schema = build_schema()
    return [entry_row(_child_schema, entry) for entry in entries]


def payload_json(raw: str | None) -> dict[str, Any]:
    return json.loads(raw) if raw else {}
