"""HTML → PDF with WeasyPrint, fetching nothing but the service's own bundled fonts and styles.

Every module that renders a PDF goes through ``html_to_pdf`` so that no template, field value or
stored text can make the renderer read a local file or reach the network.
"""

from __future__ import annotations

import atexit
import mimetypes
import threading
from functools import lru_cache
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
ALLOWED_PREFIX = "docmgr-static:/"


class FetchRefused(Exception):
    pass


@lru_cache(maxsize=32)
def _static_bytes(path: Path) -> bytes:
    return path.read_bytes()


def restricted_url_fetcher(url: str, *args, **kwargs):
    """Serve only files under docmgr/static addressed as ``docmgr-static:/fonts/…``; refuse the rest.

    Returns a WeasyPrint ``URLFetcherResponse`` (WeasyPrint ≥ 68 no longer takes dicts). WeasyPrint
    catches the refusal, logs a warning and leaves the image or font out.
    """
    from weasyprint.urls import URLFetcherResponse

    if url.startswith(ALLOWED_PREFIX):
        relative = url[len(ALLOWED_PREFIX):].lstrip("/")
        target = (STATIC_DIR / relative).resolve()
        if target.is_file() and STATIC_DIR in target.parents:
            content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            return URLFetcherResponse(target.as_uri(), _static_bytes(target), {"Content-Type": content_type})
    raise FetchRefused(f"refused to fetch {url[:200]!r}")


def _fetcher():
    """WeasyPrint 70 wants a ``URLFetcher`` instance; ours delegates every URL to the module-level
    ``restricted_url_fetcher`` (looked up at call time, so tests can wrap it to record calls)."""
    from weasyprint.urls import URLFetcher

    class RestrictedURLFetcher(URLFetcher):
        def fetch(self, url, headers=None):  # noqa: ARG002 - WeasyPrint's signature
            return restricted_url_fetcher(url)

    return RestrictedURLFetcher(allowed_protocols=("docmgr-static",))


FONT_CSS = """
@font-face { font-family: "DejaVu Sans"; src: url("docmgr-static:/fonts/DejaVuSans.ttf"); }
@font-face { font-family: "DejaVu Sans"; font-weight: bold; src: url("docmgr-static:/fonts/DejaVuSans-Bold.ttf"); }
@font-face { font-family: "DejaVu Sans"; font-style: italic; src: url("docmgr-static:/fonts/DejaVuSans-Oblique.ttf"); }
@font-face { font-family: "DejaVu Serif"; src: url("docmgr-static:/fonts/DejaVuSerif.ttf"); }
@font-face { font-family: "DejaVu Serif"; font-weight: bold; src: url("docmgr-static:/fonts/DejaVuSerif-Bold.ttf"); }
body { font-family: "DejaVu Sans"; font-size: 10.5pt; }
"""


_per_thread = threading.local()


@atexit.register
def _drop_shared_fonts() -> None:
    """Free the main thread's FontConfiguration while modules still exist (its __del__ needs them)."""
    _per_thread.fonts = None


def _shared_fonts():
    """One FontConfiguration and bundled-fonts stylesheet per thread, reused by every render.

    A fresh FontConfiguration per render re-registers the five fonts with fontconfig each time and
    its native memory is never given back (RSS grew by ~0.3 MB per render); reusing one keeps RSS
    flat and saves ~50 ms per render. Per thread, because the underlying fontconfig/Pango objects
    are not meant to be shared between threads.
    """
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    if getattr(_per_thread, "fonts", None) is None:
        font_config = FontConfiguration()
        stylesheet = CSS(string=FONT_CSS, url_fetcher=_fetcher(), base_url=ALLOWED_PREFIX, font_config=font_config)
        _per_thread.fonts = (font_config, stylesheet)
    return _per_thread.fonts


def html_to_pdf(html: str, css: str = "") -> bytes:
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    fetcher = _fetcher()
    # @font-face rules are only honoured through a FontConfiguration shared by the stylesheets and
    # the render; without it WeasyPrint silently falls back to whatever fonts the system has.
    font_config, fonts_stylesheet = _shared_fonts()
    if "@font-face" in css:  # a caller's own fonts must not pile up in the shared configuration
        font_config = FontConfiguration()
        fonts_stylesheet = CSS(string=FONT_CSS, url_fetcher=fetcher, base_url=ALLOWED_PREFIX, font_config=font_config)
    stylesheets = [fonts_stylesheet]
    if css:
        stylesheets.append(CSS(string=css, url_fetcher=fetcher, base_url=ALLOWED_PREFIX, font_config=font_config))
    document = HTML(string=html, url_fetcher=fetcher, base_url=ALLOWED_PREFIX)
    return document.write_pdf(stylesheets=stylesheets, font_config=font_config)
