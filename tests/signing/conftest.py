"""The signing tests use the real SMTP server of tests/mail and the signature tests' agreements."""

from __future__ import annotations

import pytest

from docmgr.extensions import db
from tests.mail.conftest import smtp  # noqa: F401  (fixture)
from tests.signatures.conftest import advance, cast, identity, make_agreement  # noqa: F401  (fixtures)


@pytest.fixture
def out_for_signature(app, cast, make_agreement, advance):  # noqa: F811 - the imported fixtures
    agreement = make_agreement()
    marco, anna = sorted(agreement.signatories, key=lambda s: s.organization_id != cast.org_it.id)
    marco.email, marco.name = "marco@example.it", "Marco Bianchi"
    anna.email, anna.name = "anna@example.ru", "Анна Смирнова"
    db.session.commit()
    advance(agreement, "out_for_signature")
    return agreement, marco, anna
