"""The API shapes of search: hits with highlights, facets, and similar documents."""

from __future__ import annotations

from marshmallow import fields
from marshmallow.validate import OneOf, Regexp

from docmgr.search.services import SORTS
from docmgr.serializers import Input, IsoDate, IsoDateTime, Output
from docmgr.vocab import KINDS, LANGUAGE_CODE_PATTERN, SECTORS


class HitSchema(Output):
    """One hit: a document, or a draft of an agreement (``doctype``)."""

    document_id = fields.Integer(allow_none=True)
    title_it = fields.String()
    title_ru = fields.String()
    kind = fields.String()
    score = fields.Float(allow_none=True, metadata={
        "description": "relevance; null for firm users (scores use statistics over every tenant's documents)"})
    highlights = fields.List(fields.String(), metadata={"description": "HTML with the matches in <mark>"})
    doctype = fields.String(validate=OneOf(["document", "draft"]))
    agreement_id = fields.Integer(allow_none=True)
    draft_id = fields.Integer(allow_none=True)
    organization_id = fields.Integer(allow_none=True)
    organization = fields.String()
    sectors = fields.List(fields.String())
    languages = fields.List(fields.String())
    session_id = fields.Integer(allow_none=True)
    created_at = IsoDateTime(allow_none=True)
    file_id = fields.Integer(allow_none=True)
    snippet_language = fields.String(allow_none=True)

    computed = {"draft_id": lambda hit: hit.object_id if hit.doctype == "draft" else None}


class ByFacet(fields.Dict):
    """facet -> value -> a count or a name, as the engine made them (string keys, integer counts, string
    names): copied in one comprehension. Marshmallow's serialising of every key and value one by one cost a
    search answer more than its ten hits, with two hundred organisations in the facets."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return {str(facet): dict(values) for facet, values in value.items()}


class SearchResultSchema(Output):
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    hits = fields.List(fields.Nested(HitSchema))
    facets = ByFacet(
        keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer()),
        metadata={"description": "facet (kind, sector, language, organization…) -> value -> count"},
    )
    facet_labels = ByFacet(
        attribute="labels", keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.String()),
        metadata={"description": "facet -> value -> a name to show (organisations, sessions)"},
    )


class SimilarHitSchema(HitSchema):
    """A hit of "similar documents", dumped from a SimilarDocument: its own score and why it is similar."""

    same_sector = fields.Boolean()
    other_organization = fields.Boolean()

    OWN = frozenset({"score", "same_sector", "other_organization"})

    def get_attribute(self, obj, attr: str, default):
        """Its own score and reasons; everything else from the hit."""
        return super().get_attribute(obj if attr in self.OWN else obj.hit, attr, default)


class SimilarListSchema(Output):
    items = fields.List(fields.Nested(SimilarHitSchema))


# --- requests ------------------------------------------------------------------------------------


class SearchQuery(Input):
    q = fields.String(metadata={"description": "words, \"phrases\", field:value; empty lists everything"})
    kind = fields.String(validate=OneOf(KINDS))
    sector = fields.String(validate=OneOf(SECTORS))
    language = fields.String(validate=Regexp(LANGUAGE_CODE_PATTERN), metadata={"description": "it, ru, bi or a detected ISO 639-1 code"})
    organization_id = fields.Integer()
    session_id = fields.Integer()
    date_from = IsoDate()
    date_to = IsoDate()
    sort = fields.String(validate=OneOf(SORTS))
    page = fields.Integer()
    per_page = fields.Integer(metadata={"maximum": 100})


class SimilarQuery(Input):
    limit = fields.Integer(metadata={"maximum": 20})

