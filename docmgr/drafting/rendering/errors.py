"""The two errors of rendering: a template that fails, and field declarations that are malformed.

A leaf module: every other part of :mod:`docmgr.drafting.rendering` raises these.
"""

from __future__ import annotations


class TemplateError(Exception):
    """A template that does not compile, render or produce the expected structure."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}" if self.line else self.message


class FieldDeclarationError(Exception):
    """A template's field declarations are malformed; ``path`` names the offending entry."""

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.message = message
        self.path = path
