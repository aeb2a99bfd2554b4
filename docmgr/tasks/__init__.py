"""One task queue for all background work (Huey), fed by an outbox written with each change.

``enqueue(session, "task.name", **args)`` records work in the caller's transaction; modules make a
task runnable with ``register_handler(app, name, fn)`` from their ``init_app``; ``docmgr worker`` runs
it. See :mod:`docmgr.tasks.queue` for the guarantees and :mod:`docmgr.tasks.worker` for the worker.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from docmgr.extensions import db
from docmgr.maintenance import register_check
from docmgr.tasks import views
from docmgr.tasks.queue import Deferred, build_queue, enqueue, get_queue, hand_off_after_commit, register_handler
from docmgr.tasks.services import check_outbox

__all__ = ["Deferred", "enqueue", "get_queue", "hand_off_after_commit", "init_app", "register_handler"]


def init_app(app: Flask) -> None:
    """Build the queue from the configuration; register the admin page and the `check` (the API blueprint,
    docmgr.tasks.api, is nested in /api/v1 by create_app with the other modules' APIs)."""
    app.extensions["docmgr.tasks"] = build_queue(app)
    app.register_blueprint(views.bp)
    overdue_after = timedelta(seconds=float(app.config["QUEUE_OVERDUE_SECONDS"]))
    register_check(app, lambda echo: check_outbox(db.session, echo, overdue_after))
