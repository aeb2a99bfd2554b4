"""Demo data of the signatures module: the drafting demo's MoU is reviewed, approved by a second
legal officer, sent out for signature and signed in wet ink by the Italian party (the Russian
signature stays pending, so the dashboard has someone to wait for)."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from docmgr.accounts.models import User
from docmgr.database import utcnow
from docmgr.drafting.demo import DEMO_TITLE
from docmgr.drafting.models import Agreement, AgreementStatus
from docmgr.signatures.services import record_signature, review_submission, transition


def _handwritten_scan() -> bytes:
    """A small PNG that stands in for the scan of a signed signature page."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (600, 220), "white")
    draw = ImageDraw.Draw(image)
    draw.line((40, 170, 560, 170), fill="black", width=2)
    draw.line((60, 150, 140, 60, 200, 140, 260, 70, 330, 150, 420, 90), fill="navy", width=5, joint="curve")
    draw.text((40, 180), "Marco Bianchi", fill="black")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def load_signatures_demo(session: Session) -> None:
    """Idempotent: acts only while the demo MoU is still a rendered draft."""
    agreement = session.scalar(select(Agreement).where(Agreement.title == DEMO_TITLE))
    if agreement is None or agreement.status != AgreementStatus.DRAFT.value or not agreement.drafts:
        return
    users = {u.email: u for u in session.scalars(select(User).where(User.email.like("%@demo.docmgr.test")))}
    author, reviewer = users.get("legal@demo.docmgr.test"), users.get("legal2@demo.docmgr.test")
    italian_firm = users.get("firm.it@demo.docmgr.test")
    if author is None or reviewer is None or italian_firm is None:
        return
    transition(session, author, agreement.id, "in_review")
    transition(session, reviewer, agreement.id, "approved", reason="Checked both language versions.")
    transition(session, author, agreement.id, "out_for_signature", due_at=utcnow() + timedelta(days=30))
    italian = next((s for s in agreement.signatories if s.organization_id == italian_firm.organization_id), None)
    if italian is not None:
        outcome = record_signature(
            session, italian_firm, agreement.id, italian.id, stream=io.BytesIO(_handwritten_scan()),
            filename="firma-marco-bianchi.png", method="wet_ink",
        )
        if outcome.pending_review:  # a firm's scan counts once legal accepted it (issue 13)
            review_submission(session, author, agreement.id, italian.id, outcome.submission.id, "accept")
