from __future__ import annotations

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("drafting", __name__)


@bp.get("/agreements")
@login_required
def agreements():
    return "agreements: to be built"
