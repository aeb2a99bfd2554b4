"""/api/v1 endpoints of the signatures module."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("signatures_api", __name__)
