"""The worker: Huey's consumer (OCR, indexing, thumbnails, periodic jobs) plus the outbox relay."""

from __future__ import annotations

import logging
import threading

from flask import Flask
from sqlalchemy import func, select

from docmgr.extensions import db
from docmgr.tasks.models import OutboxStatus, OutboxTask
from docmgr.tasks.queue import get_queue, relay

log = logging.getLogger(__name__)


def _done_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(OutboxTask).where(OutboxTask.status == OutboxStatus.DONE.value)) or 0


def run_due(app: Flask) -> int:
    """Run everything that is due now, in this process, then return how many rows were done (the
    ``worker --once`` path; tests call it to run queued work in-process). Rows waiting for a retry
    later, and periodic jobs, are left for the long-running worker."""
    queue = get_queue(app)
    before = _done_count(app)
    relay(app, at_start=True)
    while True:
        message = queue.huey.dequeue() if not queue.huey.immediate else None
        if message is None:
            if relay(app, due_now=True) == 0:
                break
            continue
        queue.huey.execute(message)
    return _done_count(app) - before


def run_worker(app: Flask, *, workers: int | None = None) -> None:
    """Run until SIGINT (graceful) or SIGTERM: Huey's consumer threads execute the outbox rows handed
    over; a relay thread hands over, every ``QUEUE_RELAY_INTERVAL_SECONDS``, the rows whose hand-off
    was lost or whose retry is due (Huey's own periodic tasks run at most once a minute)."""
    queue = get_queue(app)
    if queue.huey.immediate:
        raise RuntimeError("The worker cannot run with QUEUE_IMMEDIATE on (a unit-test setting).")
    relay(app, at_start=True)
    stop = threading.Event()
    interval = float(app.config["QUEUE_RELAY_INTERVAL_SECONDS"])

    def relay_loop() -> None:
        failures = 0
        while not stop.wait(interval * (1 + min(failures, 10))):
            try:
                relay(app)
                failures = 0
            except Exception:  # noqa: BLE001 - keep relaying, more slowly
                failures += 1
                log.warning("outbox relay failed (%d in a row)", failures, exc_info=failures == 1)

    relayer = threading.Thread(target=relay_loop, name="docmgr-relay", daemon=True)
    relayer.start()
    consumer = queue.huey.create_consumer(
        workers=workers or int(app.config["QUEUE_WORKERS"]), worker_type="thread", periodic=True,
        initial_delay=0.05, backoff=1.5, max_delay=1.0, check_worker_health=True,
    )
    try:
        consumer.run()
    finally:
        stop.set()
