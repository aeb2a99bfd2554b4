"""/api/v1 endpoints of the audit module."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("audit_api", __name__)
