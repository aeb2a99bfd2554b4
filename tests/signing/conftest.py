"""The signing tests use the real SMTP server of tests/mail and the signature tests' agreements."""

from __future__ import annotations

from tests.mail.conftest import smtp  # noqa: F401  (fixture)
from tests.signatures.conftest import advance, cast, make_agreement  # noqa: F401  (fixtures)
