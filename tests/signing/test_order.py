"""Signing order, CC and how it is signed (PATCH /agreements/ID): a sequential two-step agreement is
invited one step at a time through the real SMTP server; bad settings are refused by field, nothing
changes; the executed mail carries the executed copy and the certificate, also to copied recipients."""

from __future__ import annotations

import io
import re

import pytest

from docmgr.extensions import db
from tests.signatures.conftest import upload


def scan(n: int) -> bytes:
    """A distinct PNG "scan" per signatory (the same file twice is refused: test_duplicates)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (300, 120), "white")
    ImageDraw.Draw(image).line((10, 100 - n, 280, 20 + n), fill="black", width=4)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def recipients_of(smtp) -> list[str]:
    return [m["To"].addresses[0].addr_spec for m in smtp.messages]


def signing_url(message) -> str:
    return re.search(r"http://\S+/sign/\S+", message.get_body(preferencelist=("plain",)).get_content()).group(0)


@pytest.fixture
def approved(app, cast, make_agreement, advance):
    """An approved agreement: Marco (IT) and Anna (RU), each with an e-mail address."""
    agreement = make_agreement()
    marco, anna = sorted(agreement.signatories, key=lambda s: s.organization_id != cast.org_it.id)
    marco.email, marco.name = "marco@example.it", "Marco Bianchi"
    anna.email, anna.name = "anna@example.ru", "Анна Смирнова"
    db.session.commit()
    advance(agreement, "approved")
    return agreement, marco, anna


def settings_body(agreement, marco, anna, **extra) -> dict:
    return {"signing_order": "sequential",
            "signatories": [{"id": marco.id, "name": marco.name, "organization_id": marco.organization_id,
                             "email": marco.email, "order": 1},
                            {"id": anna.id, "order": 2}],
            "sign_by": "2099-12-31", "reminder_days": 2,
            "cc": [{"name": "Avv. Rossi", "email": "rossi@studio.example.it"}], **extra}


def test_bad_settings_are_refused_by_field_and_change_nothing(client, cast, token_for, approved):
    agreement, marco, anna = approved
    headers = token_for(cast.legal)
    before = client.get(f"/api/v1/agreements/{agreement.id}", headers=headers).get_json()
    bad = {"signing_order": "alphabetical", "sign_by": "2001-01-01", "reminder_days": 0,
           "cc": [{"name": "X", "email": "not an address"}],
           "signatories": [{"id": marco.id, "order": 0}, {"id": anna.id, "order": "first"}]}
    answer = client.patch(f"/api/v1/agreements/{agreement.id}", headers=headers, json=bad)
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "invalid_field"
    assert set(error["fields"]) == {"signing_order", "sign_by", "reminder_days", "cc[0].email",
                                    "signatories[0].order", "signatories[1].order"}
    assert "already passed" in error["fields"]["sign_by"]
    for one in ({"reminder_days": 61}, {"reminder_days": True}, {"sign_by": "tomorrow"},
                {"cc": [{"name": "X", "email": "a@b.it", "phone": "1"}]}, {"cc": "rossi@studio.example.it"}):
        answer = client.patch(f"/api/v1/agreements/{agreement.id}", headers=headers, json=one)
        assert answer.status_code == 422, one
        assert answer.get_json()["error"]["field"] == next(iter(one)) or "cc" in answer.get_json()["error"]["field"]
    after = client.get(f"/api/v1/agreements/{agreement.id}", headers=headers).get_json()
    assert after == before
    # Only the steps may change after approval: renaming a signatory needs the draft back.
    renamed = client.patch(f"/api/v1/agreements/{agreement.id}", headers=headers,
                           json={"signatories": [{"id": marco.id, "name": "Someone else", "order": 2}]})
    assert renamed.status_code == 409 and renamed.get_json()["error"]["code"] == "not_editable"
    # Firms and the ministry cannot change how it is signed.
    for user in (cast.firm_it, cast.ministry):
        assert client.patch(f"/api/v1/agreements/{agreement.id}", headers=token_for(user),
                            json={"reminder_days": 5}).status_code in (403, 404)


def send_out(agreement, cast):
    from docmgr.signatures import services

    services.transition(db.session, cast.legal, agreement.id, "out_for_signature")
    db.session.commit()


def test_sequential_steps_are_invited_one_after_the_other(app, client, smtp, cast, token_for, approved):
    agreement, marco, anna = approved
    legal = token_for(cast.legal)
    answer = client.patch(f"/api/v1/agreements/{agreement.id}", headers=legal,
                          json=settings_body(agreement, marco, anna))
    assert answer.status_code == 200, answer.get_json()
    shown = answer.get_json()
    assert shown["status"] == "approved"  # logistics, not text: the approval stands
    assert shown["signing_order"] == "sequential" and shown["reminder_days"] == 2
    assert shown["sign_by"] == "2099-12-31T23:59:59Z"
    assert shown["cc"] == [{"name": "Avv. Rossi", "email": "rossi@studio.example.it"}]
    assert [(s["id"], s["order"]) for s in shown["signatories"]] == [(marco.id, 1), (anna.id, 2)]

    firm_it, firm_ru = cast.firm_it, cast.firm_ru  # the parties' users, told of each signature
    smtp.messages.clear()
    send_out(agreement, cast)
    assert recipients_of(smtp) == ["marco@example.it"]  # step 1 only

    # Anna's turn has not come: her signature and her invitation are refused, in words.
    early = upload(client, legal, agreement.id, anna.id, scan(2), method="wet_ink", name="anna.png")
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "not_signatory_turn"
    assert "step 1 sign first" in early.get_json()["error"]["message"]
    invite = client.post(f"/api/v1/agreements/{agreement.id}/signatories/{anna.id}/invitation", headers=legal)
    assert invite.status_code == 409 and invite.get_json()["error"]["code"] == "not_signatory_turn"

    smtp.messages.clear()
    assert upload(client, legal, agreement.id, marco.id, scan(1), method="wet_ink", name="marco.png").status_code == 201
    got = recipients_of(smtp)
    assert "anna@example.ru" in got  # step 2 opens
    invitation = next(m for m in smtp.messages if m["To"].addresses[0].addr_spec == "anna@example.ru")
    assert client.get(signing_url(invitation).removeprefix("http://127.0.0.1:8000")).status_code == 200
    recorded = {m["To"].addresses[0].addr_spec: m for m in smtp.messages if m["To"].addresses[0].addr_spec != "anna@example.ru"}
    assert set(recorded) == {cast.legal.email, firm_it.email, firm_ru.email}
    assert "Marco Bianchi" in recorded[cast.legal.email]["Subject"]
    assert "Анна Смирнова" in recorded[cast.legal.email].get_body(preferencelist=("plain",)).get_content()

    smtp.messages.clear()
    assert upload(client, legal, agreement.id, anna.id, scan(2), method="wet_ink", name="anna.png").status_code == 201
    db.session.expire_all()
    assert db.session.get(type(agreement), agreement.id).status == "executed"
    got = {m["To"].addresses[0].addr_spec: m for m in smtp.messages}
    # Executed: legal, the parties' users, both signatories and the copied counsel, each once.
    assert set(got) == {cast.legal.email, firm_it.email, firm_ru.email, "marco@example.it", "anna@example.ru",
                        "rossi@studio.example.it"}
    assert len(smtp.messages) == 6
    for address, message in got.items():
        names = [part.get_filename() for part in message.iter_attachments()]
        assert f"agreement-{agreement.id}-certificate.pdf" in names, address
        assert any(name.endswith("-executed-wet-ink.pdf") for name in names), address
        certificate = next(p for p in message.iter_attachments() if p.get_filename().endswith("certificate.pdf"))
        assert certificate.get_content().startswith(b"%PDF")
    counsel = got["rossi@studio.example.it"].get_body(preferencelist=("plain",)).get_content()
    assert "/agreements/" not in counsel  # no page they could not open
    assert got["anna@example.ru"]["Subject"].startswith("Исполнено:")


def test_a_step_with_two_signatories_signs_in_parallel(app, smtp, cast, make_agreement, advance):
    from docmgr.signatures import services

    agreement = make_agreement(signatories=[("A1", cast.org_it), ("B1", cast.org_ru), ("A2", cast.org_it)])
    for signatory, email, order in zip(agreement.signatories, ("a1@x.it", "b1@x.ru", "a2@x.it"), (1, 1, 2),
                                       strict=True):
        signatory.email, signatory.order = email, order
    agreement.signing_order = "sequential"
    db.session.commit()
    smtp.messages.clear()
    advance(agreement, "out_for_signature")
    assert sorted(recipients_of(smtp)) == ["a1@x.it", "b1@x.ru"]
    smtp.messages.clear()
    services.record_signature(db.session, cast.legal, agreement.id, agreement.signatories[0].id,
                              stream=io.BytesIO(scan(1)), filename="a1.png", method="wet_ink")
    db.session.commit()
    assert "a2@x.it" not in recipients_of(smtp)  # B1, on the same step, has not signed yet
    services.record_signature(db.session, cast.legal, agreement.id, agreement.signatories[1].id,
                              stream=io.BytesIO(scan(2)), filename="b1.png", method="wet_ink")
    db.session.commit()
    assert "a2@x.it" in recipients_of(smtp)


@pytest.mark.app_config(MAIL_ATTACH_MAX_MB=0.001)
def test_a_large_executed_copy_is_linked_not_attached(app, client, smtp, cast, out_for_signature):
    from docmgr.signatures import services

    agreement, marco, anna = out_for_signature
    agreement.cc = [{"name": "Counsel", "email": "counsel@example.org"}]
    db.session.commit()
    for n, signatory in enumerate((marco, anna), start=1):
        services.record_signature(db.session, cast.legal, agreement.id, signatory.id, stream=io.BytesIO(scan(n)),
                                  filename="s.png", method="wet_ink")
        db.session.commit()
    message = next(m for m in smtp.messages if m["To"].addresses[0].addr_spec == "counsel@example.org")
    assert not list(message.iter_attachments())
    text = message.get_body(preferencelist=("plain",)).get_content()
    links = re.findall(r"http://127\.0\.0\.1:8000(/executed/\S+)", text)
    assert len(links) == 2
    certificate = client.get(links[-1])
    assert certificate.status_code == 200 and certificate.data.startswith(b"%PDF")
    assert client.get(links[-1][:-3] + "xyz").status_code == 410  # a tampered link opens nothing
