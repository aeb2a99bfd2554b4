"""Saved searches: a user keeps a query and its filters under a name (own list: save, rename, delete), and may ask
for a daily e-mail of the new matches.

A saved search stores what the user typed, never results: running it, and its digest, search afresh *as that user*
through :func:`docmgr.search.services.search`, whose permission filter is the one every search uses, so a digest
lists only what its owner may read today. The digest is a periodic job that queues one ``search.digests`` task
(durable in the outbox); the task mails each owner their new matches (newer than the last digest) and moves the
mark, in one transaction with the recorded message.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import current_app
from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docmgr.accounts.models import User
from docmgr.audit.services import record
from docmgr.database import utcnow
from docmgr.errors import Conflict, DocmgrError, Invalid, NotFound
from docmgr.extensions import db
from docmgr.mail.services import compose_for_user
from docmgr.saved_searches.models import SavedSearch
from docmgr.search import services

log = logging.getLogger(__name__)

DIGEST_TASK = "search.digests"
MAX_PER_USER = 100
MAX_NAME = 200
MAX_QUERY = 500
DIGEST_MAX_HITS = 50
# The filters a saved search may carry: the search API's own parameters.
FILTER_NAMES = ("kind", "sector", "language", "organization_id", "session_id", "date_from", "date_to")


def search_filters(filters: dict[str, Any]) -> services.SearchFilters:
    """The stored filters as the search takes them (422 naming the field when a value is wrong)."""
    def whole(name: str) -> int | None:
        value = filters.get(name)
        if value in (None, ""):
            return None
        if isinstance(value, bool) or not str(value).isdigit() or int(value) < 1:
            raise Invalid(gettext("'%(field)s' must be a whole number.", field=name), field=name)
        return int(value)

    def text(name: str) -> str | None:
        value = filters.get(name)
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            raise Invalid(gettext("'%(field)s' must be a string.", field=name), field=name)
        return value

    return services.SearchFilters(
        kind=text("kind"), sector=text("sector"), language=text("language"),
        organization_id=whole("organization_id"), session_id=whole("session_id"),
        date_from=services.parse_date(text("date_from"), "date_from"),
        date_to=services.parse_date(text("date_to"), "date_to"),
    ).validate()


def clean_filters(filters: Any) -> dict[str, Any]:
    """Only known, non-empty filters, checked as a search checks them; unknown names are refused by name."""
    if filters in (None, ""):
        return {}
    if not isinstance(filters, dict):
        raise Invalid(gettext("'filters' must be an object of search filters."), field="filters")
    unknown = sorted(set(filters) - set(FILTER_NAMES))
    if unknown:
        raise Invalid(gettext("Unknown filter: %(name)s.", name=unknown[0]), field=unknown[0], code="unknown_field")
    search_filters(filters)
    return {name: filters[name] for name in FILTER_NAMES if filters.get(name) not in (None, "")}


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise Invalid(gettext("Give the saved search a name."), field="name", code="missing_field")
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise Invalid(gettext("The name is too long (at most %(max)d characters).", max=MAX_NAME), field="name")
    return name


def _check_query(query: Any) -> str:
    if query is None:
        return ""
    if not isinstance(query, str):
        raise Invalid(gettext("'%(field)s' must be a string.", field="q"), field="q")
    query = query.strip()
    if len(query) > MAX_QUERY:
        raise Invalid(gettext("The search is too long (at most %(max)d characters).", max=MAX_QUERY), field="q")
    return query


def _check_flag(value: Any, field: str = "digest") -> bool:
    if value in (None, ""):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "on", "yes", "0", "false", "off", "no"):
        return value.lower() in ("1", "true", "on", "yes")
    raise Invalid(gettext("'%(field)s' must be true or false.", field=field), field=field)


def list_saved(session: Session, actor: User) -> list[SavedSearch]:
    """The actor's own saved searches, by name. Nobody sees anyone else's."""
    return list(session.scalars(
        select(SavedSearch).where(SavedSearch.user_id == actor.id).order_by(func.lower(SavedSearch.name), SavedSearch.id)
    ))


def get_saved(session: Session, actor: User, saved_id: int) -> SavedSearch:
    """One of the actor's saved searches; 404 alike for missing and someone else's."""
    saved = session.get(SavedSearch, saved_id)
    if saved is None or saved.user_id != actor.id:
        raise NotFound(gettext("No such saved search."), code="saved_search_not_found")
    return saved


def save_search(session: Session, actor: User, *, name: Any, query: Any = "", filters: Any = None,
                digest: Any = False) -> SavedSearch:
    """Save a query and filters for ``actor`` (every role may keep its own searches, the ministry too)."""
    name, query, filters, digest = _check_name(name), _check_query(query), clean_filters(filters), _check_flag(digest)
    count = session.scalar(select(func.count()).select_from(SavedSearch).where(SavedSearch.user_id == actor.id)) or 0
    if count >= MAX_PER_USER:
        raise Conflict(gettext("You have %(max)d saved searches already; delete one first.", max=MAX_PER_USER),
                       code="too_many_saved_searches")
    now = utcnow()
    saved = SavedSearch(user_id=actor.id, name=name, query=query, filters=filters, digest=digest, digest_since=now,
                        created_at=now, updated_at=now)
    session.add(saved)
    session.flush()
    record(session, actor, "saved_search.created", saved, name=name, query=query, filters=filters, digest=digest)
    return saved


def update_saved(session: Session, actor: User, saved_id: int, *, name: Any = None, digest: Any = None) -> SavedSearch:
    """Rename a saved search, or turn its digest on or off."""
    saved = get_saved(session, actor, saved_id)
    changes: dict[str, Any] = {}
    if name is not None:
        new_name = _check_name(name)
        if new_name != saved.name:
            changes["name"] = [saved.name, new_name]
            saved.name = new_name
    if digest is not None:
        new_digest = _check_flag(digest)
        if new_digest != saved.digest:
            changes["digest"] = [saved.digest, new_digest]
            saved.digest = new_digest
            if new_digest:
                saved.digest_since = utcnow()  # the first digest lists what is new from now on
    if changes:
        saved.updated_at = utcnow()
        record(session, actor, "saved_search.updated", saved, **changes)
    return saved


def delete_saved(session: Session, actor: User, saved_id: int) -> None:
    saved = get_saved(session, actor, saved_id)
    record(session, actor, "saved_search.deleted", saved, name=saved.name)
    session.delete(saved)


def search_args(saved: SavedSearch) -> dict[str, Any]:
    """The search page's query-string arguments of a saved search (for its "run" link)."""
    return {"q": saved.query, **{k: v for k, v in (saved.filters or {}).items() if v not in (None, "")}}


