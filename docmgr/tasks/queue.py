"""The task queue: Huey carries the outbox rows' ids from the process that committed them to the worker.

* :func:`enqueue` adds an :class:`OutboxTask` row to the caller's session: the work commits or rolls back
  with the change that needs it.
* After the commit (a SQLAlchemy ``after_commit`` hook) the new rows' ids are handed to Huey. A crash
  between the two loses nothing: the row is still ``pending`` in the database.
* The worker (:func:`docmgr.tasks.worker.run_worker`) executes a message with :func:`execute`: the row
  is loaded, its handler runs, the row becomes ``done``. A failure is recorded on the row and tried again
  with exponential back-off; after ``QUEUE_MAX_ATTEMPTS`` attempts the row is ``dead`` until an
  administrator retries it (``/queue``).
* ``next_attempt_at`` is when a row may run next: at once for new work, after the back-off for failed
  work (a message is scheduled for then), after a lease while a run is under way (so that duplicate
  messages are skipped; handlers are idempotent anyway). :func:`relay` hands over again every pending row
  that stayed due for ``QUEUE_RELAY_AFTER_SECONDS`` without being run (the hand-off was lost, Huey's
  storage was lost, the worker died); at worker start it hands over everything due, and the runs the
  previous worker left unfinished.

Huey's storage is SQLite in its own file (``STORAGE_DIR/queue.sqlite3``: queue writes never wait for the
application database's write lock), or Redis when ``DOCMGR_QUEUE_URL=redis://…``. Huey keeps only ids:
the database is the source of truth, so losing Huey's storage loses nothing either.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context
from huey import Huey, RedisHuey, SqliteHuey
from huey.api import crontab
from sqlalchemy import delete, event, or_, select
from sqlalchemy.orm import Session

from docmgr.database import utcnow
from docmgr.extensions import db
from docmgr.tasks.models import OutboxStatus, OutboxTask

log = logging.getLogger(__name__)

EXIT_AFTER_COMMIT_CODE = 86  # the test hook's exit status (QUEUE_EXIT_AFTER_COMMIT)
_IDS_KEY = "docmgr_outbox_ids"


class Deferred(Exception):  # noqa: N818 - not an error: "try again later"
    """Raised by a handler that cannot run yet (OCR not installed…): tried again after ``seconds``,
    without counting an attempt."""

    def __init__(self, reason: str, seconds: float = 60.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seconds = seconds


@dataclass
class Handler:
    fn: Callable[..., Any]
    batch: int = 1  # > 1: fn receives a list of argument dicts (up to this many due rows of the task at once)
    lease: timedelta = timedelta(minutes=2)  # how long one run may take before the row counts as abandoned


@dataclass
class TaskQueue:
    app: Flask
    huey: Huey
    handlers: dict[str, Handler] = field(default_factory=dict)

    @property
    def relay_after(self) -> timedelta:
        return timedelta(seconds=float(self.app.config["QUEUE_RELAY_AFTER_SECONDS"]))

    def hand_off(self, ids: Iterable[int], eta: datetime | None = None) -> None:
        """Give committed rows to Huey (to run at once, or at ``eta``). Never raises: a row that did not
        make it is relayed later."""
        for row_id in ids:
            try:
                if eta is None:
                    self._message(row_id)
                else:
                    self._message.schedule((row_id,), eta=eta.astimezone(UTC).replace(tzinfo=None))
            except Exception:  # noqa: BLE001 - the relay sends it again
                log.warning("could not hand outbox row %s to the queue; the relay will", row_id, exc_info=True)

    _message: Any = None  # the Huey task, set in build_queue


# --- building the queue from the configuration ------------------------------------------------------------------


def build_huey(config: dict[str, Any]) -> Huey:
    """SqliteHuey in ``STORAGE_DIR/queue.sqlite3`` by default; RedisHuey for ``redis://``/``rediss://``/
    ``unix://`` URLs; ``sqlite:///PATH`` names another SQLite file. ``QUEUE_IMMEDIATE`` (unit tests only)
    runs each task at once, in the process that committed it."""
    url = (config.get("QUEUE_URL") or "").strip()
    options: dict[str, Any] = {"results": False, "utc": True, "immediate": bool(config.get("QUEUE_IMMEDIATE"))}
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(config.get("QUEUE_NAME") or "docmgr", url=url, **options)
    if url.startswith("sqlite:///"):
        filename = Path(url.removeprefix("sqlite:///"))
    elif url:
        raise ValueError(f"DOCMGR_QUEUE_URL must be redis://…, rediss://…, unix://… or sqlite:///PATH, not {url!r}")
    else:
        filename = Path(config["STORAGE_DIR"]) / "queue.sqlite3"
    filename.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("docmgr", filename=str(filename), **options)


def build_queue(app: Flask) -> TaskQueue:
    queue = TaskQueue(app=app, huey=build_huey(app.config))

    @queue.huey.task(name="docmgr.outbox", retries=0)
    def run_outbox_row(row_id: int) -> None:
        execute(app, row_id)

    queue._message = run_outbox_row  # type: ignore[method-assign]

    def purge_done_rows() -> None:
        with app.app_context():
            purge_done(db.session, days=int(app.config["QUEUE_KEEP_DONE_DAYS"]))
            db.session.commit()

    register_periodic(queue, "docmgr.outbox_purge", crontab(hour="3", minute="17"), purge_done_rows)
    return queue


# --- periodic work: once per tick across the cluster ------------------------------------------------------------

_TICK_SEARCH_MINUTES = 7 * 24 * 60  # a schedule that matched no minute in the last week: use the current minute


def last_tick(schedule: Callable[[datetime], bool], now: datetime) -> datetime:
    """The latest minute at or before ``now`` (naive UTC) that ``schedule`` (a Huey crontab) matches: the tick a
    periodic run belongs to, whichever worker runs it and however late."""
    minute = now.replace(second=0, microsecond=0)
    for _ in range(_TICK_SEARCH_MINUTES):
        if schedule(minute):
            return minute
        minute -= timedelta(minutes=1)
    return now.replace(second=0, microsecond=0)


def claim_tick(huey: Huey, name: str, tick: datetime) -> bool:
    """Atomically claim one tick of a periodic task in the queue's storage (Redis ``HSETNX`` on the shared
    broker; SQLite's ``INSERT OR …`` on the embedded one): True for the first worker only."""
    return bool(huey.storage.put_if_empty(f"docmgr.periodic:{name}:{tick:%Y-%m-%dT%H:%M}".encode(), b"1"))


