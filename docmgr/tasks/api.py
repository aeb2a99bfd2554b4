"""/api/v1/queue (administrators): the same view of the queue as the page, and Retry."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

import docmgr.tasks.serializers as ser
import docmgr.tasks.services as services
from docmgr.api import acting_user, documented
from docmgr.extensions import db

bp = Blueprint("tasks_api", __name__)


@bp.get("/queue")
@documented({200: ser.QueueSchema}, query=ser.QueueQuery)
def queue():
    """Queued, failed and dead work (``?status=pending|failed|dead|done``), with counts per status."""
    work = services.list_work(db.session, acting_user(), request.args.get("status") or None)
    return jsonify(ser.QueueSchema().dump(work))


@bp.post("/queue/<int:task_id>/retry")
@documented({200: ser.OutboxTaskSchema}, errors=(409,))
def retry(task_id: int):
    """Try a dead or failed task again now (a fresh set of attempts); audited."""
    row = services.retry(db.session, acting_user(), task_id)
    db.session.commit()
    return jsonify(ser.OutboxTaskSchema().dump(row))
