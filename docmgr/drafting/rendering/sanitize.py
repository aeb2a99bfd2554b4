"""The HTML sanitiser for author markup: an allow-list of tags and attributes, applied by nh3 (ammonia).

Template bodies are written by legal staff and field values by any editor; the sides of each clause
are shown in the preview page and laid out by WeasyPrint, so their markup is cut down to what an
agreement needs. Tags outside the list are dropped but their text kept; the tags in
``DROPPED_WITH_CONTENT`` go with everything inside them.

Image addresses are not this module's concern: an ``<img src>`` keeps its URL (relative, or one of the
usual schemes plus ``data:`` and ``file:``), and it is WeasyPrint's restricted fetcher
(:func:`docmgr.pdf.restricted_url_fetcher`) that refuses to load it, as the preview page's
Content-Security-Policy does in the browser.
"""

from __future__ import annotations

import nh3

from docmgr.drafting.rendering.markup import Node, to_html

ALLOWED_TAGS = frozenset({
    "section", "div", "p", "br", "strong", "b", "em", "i", "u", "ul", "ol", "li", "h1", "h2", "h3", "h4",
    "span", "img", "table", "thead", "tbody", "tr", "td", "th", "small", "sup", "sub", "blockquote", "hr",
})
DROPPED_WITH_CONTENT = frozenset({
    "script", "style", "iframe", "object", "embed", "template", "svg", "math", "noscript", "head", "title", "link",
    "base", "form", "textarea", "select", "button",
})
ALLOWED_ATTRS = frozenset({"lang", "class", "colspan", "rowspan"})
IMG_ATTRS = frozenset({"src", "alt"})

_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes={"*": set(ALLOWED_ATTRS), "img": set(IMG_ATTRS)},
    url_schemes=set(nh3.ALLOWED_URL_SCHEMES) | {"data", "file"},
    link_rel=None,
    strip_comments=True,
)


def sanitized_html(nodes: list[Node | str]) -> str:
    """Author markup (a part of the parsed body) as HTML that keeps only the allowed tags and attributes."""
    return _CLEANER.clean(to_html(nodes))