def register_periodic(queue: TaskQueue, name: str, schedule: Callable[[datetime], bool], fn: Callable[[], Any]) -> None:
    """Run ``fn`` on ``schedule`` (a Huey crontab, UTC) exactly once per tick across the cluster.

    Every worker's Huey scheduler enqueues the task at each tick it sees, so N workers enqueue it N times.
    The run first claims the tick (:func:`claim_tick`); the runs that lose the claim do nothing. The claim of
    the previous tick is then dropped, so at most one claim per task stays in the broker."""
    huey = queue.huey

    def once_per_tick() -> None:
        tick = last_tick(schedule, datetime.now(UTC).replace(tzinfo=None))
        if not claim_tick(huey, name, tick):
            log.info("periodic %s of %s: already run by another worker", name, tick)
            return
        previous = last_tick(schedule, tick - timedelta(minutes=1))
        huey.storage.pop_data(f"docmgr.periodic:{name}:{previous:%Y-%m-%dT%H:%M}".encode())
        fn()

    huey.periodic_task(schedule, name=name, retries=0)(once_per_tick)


def get_queue(app: Flask | None = None) -> TaskQueue:
    app = app or current_app._get_current_object()
    return app.extensions["docmgr.tasks"]


def register_handler(
    app: Flask, name: str, fn: Callable[..., Any], *, batch: int = 1, lease: timedelta | None = None
) -> None:
    """Make ``name`` runnable: ``fn(**args)`` (or ``fn([args, …])`` when ``batch`` > 1), in an app context
    with ``db.session``. It must be idempotent: running it twice changes nothing more than once."""
    get_queue(app).handlers[name] = Handler(fn=fn, batch=batch, lease=lease or timedelta(minutes=2))


