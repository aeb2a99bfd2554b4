"""/api/v1 endpoints of the drafting module."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("drafting_api", __name__)