# --- the digest ---------------------------------------------------------------------------------------------------


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_matches(session: Session, saved: SavedSearch) -> list[Any]:
    """Hits of the saved search, searched as its owner (the normal permission filter), added since its mark."""
    since = _as_utc(saved.digest_since)
    result = services.search(session, saved.user, saved.query, search_filters(saved.filters or {}),
                             page=1, per_page=DIGEST_MAX_HITS, sort="date")
    return [hit for hit in result.hits if hit.created_at is not None and _as_utc(hit.created_at) > since]


def send_digests() -> None:
    """The ``search.digests`` task: one e-mail per saved search with digest on and new matches. Idempotent: the
    mark moves with the recorded message, so running it again sends nothing new."""
    session = db.session
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    for saved in session.scalars(select(SavedSearch).where(SavedSearch.digest.is_(True)).order_by(SavedSearch.id)):
        user = saved.user
        if user is None or not user.is_active:
            continue
        try:
            hits = new_matches(session, saved)
        except DocmgrError as error:  # e.g. a filter naming a session since deleted: skip it, tell the log
            log.warning("saved search %s: %s", saved.id, error)
            continue
        now = utcnow()
        if hits:
            compose_for_user(session, "saved_search_digest", user, saved=saved, hits=hits, base_url=base,
                             run_url=_run_url(base, saved))
            record(session, None, "saved_search.digest_sent", saved, hits=len(hits), user_id=user.id)
        saved.digest_since = now
        session.commit()


def _run_url(base: str, saved: SavedSearch) -> str:
    return f"{base}/search?{urlencode(search_args(saved))}"

