"""A shared "world" for the adversarial tests: firm A's things (document with a real PDF, agreements with
real drafts, signatures, submissions and a certificate) and the people who must not see or change them.

Built once per test module (password hashes, WeasyPrint renders and the signature flow are the slow
part); tests that use it must leave it as it was, which is what they assert anyway.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from docmgr import create_app
from docmgr.extensions import db
from tests.conftest import PASSWORD, corpus_bytes, csrf_from

# Markers that only firm A's things carry: none may ever appear in an answer to firm B.
SECRET_TITLE = "ALPHASECRETTITLE"
SECRET_FILENAME = "alphasecretfile.pdf"
SECRET_AGREEMENT = "ALPHASECRETAGREEMENT"
SECRET_SIGNATORY = "Alphasecret Signatory"
SECRET_MARKERS = (SECRET_TITLE, SECRET_FILENAME, SECRET_AGREEMENT, SECRET_SIGNATORY, "Alphasecret")


def make_test_app(tmp, **overrides):
    return create_app({
        "TESTING": True,
        "STORAGE_DIR": str(tmp / "storage"),
        "INDEX_DIR": str(tmp / "index"),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'test.sqlite3'}",
        "SECRET_KEY": "test-secret-key-that-must-never-leak-0123456789",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        **overrides,
    })


def png_bytes(width: int = 300, height: int = 120) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).line((10, height - 20, width - 20, 20), fill="black", width=4)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def mou_fields(org_id: int) -> dict[str, Any]:
    return {
        "subject_it": "la progettazione di linee di assemblaggio", "subject_ru": "проектирование сборочных линий",
        "sectors": ["Meccanica / Механика"], "effective_date": "2026-11-25", "duration_years": 3,
        "budget_eur": 1000.0, "signing_place_it": "Torino", "signing_place_ru": "Турин", "coordinator": org_id,
    }


@dataclass
class World:
    app: Any
    users: dict[str, Any] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    _browsers: dict[str, tuple[Any, str]] = field(default_factory=dict)

    def token(self, role: str) -> dict[str, str]:
        """An Authorization header for one of the world's users (issued once)."""
        if role not in self.tokens:
            user = self.users[role]
            response = self.app.test_client().post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD})
            assert response.status_code == 201, response.get_json()
            self.tokens[role] = {"Authorization": f"Bearer {response.get_json()['token']}"}
        return self.tokens[role]

    def browser(self, role: str) -> tuple[Any, str]:
        """A logged-in test client (its own cookie jar) and its CSRF token."""
        if role not in self._browsers:
            client = self.app.test_client()
            token = csrf_from(client.get("/login").get_data(as_text=True))
            response = client.post("/login", data={"email": self.users[role].email, "password": PASSWORD,
                                                    "csrf_token": token})
            assert response.status_code == 302, response.get_data(as_text=True)
            token = csrf_from(client.get("/account").get_data(as_text=True))
            self._browsers[role] = (client, token)
        return self._browsers[role]


def snapshot(app) -> tuple[dict[str, int], int]:
    """Row counts of every table and the number of stored blobs: a refused request changes neither."""
    from tests.conftest import stored_blob_count, table_counts

    db.session.rollback()
    return table_counts(), stored_blob_count(app)


