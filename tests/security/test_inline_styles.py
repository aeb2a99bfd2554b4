"""The pages' Content-Security-Policy forbids inline style attributes (style-src-attr): page templates carry none,
so no page breaks it. E-mail templates are exempt (mail clients need inline styles; no CSP applies there)."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "docmgr" / "templates"


def test_no_page_template_has_an_inline_style_attribute():
    offenders = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        if path.relative_to(TEMPLATES).parts[0] == "mail":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\sstyle\s*=", line):
                offenders.append(f"{path.relative_to(TEMPLATES)}:{number}")
    assert offenders == [], f"inline style attributes (move them to static/css/app.css): {offenders}"
