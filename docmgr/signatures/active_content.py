"""Active content in PDFs that go into an executed copy (wet-ink scans): found, so that such a scan is refused
with a reason, and stripped from what is merged, so that nothing of the kind reaches the executed PDF even from
a file accepted before this check existed.

"Active" is whatever a viewer may run or open by itself or on a click: JavaScript, launch and other non-GoTo
actions (open actions, additional actions on pages, annotations and the document), embedded or attached files,
rich media, XFA forms, and links to ``javascript:``, ``file:`` or ``data:`` URIs. A plain destination (the page
a viewer opens at) is not an action and is left alone.
"""

from __future__ import annotations

from typing import Any

# Keys whose mere presence makes a PDF active, with the reason reported for each.
_ACTIVE_KEYS = {
    "/JS": "JavaScript",
    "/JavaScript": "JavaScript",
    "/AA": "automatic actions",
    "/EmbeddedFiles": "embedded files",
    "/EmbeddedFile": "embedded files",
    "/RichMedia": "rich media",
    "/XFA": "an XFA form",
}
_ACTIVE_ACTIONS = {
    "/JavaScript": "JavaScript", "/Launch": "a launch action", "/SubmitForm": "a form submission",
    "/ImportData": "a data import", "/GoToR": "a link into another file", "/GoToE": "a link into an embedded file",
    "/Rendition": "a media action", "/Sound": "a media action", "/Movie": "a media action",
    "/RichMediaExecute": "rich media",
}
_UNSAFE_URI_SCHEMES = ("javascript:", "file:", "data:", "vbscript:")
# A scan has a few hundred objects; a file that needs more to be checked is refused rather than walked for ever.
MAX_OBJECTS = 200_000


def find_active_content(reader: Any) -> list[str]:
    """What active content a pypdf ``PdfReader`` holds (sorted reasons; empty when none). Walks every object
    reachable from the trailer once; a file too large to walk is reported as such."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    found: set[str] = set()
    seen: set[tuple[int, int]] = set()
    stack: list[Any] = [reader.trailer]
    visited = 0
    while stack:
        obj = stack.pop()
        if isinstance(obj, IndirectObject):
            key = (obj.idnum, obj.generation)
            if key in seen:
                continue
            seen.add(key)
            obj = obj.get_object()
        visited += 1
        if visited > MAX_OBJECTS:
            found.add("too many objects to check")
            break
        if isinstance(obj, DictionaryObject):
            for name, reason in _ACTIVE_KEYS.items():
                if name in obj:
                    found.add(reason)
            open_action = _value(obj, "/OpenAction")
            if isinstance(open_action, DictionaryObject) and _value(open_action, "/S") != "/GoTo":
                found.add("an open action")
            action = _value(obj, "/S")
            if action in _ACTIVE_ACTIONS:
                found.add(_ACTIVE_ACTIONS[action])
            uri = _value(obj, "/URI")
            if action == "/URI" and isinstance(uri, (str, bytes)):
                text = uri.decode("latin-1") if isinstance(uri, bytes) else str(uri)
                if text.strip().lower().startswith(_UNSAFE_URI_SCHEMES):
                    found.add("a script link")
            stack.extend(value for name, value in obj.items() if name != "/Parent")
        elif isinstance(obj, ArrayObject):
            stack.extend(obj)
    return sorted(found)


def _value(obj: Any, name: str) -> Any:
    value = obj.get(name)
    return value.get_object() if hasattr(value, "get_object") else value


def strip_active_content(writer: Any, page_numbers: range) -> None:
    """Remove from a pypdf ``PdfWriter`` the document-level actions, scripts and attachments, and from the given
    pages (the scans) their automatic actions and every annotation (a scan needs neither)."""
    from pypdf.generic import DictionaryObject, NameObject

    root = writer._root_object
    for key in ("/OpenAction", "/AA", "/AcroForm"):
        if key in root and (key != "/OpenAction" or isinstance(_value(root, key), DictionaryObject)):
            del root[NameObject(key)]
    if "/Names" in root:
        names = _value(root, "/Names")
        for key in ("/JavaScript", "/EmbeddedFiles"):
            if key in names:
                del names[NameObject(key)]
    for number in page_numbers:
        page = writer.pages[number]
        for key in ("/AA", "/Annots"):
            if key in page:
                del page[NameObject(key)]
    # What was cut off is still among the writer's objects: leave none of it in the file.
    writer.compress_identical_objects(remove_duplicates=False, remove_unreferenced=True)
