"""Demo data for drafting: the shipped templates and one bilingual MoU with a rendered draft."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from docmgr.accounts.models import Organization, User
from docmgr.documents.models import Document
from docmgr.drafting.models import Agreement
from docmgr.drafting.services import create_agreement, render_draft, sync_templates, update_agreement

DEMO_TITLE = "MoU Meccatronica Piemontese – Sibirskie tekhnologii"
DEMO_TITLE_RU = "Меморандум «Мекатроника Пьемонтезе» – «Сибирские технологии»"


def load_drafting_demo(session: Session) -> None:
    """Idempotent: templates are synced by content, the MoU is created once (found by its title)."""
    sync_templates(session)
    if session.scalar(select(Agreement.id).where(Agreement.title == DEMO_TITLE)):
        return
    legal = session.scalar(select(User).where(User.email == "legal@demo.docmgr.test"))
    italian = session.scalar(select(Organization).where(Organization.name == "Meccatronica Piemontese S.r.l."))
    russian = session.scalar(select(Organization).where(Organization.name == "ООО «Сибирские технологии»"))
    if legal is None or italian is None or russian is None:
        return  # the base demo was not loaded
    proposal = session.scalar(select(Document).where(Document.organization_id == italian.id, Document.kind == "proposal"))
    agreement = create_agreement(
        session, legal, template_key="mou", title=DEMO_TITLE, title_alt=DEMO_TITLE_RU, organization_ids=[italian.id, russian.id],
        proposal_ids=[proposal.id] if proposal else [],
        fields={
            "effective_date": "2014-05-15", "duration_years": 3, "notice_days": 60, "budget_eur": 250000,
            "coordinator": italian.id, "signing_place_it": "Torino", "signing_place_ru": "Турин",
        },
        signatories=[
            {"name": "Marco Bianchi", "name_alt": "Марко Бьянки", "title": "Amministratore delegato",
             "title_alt": "Генеральный директор",
             "organization_id": italian.id, "email": "firm.it@demo.docmgr.test"},
            {"name": "Анна Смирнова", "name_alt": "Anna Smirnova", "title": "Генеральный директор",
             "title_alt": "Direttore generale", "organization_id": russian.id, "email": "firm.ru@demo.docmgr.test"},
        ],
    )
    if "subject_ru" not in agreement.fields:  # the proposal had no Russian title: give one
        update_agreement(session, legal, agreement.id, fields={"subject_ru": "мехатронные сборочные линии"})
    render_draft(session, legal, agreement.id)
