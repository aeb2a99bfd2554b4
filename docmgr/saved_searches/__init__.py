"""saved_searches: a user's saved queries and filters, with an optional daily e-mail digest of new matches."""

from __future__ import annotations

from flask import Flask
from huey.api import crontab

from docmgr.extensions import db
from docmgr.saved_searches import services
from docmgr.tasks import enqueue, get_queue, register_handler


def init_app(app: Flask) -> None:
    """The ``search.digests`` task, and the daily job that queues it: Huey's periodic job only records the task in
    the outbox (so work a killed worker did not finish is done later); the task does the searching and mailing."""
    register_handler(app, services.DIGEST_TASK, services.send_digests)

    @get_queue(app).huey.periodic_task(crontab(hour="6", minute="30"), name="docmgr.saved_search_digests")
    def queue_digests() -> None:
        with app.app_context():
            enqueue(db.session, services.DIGEST_TASK)
            db.session.commit()
