"""Text analysis for the bilingual index: folding, stemming and cross-script name skeletons.

Pure functions and Whoosh analyzer chains, no Flask. Everything here is deterministic and runs the
same way at index time and at query time, which is all that matching needs:

* ``fold`` lowercases nothing but removes accents from Latin letters (``città`` → ``citta``) and
  maps ``ё`` to ``е``; Cyrillic ``й`` is kept (it is a different letter, not an accented ``и``).
* ``language_analyzer(lang)`` = tokenizer → lowercase → fold → stop words of ``lang`` → Snowball
  stemmer. The stemmer is chosen per token by script: Cyrillic tokens get the Russian stemmer and
  Latin ones the Italian stemmer, whatever the field. For Italian and Russian the script *is* the
  language, so a Russian sentence pasted into an Italian file (or a file labelled with the wrong
  language) is still stemmed correctly; only the stop-word list follows the field's language.
  Accents are folded before stemming so that ``universita`` and ``università`` stem alike.
* ``name_skeleton(word)`` transliterates Cyrillic to Latin with one scheme and then folds the
  spelling variants of the common transliteration schemes (Kuznetsov/Kuznecov/Kuznetsoff,
  Sibirskie/Sibirskiye/Sibirskije…, and the Italian spellings gli/gn of ль/нь: Togliatti,
  Bologna) to one key, so a name is found in whichever script or spelling it is typed. The key is
  deliberately lossy: it is only ever compared with other keys.
* ``proper_names(text)`` (capitalised words not starting a sentence) and
  ``place_adjective_names(text)`` (the place names behind Russian adjectives such as
  ``тольяттинского``) are the names of a document's text that go into the ``names`` field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache

from whoosh.analysis import CompositeAnalyzer, Filter, LowercaseFilter, RegexTokenizer, StopFilter, Token, Tokenizer
from whoosh.lang import stemmer_for_language, stopwords_for_language

from docmgr.vocab import CYRILLIC

# --- folding ---------------------------------------------------------------------------------------

_CYRILLIC = CYRILLIC
_LATIN = re.compile(r"[a-zA-Z\u00c0-\u024f]")


@lru_cache(maxsize=200_000)
def fold(word: str) -> str:
    """Accent-free, ``ё``-free form of one (lowercased) word; Cyrillic letters otherwise untouched."""
    if word.isascii():
        return word
    word = word.replace("ё", "е").replace("Ё", "Е")
    out = []
    for char in word:
        if "\u0400" <= char <= "\u04ff" or char.isascii():
            out.append(char)
            continue
        decomposed = unicodedata.normalize("NFD", char)
        base = "".join(c for c in decomposed if not unicodedata.combining(c))
        out.append(_LATIN_SPECIAL.get(char, base))
    return "".join(out)


# Letters NFD does not decompose to a plain Latin letter.
_LATIN_SPECIAL = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l", "ı": "i"}


def fold_text(text: str) -> str:
    """``fold`` applied to a whole string (word boundaries do not matter to it)."""
    return "".join(fold(char) if not char.isascii() else char for char in text)


# --- stemming ---------------------------------------------------------------------------------------

_STEM_IT = stemmer_for_language("it")
_STEM_RU = stemmer_for_language("ru")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball stem of a folded, lowercased word, by script (Cyrillic: Russian, Latin: Italian)."""
    if _CYRILLIC.search(word):
        return _STEM_RU(word)
    if word.isdigit() or len(word) < 3:
        return word
    return _STEM_IT(word)


def _folded_stopwords(lang: str) -> frozenset[str]:
    if lang == BODY:  # both languages' lists: they cannot clash, one is Latin and the other Cyrillic
        return _folded_stopwords("it") | _folded_stopwords("ru")
    return frozenset(fold(word.lower()) for word in stopwords_for_language(lang))


