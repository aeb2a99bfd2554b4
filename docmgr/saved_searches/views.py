"""The saved-searches page: the user's own list (rename, daily e-mail on/off, delete), and saving from the search page."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from docmgr.accounts.models import User
from docmgr.errors import DocmgrError
from docmgr.extensions import db
from docmgr.saved_searches import services as saved
from docmgr.web import form_error

bp = Blueprint("saved_searches", __name__)


def _saved_page(error=None, status: int = 200):
    actor = current_user._get_current_object()
    return render_template("saved_searches/index.html", saved_searches=saved.list_saved(db.session, actor), error=error,
                           search_args=saved.search_args), status


@bp.get("/saved-searches")
@login_required
def index():
    return _saved_page()


def _change(change: Callable[[User], object], message: str):
    """The page's one POST path: the service called as the current user, one commit, ``message`` flashed and the
    list shown again; a refusal is rolled back and shown on the list with its status."""
    try:
        change(current_user._get_current_object())
        db.session.commit()
    except DocmgrError as exc:
        db.session.rollback()
        return _saved_page(form_error(exc), exc.status)
    flash(message, "success")
    return redirect(url_for("saved_searches.index"))


@bp.post("/saved-searches")
@login_required
def save():
    """From the search page: the current query and filters (hidden fields), a name and the digest box."""
    filters = {name: request.form.get(name) for name in saved.FILTER_NAMES if request.form.get(name)}
    return _change(lambda actor: saved.save_search(
        db.session, actor, name=request.form.get("name"), query=request.form.get("q", ""), filters=filters,
        digest=request.form.get("digest") or False,
    ), gettext("Search saved."))


@bp.post("/saved-searches/<int:saved_search_id>/edit")
@login_required
def edit(saved_search_id: int):
    return _change(lambda actor: saved.update_saved(
        db.session, actor, saved_search_id, name=request.form.get("name"), digest=request.form.get("digest") or False,
    ), gettext("Saved search updated."))


@bp.post("/saved-searches/<int:saved_search_id>/delete")
@login_required
def delete(saved_search_id: int):
    return _change(lambda actor: saved.delete_saved(db.session, actor, saved_search_id),
                   gettext("Saved search deleted."))
