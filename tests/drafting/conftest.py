"""Fixtures for drafting: the shipped templates loaded, two parties (IT, RU), users of each role."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from docmgr.extensions import db


@pytest.fixture
def templates(app):
    from docmgr.drafting.services import sync_templates

    created = sync_templates(db.session)
    db.session.commit()
    return {t.key: t for t in created}


class World:
    """Two parties (IT, RU), an unrelated firm, and users of each role, created when first used
    (password hashing is the slow part of a test's setup)."""

    _ROLES = {
        "legal": ("legal", None), "admin": ("admin", None), "ministry": ("ministry", None),
        "firm_it": ("firm", "org_it"), "firm_ru": ("firm", "org_ru"), "firm_other": ("firm", "org_other"),
    }

    def __init__(self, make_user, org_it, org_ru, org_other):
        self._make_user = make_user
        self.org_it, self.org_ru, self.org_other = org_it, org_ru, org_other
        self._users: dict[str, object] = {}

    def __getattr__(self, name: str):
        if name.startswith("_") or name not in self._ROLES:
            raise AttributeError(name)
        if name not in self._users:
            role, org = self._ROLES[name]
            self._users[name] = self._make_user(role, getattr(self, org) if org else None)
        return self._users[name]


@pytest.fixture
def world(app, templates, make_org, make_user):
    org_it = make_org(
        "Meccatronica Piemontese S.r.l.", "IT", name_alt="Мекатроника Пьемонтезе",
        address="Via Nizza 150, 10126 Torino", address_alt="Виа Ницца 150, 10126 Турин",
    )
    org_ru = make_org(
        "ООО «Сибирские технологии»", "RU", name_alt="OOO Sibirskie tekhnologii",
        address="Новосибирск, ул. Ленина 12", address_alt="Novosibirsk, via Lenin 12",
    )
    org_other = make_org("Energia Alpina S.p.A.", "IT", name_alt="Энерджия Альпина")
    return World(make_user, org_it, org_ru, org_other)


MOU_FIELDS = {
    "subject_it": "la progettazione di linee di assemblaggio meccatroniche",
    "subject_ru": "проектирование мехатронных сборочных линий",
    "sectors": ["Meccanica / Механика", "Energia / Энергетика"],
    "effective_date": "2026-11-25",
    "duration_years": 3,
    "budget_eur": 1234.56,
    "signing_place_it": "Torino",
    "signing_place_ru": "Турин",
}


def mou_payload(world, **overrides) -> dict:
    payload = {
        "template": "mou",
        "title": "MoU meccatronica Torino–Novosibirsk",
        "organization_ids": [world.org_it.id, world.org_ru.id],
        "fields": dict(MOU_FIELDS, coordinator=world.org_it.id),
        "signatories": [
            {"name": "Marco Bianchi", "name_alt": "Марко Бьянки", "title": "Amministratore delegato",
             "organization_id": world.org_it.id, "email": "marco@example.org"},
            {"name": "Анна Смирнова", "name_alt": "Anna Smirnova", "title": "Генеральный директор",
             "organization_id": world.org_ru.id, "email": "anna@example.org", "due_at": "2026-12-31"},
        ],
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def create_mou(client, token_for, world):
    """POST /agreements as legal staff; returns the JSON of the new agreement."""

    def create(**overrides) -> dict:
        response = client.post("/api/v1/agreements", json=mou_payload(world, **overrides), headers=token_for(world.legal))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return create


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def squash(text: str) -> str:
    """PDF text extraction breaks lines and doubles spaces inside justified paragraphs."""
    return " ".join(text.split())
