"""The two errors of rendering: a template that fails, and field declarations that are malformed.

A leaf module: every other part of :mod:`docmgr.drafting.rendering` raises these.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Marks a message for the translation catalogs (Babel extracts ``N_``). Rendering knows no locale: its
    errors keep the message id and its values, and the service that shows them translates
    (``docmgr.drafting.services.translated``)."""
    return message


class TemplateError(Exception):
    """A template that does not compile, render or produce the expected structure. ``msgid`` (marked with
    ``N_``) and ``params`` let the caller translate; ``message`` is the English text."""

    def __init__(self, msgid: str, line: int | None = None, **params: object):
        self.msgid = msgid
        self.params = params
        self.message = msgid % params if params else msgid
        super().__init__(self.message)
        self.line = line

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}" if self.line else self.message


class FieldDeclarationError(Exception):
    """A template's field declarations are malformed; ``path`` names the offending entry."""

    def __init__(self, msgid: str, path: str, **params: object):
        self.msgid = msgid
        self.params = {"path": path, **params}
        self.message = msgid % self.params
        super().__init__(self.message)
        self.path = path