def build_world(app) -> World:
    from docmgr.accounts.services import create_organization, create_user
    from docmgr.documents.services import Upload, create_document
    from docmgr.drafting.services import sync_templates

    world = World(app)
    org_a = create_organization(db.session, None, name="Alphasecret Firm S.r.l.", country="IT")
    org_a2 = create_organization(db.session, None, name="ООО Партнёр Альфа", country="RU")
    org_b = create_organization(db.session, None, name="Beta Firm S.p.A.", country="IT")
    for role, org in (("firm_a", org_a), ("firm_a2", org_a2), ("firm_b", org_b), ("legal", None), ("legal2", None),
                      ("admin", None), ("ministry", None)):
        world.users[role] = create_user(
            db.session, None, email=f"{role}@example.org", password=PASSWORD, role=role.split("_")[0].rstrip("2"),
            organization=org,
        )
    sync_templates(db.session)
    db.session.commit()
    world.ids.update(org_a=org_a.id, org_a2=org_a2.id, org_b=org_b.id)

    pdf = corpus_bytes("pdf/sample-files_002-trivial-libre-office-writer.pdf")
    doc_a = create_document(db.session, world.users["firm_a"], title_it=SECRET_TITLE, kind="proposal",
                            uploads=[Upload(io.BytesIO(pdf), SECRET_FILENAME, "it")])
    doc_b = create_document(db.session, world.users["firm_b"], title_it="Beta proposta", kind="proposal",
                            uploads=[Upload(io.BytesIO(b"Proposta Beta nel settore energetico."), "beta.txt", "it")])
    db.session.commit()
    world.ids.update(doc_a=doc_a.id, file_a=doc_a.files[0].id, doc_b=doc_b.id, file_b=doc_b.files[0].id)
    from docmgr.notes.services import add_note

    world.ids["note_a"] = add_note(db.session, world.users["legal"], "document", doc_a.id, "Nota interna su A").id
    db.session.commit()

    client = app.test_client()
    legal = world.token("legal")

    def agreement(title: str) -> int:
        payload = {
            "template": "mou", "title": title, "organization_ids": [org_a.id, org_a2.id],
            "fields": mou_fields(org_a.id),
            "signatories": [
                {"name": SECRET_SIGNATORY, "title": "Direttore", "organization_id": org_a.id, "email": "a@example.org"},
                {"name": "Анна Альфа", "title": "Директор", "organization_id": org_a2.id, "email": "b@example.org"},
            ],
        }
        response = client.post("/api/v1/agreements", json=payload, headers=legal)
        assert response.status_code == 201, response.get_json()
        agreement_id = response.get_json()["id"]
        response = client.post(f"/api/v1/agreements/{agreement_id}/drafts", headers=legal)
        assert response.status_code == 201, response.get_json()
        return agreement_id

    # An executed agreement: drafts, two wet-ink submissions and a certificate.
    executed = agreement(SECRET_AGREEMENT + " executed")
    for to, who in (("in_review", "legal"), ("approved", "legal2"), ("out_for_signature", "legal")):
        response = client.post(f"/api/v1/agreements/{executed}/transitions", json={"to": to}, headers=world.token(who))
        assert response.status_code == 200, response.get_json()
    signatories = client.get(f"/api/v1/agreements/{executed}", headers=legal).get_json()["signatories"]
    for index, signatory in enumerate(signatories):
        # One scanned counterpart signed by both: recorded explicitly as shared (else 409 duplicate_signature_file).
        response = client.post(
            f"/api/v1/agreements/{executed}/signatories/{signatory['id']}/signature", headers=legal,
            data={"method": "wet_ink", "file": (io.BytesIO(png_bytes()), "scan.png"),
                  "shared_counterpart": "true" if index else "false"}, content_type="multipart/form-data",
        )
        assert response.status_code == 201, response.get_json()
    state = client.get(f"/api/v1/agreements/{executed}/signatures", headers=legal).get_json()
    assert state["status"] == "executed", state["status"]
    world.ids.update(agreement_exec=executed, signatory_exec=signatories[0]["id"],
                     submission_exec=state["submissions"][0]["id"], version=1)

    # A draft agreement (editable) for the write routes.
    draft = agreement(SECRET_AGREEMENT + " draft")
    draft_body = client.get(f"/api/v1/agreements/{draft}", headers=legal).get_json()
    world.ids.update(agreement_draft=draft, signatory_draft=draft_body["signatories"][0]["id"])
    # The firm A user's own token (for the token-revocation route).
    world.token("firm_a")
    from sqlalchemy import select

    from docmgr.accounts.models import ApiToken

    world.ids["token_a"] = db.session.scalar(
        select(ApiToken.id).where(ApiToken.user_id == world.users["firm_a"].id).order_by(ApiToken.id.desc())
    )
    from docmgr.saved_searches.services import save_search

    world.ids["saved_search_a"] = save_search(db.session, world.users["firm_a"], name=SECRET_TITLE, query="proposta").id
    db.session.commit()
    return world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    app = make_test_app(tmp_path_factory.mktemp("security"))
    with app.app_context():
        db.create_all()
        yield build_world(app)
        db.session.remove()
        db.engine.dispose()


def assert_no_secret(body: str, context: str = "") -> None:
    for marker in SECRET_MARKERS:
        assert marker not in body, f"{marker!r} leaked in {context}: {body[:300]}"


def error_code(response) -> str | None:
    if response.is_json:
        return (response.get_json() or {}).get("error", {}).get("code")
    match = re.search(r'data-code="([a-z_]+)"', response.get_data(as_text=True))
    return match.group(1) if match else None
