"""The instance seal and signing in a firm user's own interface.

* ``init`` makes the seal's certificate and key (key 0600) when missing and keeps them afterwards; ``check``
  refuses a key others may read.
* A firm user named as a signatory (their e-mail on the row) sees Sign / upload / decline on *their* row only;
  a colleague of the same organisation who is not named sees no signing forms; the ministry and legal staff
  cannot sign in someone's name (403). The signature is sealed and verifies with pyHanko's validator.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

from sqlalchemy import select

from docmgr.audit.models import AuditEvent
from docmgr.drafting.models import Signatory
from docmgr.extensions import db
from tests.conftest import PASSWORD, csrf_from
from tests.signing.test_in_browser import validate_seal


def initialize(app) -> list[str]:
    """`init`'s module steps (the migrations are tests/test_migrations.py's business; the test schema is made)."""
    return [line for step in app.extensions["docmgr.init_steps"] if (line := step())]


def test_init_makes_the_seal_once_with_a_private_key(app):
    cert, key = Path(app.config["SEAL_CERT"]), Path(app.config["SEAL_KEY"])
    assert not cert.exists()
    said = initialize(app)
    assert any("Seal certificate created" in line for line in said)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and cert.exists()
    first = cert.read_bytes()
    assert not any("Seal" in line for line in initialize(app))
    assert cert.read_bytes() == first
    runner = app.test_cli_runner()
    assert runner.invoke(args=["docmgr", "check"]).exit_code == 0
    key.chmod(0o644)
    result = runner.invoke(args=["docmgr", "check"])
    assert result.exit_code != 0 and "readable by others" in result.output


def signed_in(app, user):
    """A browser of its own, logged in as ``user``."""
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}).status_code == 302
    return client


def _named(cast, agreement):
    """The Italian signatory's row names firm_it (by e-mail)."""
    row = next(s for s in agreement.signatories if s.organization_id == cast.org_it.id)
    row.email, row.name = cast.firm_it.email.upper(), "Marco Bianchi"
    db.session.commit()
    return row


def test_a_named_firm_user_signs_their_own_row_in_the_browser(app, cast, make_agreement, advance, login, make_user):
    agreement = make_agreement()
    row = _named(cast, agreement)
    advance(agreement, "out_for_signature")
    other_row = next(s for s in agreement.signatories if s.id != row.id)

    colleague = make_user("firm", cast.org_it)
    html = signed_in(app, colleague).get(f"/agreements/{agreement.id}/signatures").get_data(as_text=True)
    assert "data-sign-in-browser" not in html and "/signature\"" not in html and "sig-decline" not in html

    html = signed_in(app, cast.firm_it).get(f"/agreements/{agreement.id}/signatures").get_data(as_text=True)
    assert f'data-sign-in-browser="{row.id}"' in html and f'data-sign-in-browser="{other_row.id}"' not in html
    assert f"/signatures/{row.id}/signature" in html and f"/signatures/{other_row.id}/signature" not in html
    assert f"/signatures/{row.id}/decline" in html and 'value="electronic"' not in html

    browser = signed_in(app, cast.firm_it)
    token = csrf_from(browser.get(f"/agreements/{agreement.id}/signatures").get_data(as_text=True))
    url = f"/agreements/{agreement.id}/signatures/{row.id}/sign"
    refused = browser.post(url, data={"csrf_token": token, "name": "Marco Bianchi", "typed_signature": "M. Bianchi"})
    assert refused.status_code == 422 and 'data-code="consent_required"' in refused.get_data(as_text=True)
    # Another party's row: 403 (firm users do not sign for others), nothing recorded.
    assert browser.post(f"/agreements/{agreement.id}/signatures/{other_row.id}/sign",
                        data={"csrf_token": token, "name": "X", "typed_signature": "X", "consent": "yes"}).status_code == 403
    answer = browser.post(url, data={"csrf_token": token, "name": "marco bianchi", "typed_signature": "M. Bianchi",
                                     "consent": "yes"}, headers={"User-Agent": "FirmBrowser/1.0"})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]
    db.session.expire_all()
    signed = db.session.get(Signatory, row.id)
    assert (signed.status, signed.method) == ("signed", "electronic")
    status, cert, _ = validate_seal(app, app.extensions["docmgr.store"].read(signed.signed_file_sha256))
    assert status.intact and status.valid and status.signing_cert.sha256 == cert.sha256
    events = {e.action: e for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))}
    recorded = events["signature.recorded"]
    assert recorded.actor_id == cast.firm_it.id
    data = json.loads(recorded.data)
    assert data["user_agent"] == "FirmBrowser/1.0" and data["signature_kind"] == "typed"
    assert json.loads(events["signature.electronic_refused"].data)["code"] == "consent_required"


def test_staff_and_ministry_cannot_sign_in_a_signatorys_name(app, cast, make_agreement, advance, login):
    agreement = make_agreement()
    row = _named(cast, agreement)
    advance(agreement, "out_for_signature")
    for user in (cast.legal, cast.ministry):
        browser = signed_in(app, user)
        token = csrf_from(browser.get(f"/agreements/{agreement.id}/signatures").get_data(as_text=True))
        answer = browser.post(f"/agreements/{agreement.id}/signatures/{row.id}/sign",
                              data={"csrf_token": token, "name": "Marco Bianchi", "typed_signature": "MB", "consent": "yes"})
        assert answer.status_code == 403
    db.session.expire_all()
    assert db.session.get(Signatory, row.id).status == "pending"
