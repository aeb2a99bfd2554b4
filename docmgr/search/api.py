"""/api/v1 endpoints of the search module: full-text search and similar documents."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from docmgr.api import acting_user, int_arg, iso, page_args
from docmgr.extensions import db
from docmgr.search import services
from docmgr.search.engine import EngineHit

bp = Blueprint("search_api", __name__)


def hit_json(hit: EngineHit) -> dict[str, Any]:
    return {
        "document_id": hit.document_id, "title_it": hit.title_it, "title_ru": hit.title_ru, "kind": hit.kind,
        "score": hit.score, "highlights": [str(h) for h in hit.highlights],
        "doctype": hit.doctype, "agreement_id": hit.agreement_id,
        "draft_id": hit.object_id if hit.doctype == "draft" else None,
        "organization_id": hit.organization_id, "organization": hit.organization, "sectors": hit.sectors,
        "languages": hit.languages, "session_id": hit.session_id, "created_at": iso(hit.created_at),
        "file_id": hit.file_id, "snippet_language": hit.snippet_language,
    }


def filters_from_args() -> services.SearchFilters:
    """The filter parameters shared by the API and the page (422 naming the field when wrong)."""
    return services.SearchFilters(
        kind=request.args.get("kind") or None, sector=request.args.get("sector") or None,
        language=request.args.get("language") or None, organization_id=int_arg("organization_id"),
        session_id=int_arg("session_id"), date_from=services.parse_date(request.args.get("date_from"), "date_from"),
        date_to=services.parse_date(request.args.get("date_to"), "date_to"),
    ).validate()


@bp.get("/search")
def search():
    actor = acting_user()
    page, per_page = page_args()
    result = services.search(
        db.session, actor, request.args.get("q", ""), filters_from_args(), page=page, per_page=per_page,
        sort=request.args.get("sort") or "relevance",
    )
    return jsonify({
        "total": result.total, "page": result.page, "per_page": result.per_page,
        "hits": [hit_json(hit) for hit in result.hits], "facets": result.facets, "facet_labels": result.labels,
    })


@bp.get("/documents/<int:document_id>/similar")
def similar(document_id: int):
    actor = acting_user()
    limit = int_arg("limit", 5, maximum=20)
    items = services.similar_documents(db.session, actor, document_id, limit=limit)
    return jsonify({"items": [
        {**hit_json(item.hit), "score": item.score, "same_sector": item.same_sector,
         "other_organization": item.other_organization}
        for item in items
    ]})
