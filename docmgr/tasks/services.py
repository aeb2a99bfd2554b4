"""What an administrator sees of the queue (pending, failed and dead work) and the Retry action."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docmgr.accounts.models import User
from docmgr.audit.services import record
from docmgr.database import utcnow
from docmgr.errors import Conflict, Forbidden, Invalid, NotFound
from docmgr.tasks.models import OutboxStatus, OutboxTask
from docmgr.tasks.queue import hand_off_after_commit, overdue_rows

STATUS_FILTERS = ("pending", "failed", "dead", "done")


def require_admin(actor: User) -> None:
    if not actor.is_admin:
        raise Forbidden(gettext("Only administrators may see the task queue."))


def list_work(session: Session, actor: User, status: str | None = None, limit: int = 200) -> dict[str, Any]:
    """Counts per status, and the rows of one status (default: pending, failed and dead work).
    ``failed`` means pending with an error recorded (waiting for its next attempt)."""
    require_admin(actor)
    if status is not None and status not in STATUS_FILTERS:
        raise Invalid(gettext("'status' must be one of %(choices)s.", choices=", ".join(STATUS_FILTERS)),
                      field="status")
    counts = {s.value: 0 for s in OutboxStatus}
    for value, count in session.execute(select(OutboxTask.status, func.count()).group_by(OutboxTask.status)):
        counts[value] = count
    counts["failed"] = session.scalar(select(func.count()).select_from(OutboxTask).where(
        OutboxTask.status == OutboxStatus.PENDING.value, OutboxTask.last_error != "")) or 0
    query = select(OutboxTask).order_by(OutboxTask.id.desc()).limit(limit)
    if status == "failed":
        query = query.where(OutboxTask.status == OutboxStatus.PENDING.value, OutboxTask.last_error != "")
    elif status is not None:
        query = query.where(OutboxTask.status == status)
    else:
        query = query.where(OutboxTask.status != OutboxStatus.DONE.value)
    return {"counts": counts, "items": list(session.scalars(query))}


def retry(session: Session, actor: User, row_id: int) -> OutboxTask:
    """Give dead (or failed) work a fresh set of attempts, now; audited. Done work cannot be retried."""
    require_admin(actor)
    row = session.get(OutboxTask, row_id)
    if row is None:
        raise NotFound(gettext("No such task."))
    if row.status == OutboxStatus.DONE.value:
        raise Conflict(gettext("This task is done; there is nothing to retry."))
    previous = {"status": row.status, "attempts": row.attempts, "last_error": row.last_error}
    row.status = OutboxStatus.PENDING.value
    row.attempts = 0
    row.next_attempt_at = utcnow()
    record(session, actor, "queue.retry", row, task=row.task, **previous)
    hand_off_after_commit(session, row.id)
    return row


def shown_status(row: OutboxTask) -> str:
    """pending, failed (pending with an error recorded: waiting for its next attempt), dead or done."""
    if row.status == OutboxStatus.PENDING.value and row.last_error:
        return "failed"
    return row.status


def check_outbox(session: Session, echo, overdue_after: timedelta) -> int:
    """`docmgr check`: work pending for longer than ``overdue_after``, and dead work, are problems."""
    overdue, dead = overdue_rows(session, overdue_after)
    for row in overdue:
        echo(f"queue: task {row.id} ({row.task} {row.args}) pending since {row.created_at.isoformat()}"
             f"{', last error: ' + row.last_error if row.last_error else ''}")
    for row in dead:
        echo(f"queue: task {row.id} ({row.task} {row.args}) is dead after {row.attempts} attempt(s): {row.last_error}")
    pending = session.scalar(select(func.count()).select_from(OutboxTask).where(
        OutboxTask.status == OutboxStatus.PENDING.value)) or 0
    echo(f"queue: {pending} pending, {len(overdue)} overdue, {len(dead)} dead")
    return len(overdue) + len(dead)