# The combined field's "language": stemming goes by script anyway, so one field analysed with both
# languages' stop words carries titles, texts and labels of both languages (see ``body_value``).
BODY = "body"
SEGMENT = "\x1e"  # separates the parts of a body value; phrases never match across two parts
BOOSTED = "\x1f"  # a part starting with this is a title: its words weigh TITLE_BOOST each
LABEL = "\x1d"  # a part starting with this is a label (organisation, session, file names)
TITLE_BOOST = 3.0
SEGMENT_GAP = 100  # positions left between two parts
# Titles and labels sit at positions from HEAD_POSITION on, the files' texts below it: that is how
# the `text:` filter tells a word of the text from a word of the title in the one combined field
# (a span query on positions, see docmgr.search.engine.InText). No extracted text comes near
# a billion words.
HEAD_POSITION = 1 << 30


class FoldFilter(Filter):
    """Applies :func:`fold` to every token (after lowercasing)."""

    def __eq__(self, other):
        return other is not None and self.__class__ is other.__class__

    def __call__(self, tokens):
        for token in tokens:
            token.text = fold(token.text)
            yield token


class ScriptStemFilter(Filter):
    """Snowball-stems every token with the stemmer of its script (see the module docstring)."""

    def __eq__(self, other):
        return other is not None and self.__class__ is other.__class__

    def __call__(self, tokens):
        for token in tokens:
            if not token.stopped:
                token.text = stem(token.text)
            yield token


# Words: letters/digits, keeping inner apostrophes out (Italian elision "dell'accordo" → dell, accordo).
WORD_PATTERN = r"\w+(?:\.?\w+)*"


