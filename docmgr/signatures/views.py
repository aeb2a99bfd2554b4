from __future__ import annotations

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("signatures", __name__)


@bp.get("/dashboard")
@login_required
def dashboard():
    return "dashboard: to be built"
