"""The rendered body as a tree: a forgiving parse of the author's markup that keeps source lines.

The clause parser walks this tree to find sections, sides and headings (and names the line where a
body breaks the contract); :func:`to_html` writes a part of it back out for the sanitiser.
"""

from __future__ import annotations

import html as html_lib
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset({"br", "img", "hr", "wbr", "meta", "input", "col", "source"})


@dataclass
class Node:
    """An element: its tag, attributes, the source line it starts on, and its children (elements and texts)."""

    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Node | str] = field(default_factory=list)

    def elements(self) -> list[Node]:
        return [c for c in self.children if isinstance(c, Node)]

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


class _TreeBuilder(HTMLParser):
    """A forgiving HTML tree builder (the stdlib parser; unclosed tags close at their parent's end)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, 1)
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: (v or "") for k, v in attrs}, self.getpos()[0])
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: (v or "") for k, v in attrs}, self.getpos()[0]))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_html(text: str) -> Node:
    """The tree of ``text`` under a ``#root`` node."""
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def to_html(nodes: list[Node | str]) -> str:
    """Markup for ``nodes`` as parsed: every tag and attribute kept, text and values escaped. Not safe
    to show by itself; :func:`docmgr.drafting.rendering.sanitize.sanitized_html` filters it."""
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(html_lib.escape(node, quote=False))
            continue
        attrs = "".join(f' {name}="{html_lib.escape(value, quote=True)}"' for name, value in node.attrs.items())
        out.append(f"<{node.tag}{attrs}>")
        if node.tag not in VOID:
            out.append(f"{to_html(node.children)}</{node.tag}>")
    return "".join(out)
