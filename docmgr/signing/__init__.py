"""Signatories in the loop (issue 13): personal signing links opened with an e-mailed one-time code."""

from __future__ import annotations

from flask import Flask

from docmgr.signing import views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
