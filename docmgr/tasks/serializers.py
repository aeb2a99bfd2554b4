"""The API shapes of the task queue (administrators): queued, failed and dead work."""

from __future__ import annotations

from marshmallow import fields
from marshmallow.validate import OneOf

from docmgr.serializers import Input, IsoDateTime, Output, counts, free_object
from docmgr.tasks.services import STATUS_FILTERS, shown_status


class OutboxTaskSchema(Output):
    """One piece of background work. ``status`` is pending, failed (pending, an error recorded, waiting for
    its next attempt), dead or done."""

    id = fields.Integer()
    task = fields.String(metadata={"example": "search.index"})
    args = free_object()
    status = fields.String(validate=OneOf(["pending", "failed", "dead", "done"]))
    attempts = fields.Integer()
    last_error = fields.String()
    created_at = IsoDateTime()
    done_at = IsoDateTime(allow_none=True)
    next_attempt_at = IsoDateTime(allow_none=True)

    computed = {"status": shown_status}


class QueueSchema(Output):
    counts = counts(metadata={"description": "rows per status: pending, done, dead, and failed (among pending)"})
    items = fields.List(fields.Nested(OutboxTaskSchema))


class QueueQuery(Input):
    status = fields.String(validate=OneOf(STATUS_FILTERS),
                           metadata={"description": "one status; default: everything not done"})
