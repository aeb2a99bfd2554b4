"""Reminders and deadlines run by the real queue: Huey's periodic task records a `signing.deadlines` run,
the worker code (`run_queue`, as `docmgr worker --once`) executes it, mails go to the real SMTP server.
The clock is the app's CLOCK setting, moved by the test."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from docmgr.extensions import db

pytestmark = pytest.mark.app_config(QUEUE_IMMEDIATE=False)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(app):
    clock = Clock()
    app.config["CLOCK"] = clock
    return clock


def tick(app, run_queue) -> int:
    """What the worker's scheduler does when the periodic task is due, then run the queue."""
    from docmgr.tasks import get_queue

    huey = get_queue(app).huey
    due = huey.read_periodic(datetime(2030, 1, 1, 12, 0))  # a time every */5 crontab matches
    assert [task.name for task in due if task.name == "docmgr.signing_deadlines"]
    for task in due:
        if task.name == "docmgr.signing_deadlines":
            huey.enqueue(task)
    return run_queue()


@pytest.fixture
def sent_out(app, cast, make_agreement, advance, run_queue):
    agreement = make_agreement()
    marco, anna = sorted(agreement.signatories, key=lambda s: s.organization_id != cast.org_it.id)
    marco.email, anna.email = "marco@example.it", "anna@example.ru"
    agreement.sign_by = datetime.now(UTC) + timedelta(days=10)
    agreement.reminder_days = 3
    db.session.commit()
    advance(agreement, "out_for_signature")
    run_queue()
    return agreement, marco, anna


def test_reminders_every_n_days_until_the_signatory_acts(app, smtp, clock, cast, sent_out, run_queue):
    from docmgr.signatures import services

    agreement, marco, anna = sent_out
    assert sorted(m["To"].addresses[0].addr_spec for m in smtp.messages) == ["anna@example.ru", "marco@example.it"]
    smtp.messages.clear()
    clock.now += timedelta(days=2)
    tick(app, run_queue)
    assert smtp.messages == []  # not yet: every 3 days
    clock.now += timedelta(days=1, minutes=1)
    tick(app, run_queue)
    subjects = {m["To"].addresses[0].addr_spec: m["Subject"] for m in smtp.messages}
    assert subjects["marco@example.it"].startswith("Promemoria")
    assert subjects["anna@example.ru"].startswith("Напоминание")
    text = smtp.messages[0].get_body(preferencelist=("plain",)).get_content()
    assert "/sign/" in text
    smtp.messages.clear()
    tick(app, run_queue)
    assert smtp.messages == []  # idempotent: a second run (another worker) sends nothing more
    # Marco signs; only Anna is reminded next time.
    services.record_signature(db.session, cast.legal, agreement.id, marco.id, stream=_scan(), filename="s.png",
                              method="wet_ink")
    db.session.commit()
    run_queue()
    smtp.messages.clear()
    clock.now += timedelta(days=3, minutes=1)
    tick(app, run_queue)
    assert [m["To"].addresses[0].addr_spec for m in smtp.messages] == ["anna@example.ru"]


def _scan():
    import io

    from tests.signatures.conftest import png_scan

    return io.BytesIO(png_scan())


def test_past_the_deadline_the_agreement_expires_by_itself(app, client, smtp, clock, cast, sent_out, run_queue):
    agreement, marco, anna = sent_out
    firm_ru = cast.firm_ru
    smtp.messages.clear()
    clock.now = agreement.sign_by + timedelta(minutes=1)
    tick(app, run_queue)
    db.session.expire_all()
    agreement = db.session.get(type(agreement), agreement.id)
    assert agreement.status == "expired"
    got = {m["To"].addresses[0].addr_spec: m["Subject"] for m in smtp.messages}
    assert set(got) == {cast.legal.email, firm_ru.email, "marco@example.it", "anna@example.ru"}
    assert got["anna@example.ru"].startswith("Истёк срок:")
    assert got[cast.legal.email].startswith("Expired:")
    from docmgr.audit.models import AuditEvent

    event = db.session.query(AuditEvent).filter_by(action="agreement.transition", agreement_id=agreement.id).all()[-1]
    assert json.loads(event.data)["to_status"] == "expired" and json.loads(event.data)["automatic"] is True
    smtp.messages.clear()
    tick(app, run_queue)
    assert smtp.messages == []  # expired once


def test_smtp_down_leaves_the_agreement_alone_and_the_mail_is_retried(app, smtp, clock, cast, sent_out, run_queue):
    from docmgr.mail.models import OutgoingMail
    from docmgr.tasks.models import OutboxTask

    agreement, _marco, _anna = sent_out
    smtp.refuse = "421 Service not available"
    clock.now = agreement.sign_by + timedelta(minutes=1)
    tick(app, run_queue)
    db.session.expire_all()
    assert db.session.get(type(agreement), agreement.id).status == "expired"
    failed = db.session.query(OutgoingMail).filter_by(status="failed").all()
    assert failed and all(m.attempts == 1 and "421" in m.error for m in failed)
    rows = db.session.query(OutboxTask).filter(OutboxTask.task == "mail.send", OutboxTask.status == "pending").all()
    assert len(rows) == len(failed)  # waiting for their retry
    smtp.refuse = None
    for row in rows:
        row.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    run_queue()
    db.session.expire_all()
    assert db.session.query(OutgoingMail).filter_by(status="failed").count() == 0
    assert len(smtp.messages) >= len(failed)


def test_a_sign_by_date_already_past_is_refused_when_sending(app, smtp, cast, make_agreement, advance, run_queue,
                                                             client, token_for):
    """Sending out an agreement whose sign-by date passed while it was a draft would only expire it: 409
    ``sign_by_passed`` in words, nothing sent, nothing changed; with a later date it goes out."""
    from docmgr.drafting.models import Agreement

    agreement = make_agreement()
    for signatory in agreement.signatories:
        signatory.email = f"s{signatory.id}@example.it"
    agreement.sign_by = datetime.now(UTC) - timedelta(hours=1)
    db.session.commit()
    advance(agreement, "approved")
    run_queue()
    smtp.messages.clear()
    answer = client.post(f"/api/v1/agreements/{agreement.id}/transitions", json={"to": "out_for_signature"},
                         headers=token_for(cast.legal))
    assert answer.status_code == 409
    error = answer.get_json()["error"]
    assert error["code"] == "sign_by_passed" and "already passed" in error["message"]
    run_queue()
    db.session.expire_all()
    agreement = db.session.get(Agreement, agreement.id)
    assert (agreement.status, agreement.frozen_pdf_sha256) == ("approved", None)
    assert smtp.messages == [] and all(s.invited_at is None for s in agreement.signatories)
    agreement.sign_by = datetime.now(UTC) + timedelta(days=5)
    db.session.commit()
    answer = client.post(f"/api/v1/agreements/{agreement.id}/transitions", json={"to": "out_for_signature"},
                         headers=token_for(cast.legal))
    assert answer.status_code == 200, answer.get_json()
