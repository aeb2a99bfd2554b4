"""The API shapes of saved searches."""

from __future__ import annotations

from flask import url_for
from marshmallow import fields

from docmgr.saved_searches.services import search_args
from docmgr.serializers import Input, IsoDateTime, Output


class SavedSearchSchema(Output):
    id = fields.Integer()
    name = fields.String()
    q = fields.String(attribute="query")
    filters = fields.Dict(keys=fields.String(), values=fields.Raw(), metadata={
        "description": "kind, sector, language, organization_id, session_id, date_from, date_to (those set)"})
    digest = fields.Boolean(metadata={"description": "a daily e-mail of new matches"})
    search_url = fields.String(metadata={"description": "the search page with this query and these filters"})
    created_at = IsoDateTime()
    updated_at = IsoDateTime()

    computed = {"search_url": lambda saved: url_for("search.search_page", **search_args(saved))}


class SavedSearchListSchema(Output):
    items = fields.List(fields.Nested(SavedSearchSchema))


class SavedSearchRequest(Input):
    name = fields.String(required=True)
    q = fields.String()
    filters = fields.Dict(keys=fields.String(), values=fields.Raw(), metadata={
        "description": "search filters by name, as GET /search takes them"})
    digest = fields.Boolean()


class SavedSearchUpdateRequest(Input):
    name = fields.String()
    digest = fields.Boolean()
