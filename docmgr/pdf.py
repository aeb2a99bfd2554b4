"""HTML → PDF with WeasyPrint, fetching nothing but the service's own bundled fonts and styles.

Every module that renders a PDF goes through ``html_to_pdf`` so that no template, field value or
stored text can make the renderer read a local file or reach the network.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
ALLOWED_PREFIX = "docmgr-static:/"


class FetchRefused(Exception):
    pass


def restricted_url_fetcher(url: str, *args, **kwargs):
    """Serve only files under docmgr/static addressed as ``docmgr-static:/fonts/…``; refuse the rest."""
    from weasyprint.urls import default_url_fetcher

    if url.startswith(ALLOWED_PREFIX):
        relative = url[len(ALLOWED_PREFIX):].lstrip("/")
        target = (STATIC_DIR / relative).resolve()
        if target.is_file() and STATIC_DIR in target.parents:
            return default_url_fetcher(target.as_uri(), *args, **kwargs)
    raise FetchRefused(f"refused to fetch {url[:200]!r}")


FONT_CSS = """
@font-face { font-family: "DejaVu Sans"; src: url("docmgr-static:/fonts/DejaVuSans.ttf"); }
@font-face { font-family: "DejaVu Sans"; font-weight: bold; src: url("docmgr-static:/fonts/DejaVuSans-Bold.ttf"); }
@font-face { font-family: "DejaVu Sans"; font-style: italic; src: url("docmgr-static:/fonts/DejaVuSans-Oblique.ttf"); }
@font-face { font-family: "DejaVu Serif"; src: url("docmgr-static:/fonts/DejaVuSerif.ttf"); }
@font-face { font-family: "DejaVu Serif"; font-weight: bold; src: url("docmgr-static:/fonts/DejaVuSerif-Bold.ttf"); }
body { font-family: "DejaVu Sans"; font-size: 10.5pt; }
"""


def html_to_pdf(html: str, css: str = "") -> bytes:
    from weasyprint import CSS, HTML

    stylesheets = [CSS(string=FONT_CSS + css, url_fetcher=restricted_url_fetcher, base_url=ALLOWED_PREFIX)]
    document = HTML(string=html, url_fetcher=restricted_url_fetcher, base_url=ALLOWED_PREFIX)
    return document.write_pdf(stylesheets=stylesheets)
