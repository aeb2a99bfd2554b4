"""/api/v1/saved-searches: each user's own saved searches."""

from __future__ import annotations

from flask import Blueprint, jsonify

from docmgr.api import acting_user, documented, json_body, text_field
from docmgr.extensions import db
from docmgr.saved_searches import serializers as ser
from docmgr.saved_searches import services as saved

bp = Blueprint("saved_searches_api", __name__)


@bp.get("/saved-searches")
@documented({200: ser.SavedSearchListSchema})
def list_saved_searches():
    items = saved.list_saved(db.session, acting_user())
    return jsonify(ser.SavedSearchListSchema().dump({"items": items}))


@bp.post("/saved-searches")
@documented({201: ser.SavedSearchSchema}, body=ser.SavedSearchRequest, errors=(409,))
def save_search():
    actor = acting_user()
    data = json_body(ser.SavedSearchRequest)
    row = saved.save_search(db.session, actor, name=data.get("name"), query=text_field(data, "q", ""),
                            filters=data.get("filters"), digest=data.get("digest", False))
    db.session.commit()
    return jsonify(ser.SavedSearchSchema().dump(row)), 201


@bp.patch("/saved-searches/<int:saved_search_id>")
@documented({200: ser.SavedSearchSchema}, body=ser.SavedSearchUpdateRequest)
def update_saved_search(saved_search_id: int):
    actor = acting_user()
    data = json_body(ser.SavedSearchUpdateRequest)
    row = saved.update_saved(db.session, actor, saved_search_id, name=data.get("name"), digest=data.get("digest"))
    db.session.commit()
    return jsonify(ser.SavedSearchSchema().dump(row))


@bp.delete("/saved-searches/<int:saved_search_id>")
@documented({204: None})
def delete_saved_search(saved_search_id: int):
    saved.delete_saved(db.session, acting_user(), saved_search_id)
    db.session.commit()
    return "", 204