class LanguageTokenizer(Tokenizer):
    """tokenize → lowercase → fold → stop words → stem, fused into one pass.

    Equivalent to ``RegexTokenizer | LowercaseFilter | FoldFilter | StopFilter(renumber) |
    ScriptStemFilter`` (kept below as ``language_chain`` and compared in the tests), but about twice
    as fast: indexing speed is dominated by per-token work and each Whoosh filter is a generator
    layer per token. Each distinct word is analysed once and remembered."""

    CACHE_LIMIT = 300_000

    def __init__(self, lang: str):
        self.lang = lang
        self.stoplist = _folded_stopwords(lang)
        self.expression = re.compile(WORD_PATTERN)
        self._cache: dict[str, tuple[str, bool]] = {}

    def __getstate__(self):  # the multi-process writer pickles analyzers; leave the cache behind
        return {"lang": self.lang}

    def __setstate__(self, state):
        self.__init__(state["lang"])

    def __eq__(self, other):
        return other is not None and self.__class__ is other.__class__ and self.lang == other.lang

    def _form(self, raw: str) -> tuple[str, bool]:
        """(index form, is a stop word) of one raw word."""
        word = fold(raw.lower())
        if word in self.stoplist:
            result = (word, True)
        else:
            result = (stem(word), False)
        if len(self._cache) >= self.CACHE_LIMIT:
            self._cache.clear()
        self._cache[raw] = result
        return result

    def find(self, value: str, forms: set[str], mixed_runs: Iterable[int] | None = None) -> list[tuple[int, int, str]]:
        """(start, end, form) of the words of ``value`` whose index form is in ``forms``: what
        highlighting needs, without building a token per word, at a cost that grows with the
        number of candidate words rather than with the length of ``value``.

        A word can only have one of ``forms`` if its folded form starts with one of the
        :func:`_stem_prefixes`, or if it mixes Latin and Cyrillic letters. The first are found by a
        regular expression per prefix over the raw text (:func:`_prefix_regex`: each letter of a prefix
        matches every character that folds to it, where no word character comes before), scanned in C;
        the second are the runs
        :meth:`mixed_runs` lists, which do not depend on the query (pass them when remembered).
        Only those words are folded and stemmed."""
        prefixes = _stem_prefixes(forms)
        if not prefixes or "" in prefixes or not all(_FAST_PREFIX.fullmatch(p) for p in prefixes):
            return self._find_by_scanning(value, forms, prefixes)
        starts: set[int] = set()
        for prefix in prefixes:  # one scan per prefix: a pattern starting with one character class
            search = _prefix_regex(prefix).search  # lets the regex engine skip most positions in C
            match = search(value)
            while match is not None:  # overlapping matches too: one search from each next character
                starts.add(match.start())
                match = search(value, match.start() + 1)
        found: dict[int, tuple[int, int, str]] = {}
        expression, words_of_run = self.expression, {}
        for start in sorted(starts):
            before = value[start - 1] if start else " "
            if not _IN_RUN(before):  # the start of a run: a word starts here if any does
                word = expression.match(value, start)
                if word is not None:
                    self._check(value, start, word.end(), forms, prefixes, found)
                continue
            if before != ".":  # inside a word (the pattern leaves these out already)
                continue
            run = _run_start(value, start)  # after a dot: the run's words tell
            words = words_of_run.get(run)
            if words is None:
                words = words_of_run[run] = {m.start(): m.end() for m in _words_of_run(expression, value, run)}
            end = words.get(start)
            if end is not None:
                self._check(value, start, end, forms, prefixes, found)
        for run in self.mixed_runs(value) if mixed_runs is None else mixed_runs:
            for word in _words_of_run(expression, value, run):
                self._check(value, word.start(), word.end(), forms, prefixes, found)
        return [found[start] for start in sorted(found)]

    # Every how many positions (words that are not stop words) ``checkpoints`` notes a character offset.
    CHECKPOINT_EVERY = 4

    def checkpoints(self, value: str) -> tuple[int, list[int]]:
        """(number of positions, character offsets of positions 0, K, 2K…) of ``value`` analysed as
        one plain part (K = ``CHECKPOINT_EVERY``): what :meth:`locate` needs to turn the positions an
        index keeps for a word into characters by tokenising at most K words per match. Computed
        once, at index time: one pass of the tokenizer, without stemming."""
        every, cache, stoplist, count, offsets = self.CHECKPOINT_EVERY, self._cache, self.stoplist, 0, []
        for match in self.expression.finditer(value):
            raw = match.group(0)
            known = cache.get(raw)  # a stop word is one whose folded form is listed (as _form decides)
            if (known[1] if known is not None else fold(raw.lower()) in stoplist):
                continue
            if count % every == 0:
                offsets.append(match.start())
            count += 1
        return count, offsets

    def locate(self, value: str, positions: Iterable[int], offsets: list[int], forms: set[str],
               limit: int | None = None) -> list[tuple[int, int, str]] | None:
        """(start, end, form) of the words at ``positions`` (counted from the start of ``value``, as
        :meth:`checkpoints` counts them, whose ``offsets`` it made): the words an index found for
        ``forms``, placed in the text by tokenising from the checkpoint before each. The cost follows
        the number of words found, not the length of the text. Words ending past ``limit``
        characters are left out. None when a word found there does not have one of ``forms`` (the
        checkpoints do not belong to this text): the caller then scans the text."""
        every, cache, form, expression = self.CHECKPOINT_EVERY, self._cache, self._form, self.expression
        found: list[tuple[int, int, str]] = []
        words, position = None, -1  # the walk: the next word's position, and the words from there on
        for target in sorted(positions):
            block = target // every
            if target < 0 or block >= len(offsets):
                return None
            if limit is not None and offsets[block] >= limit:
                break
            if words is None or position > target or target - position >= every:
                words, position = expression.finditer(value, offsets[block]), block * every
            for match in words:
                raw = match.group(0)
                text, stopped = cache.get(raw) or form(raw)
                if stopped:
                    continue
                position += 1
                if position - 1 == target:
                    if text not in forms:
                        return None
                    if limit is None or match.end() <= limit:
                        found.append((match.start(), match.end(), text))
                    break
            else:
                return None
        return found

    @staticmethod
    def mixed_runs(value: str) -> tuple[int, ...]:
        """Where the runs of word characters holding both Latin and Cyrillic letters start (rare;
        the same whatever the query, so callers may remember them per text)."""
        return tuple(sorted({_run_start(value, m.start()) for m in _script_meeting().finditer(value)}))

    def _check(self, value: str, start: int, end: int, forms: set[str], prefixes: tuple[str, ...],
               found: dict[int, tuple[int, int, str]]) -> None:
        raw = value[start:end]
        cached = self._cache.get(raw)
        if cached is None:
            folded = _folded_single_script(raw)
            if folded is not None and not folded.startswith(prefixes):
                return
            cached = self._form(raw)
        if cached[0] in forms and not cached[1]:
            found[start] = (start, end, cached[0])

    def _find_by_scanning(self, value: str, forms: set[str], prefixes: tuple[str, ...]) -> list[tuple[int, int, str]]:
        """``find`` word by word over the whole text (forms outside Latin and Cyrillic letters)."""
        cache, form = self._cache, self._form
        found = []
        for match in self.expression.finditer(value):
            raw = match.group(0)
            cached = cache.get(raw)
            if cached is None:
                folded = _folded_single_script(raw)
                if folded is not None and not folded.startswith(prefixes):
                    continue
                cached = form(raw)
            if cached[0] in forms and not cached[1]:
                found.append((match.start(), match.end(), cached[0]))
        return found

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True, start_pos=0,
                 start_char=0, tokenize=True, mode="", **kwargs):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:  # wildcard and prefix text: normalised, not stemmed
            token.original = token.text = fold(value.lower())
            token.boost, token.stopped = 1.0, False
            if positions:
                token.pos = start_pos
            if chars:
                token.startchar, token.endchar = start_char, start_char + len(value)
            yield token
            return
        cache, form = self._cache, self._form
        pos = start_pos
        for index, match in enumerate(self.expression.finditer(value)):
            raw = match.group(0)
            text, stopped = cache.get(raw) or form(raw)
            if stopped and removestops:
                continue
            token.text, token.stopped, token.boost = text, stopped, 1.0
            if keeporiginal:
                token.original = raw
            if positions:
                if stopped:  # as StopFilter: stop words keep the tokenizer's position
                    token.pos = start_pos + index
                else:
                    token.pos = pos
                    pos += 1
            if chars:
                token.startchar, token.endchar = start_char + match.start(), start_char + match.end()
            yield token


