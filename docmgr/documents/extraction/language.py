"""Which language a text is in, by its script: Italian (Latin), Russian (Cyrillic) or both."""

from __future__ import annotations

import re
from typing import Final

_CYRILLIC = re.compile("[\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f]")
_LATIN = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
MIN_LETTERS: Final = 20
BILINGUAL_SHARE: Final = 0.2


def detect_language(text: str) -> str | None:
    """'it', 'ru', 'bi' (both scripts substantially present) or None (< 20 letters).

    Only the script is counted: the service handles Italian and Russian only, so Latin means Italian. 'bi' when
    the minority script has at least 20% of the letters.
    """
    cyrillic = _CYRILLIC.subn("", text)[1]
    latin = _LATIN.subn("", text)[1]
    letters = cyrillic + latin
    if letters < MIN_LETTERS:
        return None
    if min(cyrillic, latin) >= BILINGUAL_SHARE * letters:
        return "bi"
    return "ru" if cyrillic > latin else "it"
