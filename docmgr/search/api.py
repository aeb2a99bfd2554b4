"""/api/v1 endpoints of the search module: full-text search and similar documents."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from docmgr.api import acting_user, documented, int_arg, page_args
from docmgr.extensions import db
from docmgr.search import serializers as ser
from docmgr.search import services

bp = Blueprint("search_api", __name__)

# Built once: a schema is stateless once made, and making one (copying its declared fields, nested ones
# included) cost a search request about as much as dumping its ten hits.
RESULT_SCHEMA = ser.SearchResultSchema()
SIMILAR_SCHEMA = ser.SimilarListSchema()


def filters_from_args() -> services.SearchFilters:
    """The filter parameters shared by the API and the page (422 naming the field when wrong)."""
    return services.SearchFilters(
        kind=request.args.get("kind") or None, sector=request.args.get("sector") or None,
        language=request.args.get("language") or None, organization_id=int_arg("organization_id"),
        session_id=int_arg("session_id"), date_from=services.parse_date(request.args.get("date_from"), "date_from"),
        date_to=services.parse_date(request.args.get("date_to"), "date_to"),
    ).validate()


@bp.get("/search")
@documented({200: ser.SearchResultSchema}, query=ser.SearchQuery)
def search():
    actor = acting_user()
    page, per_page = page_args()
    result = services.search(
        db.session, actor, request.args.get("q", ""), filters_from_args(), page=page, per_page=per_page,
        sort=request.args.get("sort") or "relevance",
    )
    return jsonify(RESULT_SCHEMA.dump(result))


@bp.get("/documents/<int:document_id>/similar")
@documented({200: ser.SimilarListSchema}, query=ser.SimilarQuery)
def similar(document_id: int):
    actor = acting_user()
    limit = int_arg("limit", 5, maximum=20)
    items = services.similar_documents(db.session, actor, document_id, limit=limit)
    return jsonify(SIMILAR_SCHEMA.dump({"items": items}))
