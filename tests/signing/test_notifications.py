"""Status mails: executed and declined agreements are announced to the drafting legal officer and the
parties' firm users, each in their own language, through the real SMTP server; HTML parts escape what
people typed."""

from __future__ import annotations

import io

from docmgr.extensions import db
from tests.signatures.conftest import png_scan


def by_recipient(smtp) -> dict[str, object]:
    return {message["To"].addresses[0].addr_spec: message for message in smtp.messages}


def test_executed_and_declined_are_announced(app, smtp, cast, make_agreement, advance):
    from docmgr.signatures import services

    legal, firm_it, firm_ru = cast.legal, cast.firm_it, cast.firm_ru
    agreement = make_agreement(title="Accordo <b>Alfa</b>")
    advance(agreement, "out_for_signature")
    smtp.messages.clear()
    for index, signatory in enumerate(agreement.signatories):
        # One scanned counterpart signed by both: legal records it explicitly as shared (else 409).
        services.record_signature(db.session, legal, agreement.id, signatory.id, stream=io.BytesIO(png_scan()),
                                  filename="scan.png", method="wet_ink", shared_counterpart=index == 1)
        db.session.commit()
    mails = by_recipient(smtp)
    assert set(mails) == {legal.email, firm_it.email, firm_ru.email}
    assert mails[firm_it.email]["Subject"].startswith("Eseguito:")
    assert mails[firm_ru.email]["Subject"].startswith("Исполнено:")
    assert mails[legal.email]["Subject"] == "Executed: Accordo <b>Alfa</b>"
    html = mails[legal.email].get_body(preferencelist=("html",)).get_content()
    assert "Accordo &lt;b&gt;Alfa&lt;/b&gt;" in html and "<b>Alfa</b>" not in html
    assert f"http://127.0.0.1:8000/agreements/{agreement.id}" in html

    other = make_agreement()
    advance(other, "out_for_signature")
    smtp.messages.clear()
    services.decline(db.session, firm_ru, other.id, other.signatories[1].id, "Clausola 4")
    db.session.commit()
    mails = by_recipient(smtp)
    text = mails[firm_it.email].get_body(preferencelist=("plain",)).get_content()
    assert mails[firm_it.email]["Subject"].startswith("Rifiutato:") and "Clausola 4" in text
    assert other.signatories[1].name in text