# --- recording work and handing it over -------------------------------------------------------------------------


def enqueue(session: Session, task: str, **args: Any) -> OutboxTask:
    """Record follow-up work in the caller's transaction; it is handed to the worker after the commit."""
    now = utcnow()
    row = OutboxTask(task=task, args=args, status=OutboxStatus.PENDING.value, attempts=0, last_error="",
                     created_at=now, next_attempt_at=now)
    session.add(row)
    return row


def hand_off_after_commit(session: Session, row_id: int) -> None:
    """Hand an existing row (one being retried) to the worker once the current transaction commits."""
    session.info.setdefault(_IDS_KEY, []).append(row_id)


@event.listens_for(Session, "after_flush")
def _remember_new_rows(session: Session, _flush_context) -> None:
    ids = [obj.id for obj in session.new if isinstance(obj, OutboxTask)]
    if ids:
        session.info.setdefault(_IDS_KEY, []).extend(ids)


@event.listens_for(Session, "after_commit")
def _hand_off(session: Session) -> None:
    ids = session.info.pop(_IDS_KEY, None)
    if not ids or not has_app_context():
        return
    app = current_app._get_current_object()
    queue = app.extensions.get("docmgr.tasks")
    if queue is None:
        return
    crash_on = app.config.get("QUEUE_EXIT_AFTER_COMMIT")
    if crash_on:  # the kill test: die between the commit and the hand-off (never set in production)
        if crash_on in _task_names(ids):
            os._exit(EXIT_AFTER_COMMIT_CODE)
    queue.hand_off(ids)


def _task_names(ids: list[int]) -> set[str]:
    with db.engine.connect() as connection:
        return set(connection.execute(select(OutboxTask.task).where(OutboxTask.id.in_(ids))).scalars())


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_IDS_KEY, None)


# --- running ----------------------------------------------------------------------------------------------------


def _backoff(app: Flask, attempts: int) -> timedelta:
    base = float(app.config["QUEUE_RETRY_SECONDS"])
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600.0))


def execute(app: Flask, row_id: int) -> str:
    """Run one outbox row (and, for batch handlers, other due rows of the same task) in a fresh app
    context. Returns what happened: done, skipped, deferred, failed or dead. Never raises."""
    with app.app_context():
        try:
            return _execute(app, db.session, row_id)
        except Exception:  # noqa: BLE001 - the row stays pending; the relay sends it again
            db.session.rollback()
            log.exception("running outbox row %s failed outside its handler", row_id)
            return "failed"


def _execute(app: Flask, session: Session, row_id: int) -> str:
    queue = get_queue(app)
    now = utcnow()
    # A row lock (PostgreSQL; SQLite's write transaction already serialises): two workers handed the same
    # row cannot both take its lease. Rows another worker holds are skipped in a batch.
    row = session.get(OutboxTask, row_id, with_for_update=True)
    if row is None or row.status != OutboxStatus.PENDING.value or row.next_attempt_at > now:
        session.rollback()  # done, dead, being run right now or waiting for its retry (a duplicate message)
        return "skipped"
    handler = queue.handlers.get(row.task)
    if handler is None:
        row.last_error = f"No handler is registered for the task {row.task!r}."
        row.next_attempt_at = now + timedelta(minutes=5)
        session.commit()
        return "skipped"
    rows = [row]
    if handler.batch > 1:
        rows += list(session.scalars(
            select(OutboxTask).where(
                OutboxTask.task == row.task, OutboxTask.status == OutboxStatus.PENDING.value, OutboxTask.id != row.id,
                OutboxTask.next_attempt_at <= now,
            ).order_by(OutboxTask.id).limit(handler.batch - 1).with_for_update(skip_locked=True)
        ))
    lease_until = now + max(handler.lease, 2 * queue.relay_after)
    for item in rows:
        item.attempts += 1
        item.next_attempt_at = lease_until
    ids = [item.id for item in rows]
    args = [dict(item.args or {}) for item in rows]
    session.commit()  # the lease is visible to every other worker before the work starts

    try:
        if handler.batch > 1:
            handler.fn(args)
        else:
            handler.fn(**args[0])
    except Deferred as deferred:
        session.rollback()
        retry_at = utcnow() + timedelta(seconds=deferred.seconds)
        for item in _load(session, ids):
            item.attempts -= 1
            item.last_error = deferred.reason
            item.next_attempt_at = retry_at
        session.commit()
        queue.hand_off(ids, eta=retry_at)
        return "deferred"
    except Exception as error:  # noqa: BLE001 - recorded on the row, retried with back-off
        session.rollback()
        log.warning("task %s (outbox %s) failed", row.task, ids, exc_info=True)
        max_attempts = int(app.config["QUEUE_MAX_ATTEMPTS"])
        outcome = "failed"
        retries: dict[datetime, list[int]] = {}
        for item in _load(session, ids):
            item.last_error = f"{type(error).__name__}: {error}"[:2000]
            if item.attempts >= max_attempts:
                item.status = OutboxStatus.DEAD.value
                outcome = "dead"
            else:
                item.next_attempt_at = utcnow() + _backoff(app, item.attempts)
                retries.setdefault(item.next_attempt_at, []).append(item.id)
        session.commit()
        for retry_at, retry_ids in retries.items():
            queue.hand_off(retry_ids, eta=retry_at)
        return outcome
    for item in _load(session, ids):
        item.status = OutboxStatus.DONE.value
        item.done_at = utcnow()
        item.last_error = ""
    session.commit()
    return "done"


