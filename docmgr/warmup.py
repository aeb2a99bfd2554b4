"""Warming a fresh process, so the first upload and the first agreement render after a restart cost what the
hundredth does.

What a cold process pays on first use: starting the fork server of limited children (it imports pypdf, pdfium,
python-docx, Pillow, Jinja… once, :mod:`docmgr.limits`), loading the language model (py3langid, ~0.7 s),
WeasyPrint's first render (fontconfig, Pango, the bundled fonts), and the signature checks' template process. :func:`warm_up` pays them at start instead:
gunicorn calls it in each web worker before it accepts requests (``gunicorn.conf.py``, ``post_worker_init``),
``docmgr worker`` before it takes work. ``WARM_UP`` (``DOCMGR_WARM_UP``) turns it off; unit tests never call it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask import Flask

from docmgr.documents.extraction import language
from docmgr.limits import ChildLimits, run_in_limited_child
from docmgr.pdf import html_to_pdf
from docmgr.signatures.checking import VERIFIER

log = logging.getLogger(__name__)

WARM_HTML = '<p lang="it">Accordo di partenariato</p><p lang="ru">Соглашение о партнёрстве</p>'


def _child_ready() -> bool:
    return True


def start_sandbox() -> None:
    """Start the fork server (with its preloaded libraries) and one child through it."""
    if run_in_limited_child(_child_ready, (), ChildLimits(timeout_seconds=120), name="docmgr-warm-up") is not True:
        raise RuntimeError("the limited child did not answer")


def warm_pdf() -> None:
    """One small render through the same path agreements take: WeasyPrint, the bundled fonts, both scripts."""
    html_to_pdf(WARM_HTML)


def warm_up(app: Flask, *, pdf: bool = True) -> dict[str, float]:
    """Warm this process; returns seconds per step. A failing step is logged and skipped (never stops a start).

    ``pdf`` (web workers) also renders once and starts the signature checks' template process (pyHanko,
    gostcrypto, the GOST curves: ~2 s that the first signature upload would otherwise pay)."""
    steps: list[tuple[str, Callable[[], None]]] = [("sandbox", start_sandbox), ("language", language.warm_up)]
    if pdf:
        steps += [("pdf", warm_pdf), ("signatures", VERIFIER.start)]
    timings: dict[str, float] = {}
    with app.app_context():
        for name, step in steps:
            started = time.perf_counter()
            try:
                step()
            except Exception:  # noqa: BLE001 - a cold first use is slower, not broken
                log.warning("warm-up step %s failed", name, exc_info=True)
                continue
            timings[name] = round(time.perf_counter() - started, 3)
    log.info("warmed up: %s", ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
    return timings
