"""The webhook tests use the signature tests' agreements."""

from tests.signatures.conftest import advance, cast, make_agreement  # noqa: F401  (fixtures)