def _load(session: Session, ids: list[int]) -> list[OutboxTask]:
    return list(session.scalars(select(OutboxTask).where(OutboxTask.id.in_(ids))))


def relay(app: Flask, *, at_start: bool = False, due_now: bool = False, limit: int = 1000) -> int:
    """Hand over again the pending rows that stayed due for ``QUEUE_RELAY_AFTER_SECONDS`` without being run
    (``due_now``: every due row). ``at_start`` (a worker starting): every due row, and the runs left
    unfinished (leased, no error recorded: the worker that ran them is gone). A row that has used up its
    attempts without ever finishing (it stopped the worker each time) becomes dead. Returns how many rows
    were handed over."""
    queue = get_queue(app)
    max_attempts = int(app.config["QUEUE_MAX_ATTEMPTS"])
    with app.app_context():
        session = db.session
        now = utcnow()
        due = OutboxTask.next_attempt_at <= (now if at_start or due_now else now - queue.relay_after)
        if at_start:
            due = or_(due, (OutboxTask.attempts > 0) & (OutboxTask.last_error == ""))
        rows = list(session.scalars(
            select(OutboxTask).where(OutboxTask.status == OutboxStatus.PENDING.value, due)
            .order_by(OutboxTask.id).limit(limit).with_for_update(skip_locked=True)
        ))
        ids = []
        for row in rows:
            if row.attempts >= max_attempts:
                row.status = OutboxStatus.DEAD.value
                row.last_error = row.last_error or (
                    f"Gave up after {row.attempts} attempts: the worker stopped before finishing each time.")
                continue
            row.next_attempt_at = now
            ids.append(row.id)
        session.commit()
    queue.hand_off(ids)
    return len(ids)


def purge_done(session: Session, *, days: int) -> int:
    """Forget rows done more than ``days`` ago (the work they describe is in the database anyway)."""
    cutoff = utcnow() - timedelta(days=days)
    result = session.execute(delete(OutboxTask).where(
        OutboxTask.status == OutboxStatus.DONE.value, OutboxTask.done_at < cutoff))
    return result.rowcount or 0


def overdue_rows(session: Session, older_than: timedelta) -> tuple[list[OutboxTask], list[OutboxTask]]:
    """(pending rows created before ``older_than`` ago, dead rows)."""
    cutoff: datetime = utcnow() - older_than
    overdue = list(session.scalars(select(OutboxTask).where(
        OutboxTask.status == OutboxStatus.PENDING.value, OutboxTask.created_at < cutoff).order_by(OutboxTask.id)))
    dead = list(session.scalars(select(OutboxTask).where(
        OutboxTask.status == OutboxStatus.DEAD.value).order_by(OutboxTask.id)))
    return overdue, dead
