"""Which language a text is in: 'it', 'ru', 'bi' (Italian and Russian side by side) or another ISO 639-1 code.

The language is identified by py3langid (a naive Bayes model over byte n-grams, ~100 languages, shipped inside the
package: nothing is downloaded at run time), never by the script alone: Latin letters are English, French or
Italian by their words. Chosen over lingua-language-detector, which is more accurate on very short strings but
loaded 0.9 GB and took 10 s for a French text here, where py3langid takes 0.7 s once and ~75 MB, then a few ms
per document (README, "Languages").

'bi' means a substantial share of Italian *and* of Russian: the Latin-script part must be Italian and the
Cyrillic part Russian, each at least ``BILINGUAL_SHARE`` of the letters. A French text with a few OCR
misreadings in Cyrillic is French, not bilingual.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from typing import Any, Final

_CYRILLIC = re.compile("[\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f]")
_LATIN = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
_WORD = re.compile(r"\w+")
MIN_LETTERS: Final = 20
BILINGUAL_SHARE: Final = 0.2
# Long texts are judged on evenly spaced samples: the model is linear in the text's length (~2 ms per 1,000 chars).
SAMPLE_CHARS: Final = 2_000
MAX_SAMPLES: Final = 10
CONFIDENT: Final = 0.5  # the model's (normalised) probability above which its first guess is taken as it is
HOME_LANGUAGES: Final = ("it", "ru")
HOME_FACTOR: Final = 0.5
UNSURE: Final = 0.1  # below this, no answer: the caller falls back to the uploader's choice or the title's

_identifier: Any = None
_lock = threading.Lock()


def _model() -> Any:
    """py3langid's identifier, loaded once per process (~0.7 s; see :func:`warm_up`)."""
    global _identifier
    if _identifier is None:
        with _lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier


def warm_up() -> None:
    """Load the model now (at process start), so the first upload does not pay for it."""
    _model().classify("warm up")


def _sample(text: str) -> str:
    if len(text) <= SAMPLE_CHARS * MAX_SAMPLES:
        return text
    step = len(text) // MAX_SAMPLES
    return "\n".join(text[i * step: i * step + SAMPLE_CHARS] for i in range(MAX_SAMPLES))


def identify(text: str) -> str | None:
    """The most likely ISO 639-1 code of ``text`` (two letters; regional and three-letter labels of the model
    are skipped), or None without letters."""
    text = _sample(text)
    if not any(ch.isalpha() for ch in text):
        return None
    ranked = [(code, score) for code, score in _model().rank(text) if len(code) == 2]
    best, best_score = ranked[0]
    if best_score >= CONFIDENT:
        return best
    # Unsure (short or odd text: a title block, a table): the service's own languages win when the model
    # finds them about as likely as its first guess; else the guess stands if it is not a shot in the dark.
    for code, score in ranked[1:]:
        if code in HOME_LANGUAGES and score >= best_score * HOME_FACTOR:
            return code
    return best if best_score >= UNSURE else None


def _words_in(text: str, script: re.Pattern[str]) -> str:
    return " ".join(word for word in _WORD.findall(text) if script.search(word))


def _script(ch: str) -> str:
    """The script of a letter, as far as telling languages apart needs: Latin, Cyrillic or the Unicode
    block's name prefix of any other (ARABIC, CJK, THAI, GREEK…)."""
    if _LATIN.match(ch):
        return "LATIN"
    if _CYRILLIC.match(ch):
        return "CYRILLIC"
    return unicodedata.name(ch, "OTHER").split(" ", 1)[0]


def detect_language(text: str) -> str | None:
    """'it', 'ru', 'bi', another ISO 639-1 code ('en', 'fr', 'ar'…), or None (fewer than 20 letters).

    The words of the script most letters are in are identified (so a page of English with a line each of
    Arabic, Russian and Thai is English: the model counts bytes, and those scripts have two or three per
    letter); when both Latin and Cyrillic letters are a substantial share, each part is identified on its own.
    """
    scripts = Counter(_script(ch) for ch in _sample(text) if ch.isalpha())
    letters = sum(scripts.values())
    if letters < MIN_LETTERS:
        return None
    if min(scripts["LATIN"], scripts["CYRILLIC"]) >= BILINGUAL_SHARE * letters:
        parts = identify(_words_in(text, _LATIN)), identify(_words_in(text, _CYRILLIC))
        if parts == ("it", "ru"):
            return "bi"
    main = scripts.most_common(1)[0][0]
    return identify(" ".join(w for w in _WORD.findall(_sample(text)) if any(_script(c) == main for c in w if c.isalpha())))
