"""The same file cannot sign twice: a scan already recorded for another signatory of the agreement is
refused (409 duplicate_signature_file) unless legal records one counterpart signed by several
signatories (shared_counterpart=true, staff only, audited)."""

from __future__ import annotations

import json

from docmgr.extensions import db
from tests.conftest import table_counts
from tests.signatures.conftest import png_scan, upload


def test_the_same_scan_for_a_second_signatory_is_refused(client, cast, token_for, out_for_signature):
    agreement, marco, anna = out_for_signature
    legal, firm_ru = token_for(cast.legal), token_for(cast.firm_ru)
    assert upload(client, legal, agreement.id, marco.id, png_scan(), method="wet_ink", name="a.png").status_code == 201
    before = table_counts()
    again = upload(client, legal, agreement.id, anna.id, png_scan(), method="wet_ink", name="b.png")
    assert again.status_code == 409
    error = again.get_json()["error"]
    assert error["code"] == "duplicate_signature_file" and error["signatory_id"] == marco.id
    assert "already recorded as the signed copy of Marco Bianchi" in error["message"]
    assert table_counts() == before  # nothing stored, nothing audited
    # A firm user cannot claim a shared counterpart; a wrong flag value is refused by name.
    firm = upload(client, firm_ru, agreement.id, anna.id, png_scan(), method="wet_ink",
                  shared_counterpart="true")
    assert firm.status_code == 403
    wrong = upload(client, legal, agreement.id, anna.id, png_scan(), method="wet_ink", shared_counterpart="maybe")
    assert wrong.status_code == 422 and wrong.get_json()["error"]["field"] == "shared_counterpart"
    after = table_counts()
    assert {k: v for k, v in after.items() if k not in ("audit_events",)} == {
        k: v for k, v in before.items() if k not in ("audit_events",)}  # the 403 is audited, nothing else changed


def test_legal_records_one_counterpart_signed_by_both(client, cast, token_for, out_for_signature):
    agreement, marco, anna = out_for_signature
    legal = token_for(cast.legal)
    assert upload(client, legal, agreement.id, marco.id, png_scan(), method="wet_ink").status_code == 201
    shared = upload(client, legal, agreement.id, anna.id, png_scan(), method="wet_ink", shared_counterpart="true")
    assert shared.status_code == 201, shared.get_json()
    state = client.get(f"/api/v1/agreements/{agreement.id}/signatures", headers=legal).get_json()
    assert state["status"] == "executed"
    assert [s["shared_counterpart"] for s in state["submissions"]] == [False, True]
    from docmgr.audit.models import AuditEvent

    recorded = db.session.query(AuditEvent).filter_by(action="signature.recorded", agreement_id=agreement.id).all()
    assert json.loads(recorded[-1].data)["shared_counterpart"] is True