@lru_cache(maxsize=200_000)
def _folded_single_script(raw: str) -> str | None:
    """``fold(raw.lower())``, or None for a word mixing Latin and Cyrillic letters."""
    folded = fold(raw.lower())
    if not folded.isascii() and _LATIN.search(folded) and _CYRILLIC.search(folded):
        return None
    return folded


def _stem_prefixes(forms: set[str]) -> tuple[str, ...]:
    """What a word's folded form must start with to stem to one of ``forms`` (unless it mixes
    Latin and Cyrillic letters: the Russian stemmer turns its Latin letters Cyrillic). A stem is
    a prefix of the folded word but for its last letter (Italian ``-enza`` stems as ``-ente``:
    differenza → different) or, in Cyrillic, its last two (the Russian stemmer may leave half a
    transliterated ``ю``/``я``: воюющих → вои^). The tests fail if either rule is loosened."""
    return tuple(sorted({f[:-2] if _CYRILLIC.search(f) else f[:-1] for f in forms}))


# Prefixes the candidate scan handles: folded Latin letters, digits, Cyrillic. Other scripts are
# rare enough here to be scanned word by word.
_FAST_PREFIX = re.compile(r"[a-z0-9_.Ѐ-ӿ]*")


def _IN_RUN(char: str) -> bool:
    """Whether ``char`` can be part of a word (``WORD_PATTERN`` words are word characters and dots)."""
    return char == "." or char == "_" or char.isalnum()


def _run_start(value: str, index: int) -> int:
    """The start of the run of word characters and dots around ``index``: no word crosses a
    character outside such runs, so tokenising from there finds the same words as from the start."""
    while index > 0 and _IN_RUN(value[index - 1]):
        index -= 1
    return index


# The Unicode blocks holding every word character whose folded lowercase form is made of Latin
# letters, digits or Cyrillic letters (a test checks this against all of Unicode).
_FOLDING_BLOCKS = ((0x0000, 0x0300), (0x0400, 0x0500), (0x1E00, 0x1F00), (0x2100, 0x2200))


