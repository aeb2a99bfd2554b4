"""The search page, and the "similar proposals" box of the document page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_login import current_user, login_required

from docmgr.accounts import permissions
from docmgr.documents.services import documents_by_ids, file_languages, list_organizations, list_task_force_sessions
from docmgr.errors import DocmgrError
from docmgr.extensions import db
from docmgr.search import services
from docmgr.search.api import filters_from_args
from docmgr.vocab import KINDS, SECTORS
from docmgr.web import form_error

bp = Blueprint("search", __name__)

PER_PAGE = 20


@bp.get("/search")
@login_required
def search_page():
    actor = current_user._get_current_object()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    error, result = None, None
    try:
        result = services.search(
            db.session, actor, request.args.get("q", ""), filters_from_args(), page=page, per_page=PER_PAGE,
            sort=request.args.get("sort") or "relevance",
        )
    except DocmgrError as exc:
        error = form_error(exc)
    hit_documents = documents_by_ids(db.session, actor, (hit.document_id for hit in result.hits)) if result else {}
    return render_template(
        "search/search.html", result=result, error=error, page=page, per_page=PER_PAGE, args=request.args,
        hit_documents=hit_documents,
        kinds=KINDS, sectors=SECTORS, languages=file_languages(db.session, actor), sessions=list_task_force_sessions(db.session),
        organizations=list_organizations(db.session) if permissions.sees_everything(actor) else [],
    ), (error and 422) or 200


def facet_url(name: str, value: str | None) -> str:
    """The current search with one facet filter set (or removed when ``value`` is None)."""
    parameter = {"organization": "organization_id", "session": "session_id"}.get(name, name)
    args = {k: v for k, v in request.args.items() if k not in ("page", parameter)}
    if value is not None:
        args[parameter] = value
    return url_for("search.search_page", **args)


@bp.app_context_processor
def _search_helpers() -> dict[str, Any]:
    def similar_documents(document) -> list[services.SimilarDocument]:
        """For the document page; never lets a search problem break the page."""
        try:
            return services.similar_documents(db.session, current_user._get_current_object(), document.id)
        except Exception:  # noqa: BLE001 - the page shows without the box
            return []

    return {"similar_documents": similar_documents, "search_facet_url": facet_url}
