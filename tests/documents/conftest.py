"""Fixtures of the document tests: a firm user and its API token."""

from __future__ import annotations

import pytest


@pytest.fixture
def firm(make_user):
    return make_user("firm")


@pytest.fixture
def headers(firm, token_for):
    return token_for(firm)
