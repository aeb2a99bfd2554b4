"""The audit tests reuse the signature fixtures (agreements with real rendered PDFs)."""

from tests.signatures.conftest import advance, cast, identity, make_agreement  # noqa: F401