@lru_cache(maxsize=1)
def _folds_to() -> dict[str, frozenset[str]]:
    """folded lowercase form → the word characters (of ``_FOLDING_BLOCKS``, in both cases) that
    fold to it."""
    table: dict[str, set[str]] = {}
    for first, end in _FOLDING_BLOCKS:
        for code in range(first, end):
            char = chr(code)
            if not (char.isalnum() or char == "_"):
                continue
            for variant in {char, char.lower(), char.upper()}:
                folded = fold.__wrapped__(variant.lower())
                if folded:
                    table.setdefault(folded, set()).add(variant)
    table.setdefault("ς", set()).add("Σ")  # final sigma: lowercase depends on the context
    return {key: frozenset(chars) for key, chars in table.items()}


def _char_class(chars: set[str]) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"


_NOT_INSIDE_A_WORD = r"(?<!\w.)"  # after a pattern's first character: the one before it is no word character


def _prefix_pattern(prefix: str) -> str:
    """A regular expression for the raw text of any word start whose folded lowercase form starts
    with ``prefix`` (characters folding to several letters, like ß → ss, included)."""
    table = _folds_to()
    multi = [key for key in table if len(key) > 1]

    def at(index: int) -> str:
        if index >= len(prefix):
            return ""
        rest = prefix[index:]
        # After the first character: not preceded by a word character (a word starts there, or after a dot). The
        # pattern still starts with a character class, which the regex engine looks for in C.
        start = _NOT_INSIDE_A_WORD if index == 0 else ""
        single = set(table.get(rest[0], ())) | {rest[0], rest[0].upper()}
        options = [_char_class(single) + start + at(index + 1)]
        for key in multi:
            if rest.startswith(key):
                options.append(_char_class(set(table[key])) + start + at(index + len(key)))
            elif key.startswith(rest):
                options.append(_char_class(set(table[key])) + start)
        return options[0] if len(options) == 1 else "(?:" + "|".join(options) + ")"

    return at(0)


@lru_cache(maxsize=1)
def _latin_chars() -> frozenset[str]:
    """The word characters whose folded lowercase form holds a Latin letter (as ``_LATIN`` sees it)."""
    return frozenset(char for key, chars in _folds_to().items() if _LATIN.search(key) for char in chars)


@lru_cache(maxsize=2048)
def _prefix_regex(prefix: str) -> re.Pattern[str]:
    """Matches where the raw text of a word starting with ``prefix`` may start."""
    return re.compile(_prefix_pattern(prefix))


@lru_cache(maxsize=1)
def _script_meeting() -> re.Pattern[str]:
    """Matches where Latin and Cyrillic letters meet inside a run of word characters and dots
    (with only digits, dots or letters of other scripts between them)."""
    latin = "".join(re.escape(c) for c in sorted(_latin_chars()))
    cyrillic = "\u0400-\u04ff"
    neutral = f"(?:[^\\W{latin}{cyrillic}]|\\.)*"
    return re.compile(f"[{latin}]{neutral}[{cyrillic}]|[{cyrillic}]{neutral}[{latin}]")


def _words_of_run(expression: re.Pattern[str], value: str, run: int) -> Iterator[re.Match[str]]:
    """The words (``WORD_PATTERN`` matches) of the run of word characters starting at ``run``."""
    for word in expression.finditer(value, run):
        if word.start() != run and not _IN_RUN(value[word.start() - 1]):
            return
        yield word


