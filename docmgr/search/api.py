"""/api/v1 endpoints of the search module."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("search_api", __name__)
