from __future__ import annotations

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("search", __name__)


@bp.get("/search")
@login_required
def search_page():
    return "search: to be built"