class BodyTokenizer(LanguageTokenizer):
    """The analysis of the combined ``body`` field: :class:`LanguageTokenizer` with both stop-word
    lists, over a value made by :func:`body_value` — parts separated by ``SEGMENT`` (positions jump
    by ``SEGMENT_GAP`` between parts, so a phrase cannot span two parts). Texts come first; the
    first title (``BOOSTED``) or label (``LABEL``) part starts at ``HEAD_POSITION``. Title tokens
    carry ``TITLE_BOOST``, which Whoosh adds up into the term weight, as a field boost would.
    A value without markers (a query, a text to highlight) is one plain part."""

    def __init__(self, lang: str = BODY):
        super().__init__(BODY)

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True, start_pos=0,
                 start_char=0, tokenize=True, mode="", **kwargs):
        if not tokenize or (SEGMENT not in value and BOOSTED not in value and LABEL not in value):
            yield from super().__call__(value, positions, chars, keeporiginal, removestops, start_pos, start_char,
                                        tokenize, mode, **kwargs)
            return
        pos, char = start_pos, start_char
        for part in value.split(SEGMENT):
            boost = 1.0
            if part[:1] in (BOOSTED, LABEL):
                if part[0] == BOOSTED:
                    boost = TITLE_BOOST
                part = part[1:]
                char += 1
                pos = max(pos, start_pos + HEAD_POSITION)
            last = pos - 1
            for token in super().__call__(part, positions, chars, keeporiginal, removestops, pos, char, True, mode,
                                          **kwargs):
                token.boost = boost
                if positions:
                    last = max(last, token.pos)
                yield token
            pos, char = last + 1 + SEGMENT_GAP, char + len(part) + 1


def body_value(texts: list[str], titles: list[str], labels: list[str]) -> str:
    """The value of the ``body`` field: the texts, then boosted titles and labels, as separate parts."""
    parts = [fold_marks(t) for t in texts if t]
    parts += [BOOSTED + fold_marks(t) for t in titles if t] + [LABEL + fold_marks(t) for t in labels if t]
    return SEGMENT.join(parts)


def fold_marks(text: str) -> str:
    """``text`` without the control characters ``body_value`` uses as markers."""
    if SEGMENT in text or BOOSTED in text or LABEL in text:
        return text.replace(SEGMENT, " ").replace(BOOSTED, " ").replace(LABEL, " ")
    return text


def language_analyzer(lang: str):
    """The analyzer of one language's fields ('it' or 'ru'), or of the combined field (``BODY``)."""
    if lang == BODY:
        return CompositeAnalyzer(BodyTokenizer())
    return CompositeAnalyzer(LanguageTokenizer(lang))


def language_chain(lang: str):
    """The same analysis as separate Whoosh filters: the reference ``LanguageTokenizer`` must match."""
    return (
        RegexTokenizer(WORD_PATTERN)
        | LowercaseFilter()
        | FoldFilter()
        | StopFilter(stoplist=_folded_stopwords(lang), minsize=1)
        | ScriptStemFilter()
    )


def plain_analyzer():
    """Lowercase + fold, no stemming: pseudo-fields of the query parser and keyword-ish text."""
    return RegexTokenizer(WORD_PATTERN) | LowercaseFilter() | FoldFilter()


def analyze(analyzer, text: str) -> list[str]:
    """The index terms ``analyzer`` makes of ``text`` (stop words dropped)."""
    return [token.text for token in analyzer(text, mode="query")]


# --- cross-script name skeletons ---------------------------------------------------------------------

_CYR_TO_LAT = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y",
    "ь": "", "э": "e", "ю": "yu", "я": "ya", "і": "i", "ї": "yi", "є": "ye", "ґ": "g",
}
# Scientific / ISO 9 letters carry meaning in their diacritics: map them before accents are folded.
_SCIENTIFIC = {"ž": "zh", "š": "sh", "č": "ch", "ŝ": "shch", "ć": "ch", "ë": "e", "ǎ": "a"}

