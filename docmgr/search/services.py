"""Search: permission-filtered full-text search with facets, and similar documents.

Searches read the index as it is: they never write it (the worker does, see
:mod:`docmgr.search.indexers`). Indexers live with their models' modules; rebuilding and checking the
index is :mod:`docmgr.search.rebuild`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from datetime import time as dtime

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session
from whoosh import query as wq
from whoosh.query.qcore import QueryError

from docmgr.accounts.models import Organization
from docmgr.documents.models import TaskForceSession
from docmgr.documents.services import check_filter_values, get_document
from docmgr.errors import Invalid
from docmgr.search import indexers
from docmgr.search.engine import EngineHit, SearchTimeout
from docmgr.search.query import bound_expansions
from docmgr.security_log import log_security_event

# --- searching --------------------------------------------------------------------------------------


@dataclass
class SearchFilters:
    kind: str | None = None
    sector: str | None = None
    language: str | None = None
    organization_id: int | None = None
    session_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    def validate(self) -> SearchFilters:
        check_filter_values(kind=self.kind, sector=self.sector, language=self.language)
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise Invalid(gettext("'date_to' cannot be before 'date_from'."), field="date_to")
        return self


def parse_date(value: str | None, field_name: str) -> date | None:
    """An ISO date (YYYY-MM-DD) or None; 422 naming the field otherwise."""
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise Invalid(gettext("'%(field)s' must be a date as YYYY-MM-DD.", field=field_name), field=field_name) from None


SORTS = ("relevance", "date")


@dataclass
class SearchPage:
    total: int
    page: int
    per_page: int
    hits: list[EngineHit]
    facets: dict[str, dict[str, int]]
    labels: dict[str, dict[str, str]]
    query: str = ""


def permission_filter(actor) -> wq.Query | None:
    """The filter query of what ``actor`` may see: None for everything; NullQuery for nothing."""
    if actor.sees_everything:
        return None
    if actor.organization_id is None:
        return wq.NullQuery
    return wq.Term("readers", str(actor.organization_id))


def _filter_query(actor, filters: SearchFilters) -> wq.Query | None:
    parts: list[wq.Query] = []
    allowed = permission_filter(actor)
    if allowed is not None:
        parts.append(allowed)
    if filters.kind:
        parts.append(wq.Term("kind", filters.kind))
    if filters.sector:
        parts.append(wq.Term("sector", filters.sector))
    if filters.language:
        parts.append(wq.Term("lang", filters.language))
    if filters.organization_id:
        parts.append(wq.Term("organization_id", str(filters.organization_id)))
    if filters.session_id:
        parts.append(wq.Term("session_id", str(filters.session_id)))
    if filters.date_from or filters.date_to:
        start = datetime.combine(filters.date_from, dtime.min) if filters.date_from else None
        end = datetime.combine(filters.date_to + timedelta(days=1), dtime.min) - timedelta(microseconds=1) \
            if filters.date_to else None
        parts.append(wq.DateRange("created", start, end))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else wq.And(parts)


def search(
    session: Session, actor, q: str | None, filters: SearchFilters, *, page: int = 1, per_page: int = 20,
    sort: str = "relevance",
) -> SearchPage:
    """One page of what ``actor`` may see matching ``q`` and the filters, with facet counts over
    the same set. Permissions are a filter query inside the search, so totals, hits and facets
    never count what the user may not read."""
    filters.validate()
    if sort not in SORTS:
        raise Invalid(gettext("Sort must be one of %(choices)s.", choices=", ".join(SORTS)), field="sort")
    state = indexers.state()
    query = state.queries.parse(q)
    if permission_filter(actor) is wq.NullQuery or query is wq.NullQuery:
        return SearchPage(0, page, per_page, [], {}, {}, q or "")
    filter_query = _filter_query(actor, filters)
    if not (q or "").strip() and sort == "relevance":
        sort = "date"
    # Availability: every search has a deadline; past it the answer is 422 search_timeout, never a hung worker.
    timeout = current_app.config.get("SEARCH_TIMEOUT_SECONDS") or None
    try:
        try:
            result = state.engine.search(
                query, filter_query=filter_query, page=page, per_page=per_page, sort=sort, rewrite=bound_expansions,
                timeout=timeout,
            )
        except QueryError:  # a structure Whoosh cannot run: search the plain words instead
            result = state.engine.search(
                state.queries.plain(re.findall(r"\w+", q or "")), filter_query=filter_query, page=page,
                per_page=per_page, sort=sort, rewrite=bound_expansions, timeout=timeout,
            )
    except SearchTimeout:
        log_security_event("search_timeout", q=(q or "")[:200])
        raise Invalid(gettext("The search took too long; make it more precise (more letters, fewer OR)."), field="q",
                      code="search_timeout") from None
    return SearchPage(result.total, page, per_page, _visible_scores(actor, result.hits), result.facets,
                      _facet_labels(session, result.facets), q or "")


def shows_scores(actor) -> bool:
    """Relevance scores come from statistics over the whole index, every tenant's documents included: a firm
    would see its own scores move when another firm uploads (a side channel, issue 12). Only users who read
    everything get them; firm users get null."""
    return bool(actor.sees_everything)


def _visible_scores(actor, hits: list[EngineHit]) -> list[EngineHit]:
    return hits if shows_scores(actor) else [replace(hit, score=None) for hit in hits]


def _facet_labels(session: Session, facets: dict[str, dict[str, int]]) -> dict[str, dict[str, str]]:
    """Names for the organisation and session ids of the facets, read from the database once per
    index generation (per searcher): facet ids only change when the index does. A renamed
    organisation shows its new name after the next index change (renaming reindexes its documents)."""
    names = indexers.get_engine().per_searcher("facet labels", lambda: _label_names(session))
    labels: dict[str, dict[str, str]] = {}
    for facet in ("organization", "session"):
        found = {value: names[facet][value] for value in facets.get(facet, {}) if value in names[facet]}
        if found:
            labels[facet] = found
    return labels


def _label_names(session: Session) -> dict[str, dict[str, str]]:
    return {
        "organization": {str(i): name for i, name in session.execute(select(Organization.id, Organization.name))},
        "session": {str(i): name for i, name in session.execute(select(TaskForceSession.id, TaskForceSession.name))},
    }


@dataclass
class SimilarDocument:
    hit: EngineHit
    score: float | None  # None for firm users (see shows_scores)
    same_sector: bool
    other_organization: bool


def similar_documents(session: Session, actor, document_id: int, limit: int = 5) -> list[SimilarDocument]:
    """Proposals most like this document that ``actor`` may see: the seed of matchmaking.

    Candidates are the proposals whose text shares key terms with this one (Bo1 over both
    languages). They are shown in tiers — other organisations in the same sector, then other
    organisations, then the document's own organisation — and by similarity within a tier: a
    firm looking at its proposal wants partners, not its own papers."""
    document = get_document(session, actor, document_id)
    parts: list[wq.Query] = [wq.Term("doctype", "document"), wq.Term("kind", "proposal")]
    allowed = permission_filter(actor)
    if allowed is wq.NullQuery:
        return []
    if allowed is not None:
        parts.append(allowed)
    candidates = indexers.get_engine().more_like_this(f"document:{document.id}", filter_query=wq.And(parts), top=50)
    sectors = set(document.sectors)
    ranked = []
    for hit, score in candidates:
        same_sector = bool(sectors & set(hit.sectors))
        other_org = hit.organization_id != document.organization_id
        ranked.append(SimilarDocument(hit, round(score, 4), same_sector, other_org))
    ranked.sort(key=lambda item: (not item.other_organization, not item.same_sector, -item.score, item.hit.object_id))
    if not shows_scores(actor):
        return [replace(item, hit=replace(item.hit, score=None), score=None) for item in ranked[:limit]]
    return ranked[:limit]