# Ordered spelling folds. Upper-case letters are placeholders for sounds written with several
# letters (S = ш/щ, Z = ж, C = ч, K = к/ц/c/q), so that later rules cannot rewrite them again.
_SKELETON_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"gl(?=i)", "l"),  # Italian gli = ль                (Togliatti, Tolyatti, Тольятти → toliati)
        (r"gn", "ni"),  # Italian gn = нь                    (Bologna, Болонья → bolonia)
        (r"shch|shh|sh", "S"),
        (r"zh", "Z"),
        (r"kh", "h"),
        (r"tsch|tch|ch", "C"),
        (r"ts|tz|cz|ck|[ckq]", "K"),
        (r"x", "Ks"),
        (r"w", "v"),
        (r"ph", "f"),
        (r"[iyj]+", "i"),  # й, ы, и and the iotation letters of every scheme
        (r"i(?=e)", ""),  # ye / je / ie / ije / iye → e   (Sibirskiye, Sibirskije → sibirske)
        (r"io", "e"),  # yo / jo / ё → e                  (Fyodor, Fedor → fedor)
        (r"(.)\1+", r"\1"),  # doubled letters            (Pirelli → pireli, Kuznetsoff → kuzneKof)
        (r"(?<=[oe])f$", "v"),  # final -off / -eff → -ov / -ev
    )
)


@lru_cache(maxsize=100_000)
def name_skeleton(word: str) -> str:
    """The spelling- and script-independent key of one name token (see the module docstring)."""
    text = word.lower()
    text = "".join(_SCIENTIFIC.get(char, char) for char in text)
    text = text.replace("ё", "е")
    text = "".join(_CYR_TO_LAT.get(char, char) for char in text)
    text = fold(text)
    text = re.sub(r"[^a-z0-9]", "", text)
    for pattern, replacement in _SKELETON_RULES:
        text = pattern.sub(replacement, text)
    return text


class SkeletonFilter(Filter):
    def __eq__(self, other):
        return other is not None and self.__class__ is other.__class__

    def __call__(self, tokens):
        for token in tokens:
            skeleton = name_skeleton(token.text)
            if skeleton:
                token.text = skeleton
                yield token


NAME_TOKEN_PATTERN = r"\w+(?:['’ʼ]\w+)*"


def name_analyzer():
    """Name tokens (apostrophes kept inside: Ol'ga) → skeletons."""
    return RegexTokenizer(NAME_TOKEN_PATTERN) | SkeletonFilter()


_CAPITALISED = re.compile(r"(?<![\w'’])([A-ZÀ-ÖØ-ÞА-ЯЁ][\w'’ʼ]{2,})")
_SENTENCE_END = re.compile(r"[.!?:;«\"“\n]\s*$")


# A Russian adjective made from a place name ("тольяттинского", "новосибирской", "туринский"): the
# stem before -ск- plus its case ending, with an optional linking -н-/-ин-/-ов-/-ев-.
_PLACE_ADJECTIVE = re.compile(
    r"(?<![\w'’])([а-яё]{3,}?)(ин|н|ов|ев)?ск(?:ий|ого|ому|им|ом|ая|ой|ую|ое|ие|их|ими|ые|ых|ым|ыми)(?![\w'’])"
)


def place_adjective_names(text: str, limit: int = 400) -> list[str]:
    """The place names that lower-case Russian adjectives in a text are made from, each as the
    candidate forms a name skeleton can meet: ``тольяттинского`` → ``тольяттинск``, ``тольятти``,
    ``тольятт`` (so ``Tolyatti`` and ``Togliatti`` find it), ``новосибирской`` → ``новосибирск``.
    Lossy on purpose (``российского`` gives ``росси`` too): they only feed the names field."""
    seen: dict[str, None] = {}
    for match in _PLACE_ADJECTIVE.finditer(text.lower()):
        stem, link = match.group(1), match.group(2) or ""
        for form in (stem + link + "ск", stem + link, stem + link.rstrip("н"), stem):
            if len(form) >= 4:
                seen.setdefault(form, None)
        if len(seen) >= limit:
            break
    return list(seen)


def proper_names(text: str, limit: int = 400) -> list[str]:
    """Capitalised words not at the start of a sentence: the likely person and place names of a
    text, which the names field makes findable across scripts. Distinct, at most ``limit``."""
    seen: dict[str, None] = {}
    for match in _CAPITALISED.finditer(text):
        start = match.start()
        if start == 0 or _SENTENCE_END.search(text, max(0, start - 3), start):
            continue
        seen.setdefault(match.group(1), None)
        if len(seen) >= limit:
            break
    return list(seen)
