"""Analysis units: the fused analyzer equals the Whoosh filter chain; folding; name skeletons."""

from __future__ import annotations

import pytest

from docmgr.search.text import analyze, fold, language_analyzer, language_chain, name_skeleton, proper_names
from tests.conftest import CORPUS


@pytest.mark.parametrize("lang", ["it", "ru"])
@pytest.mark.parametrize("removestops", [True, False])
def test_fused_analyzer_equals_the_filter_chain_on_real_text(lang, removestops):
    text = (CORPUS / "text" / "PUD_it.txt").read_text(encoding="utf-8")[:20000]
    text += (CORPUS / "text" / "PUD_ru.txt").read_text(encoding="utf-8")[:20000]

    def tokens(analyzer):
        return [(t.text, t.pos, t.startchar, t.endchar, t.stopped)
                for t in analyzer(text, positions=True, chars=True, removestops=removestops)]

    fused, chain = tokens(language_analyzer(lang)), tokens(language_chain(lang))
    assert len(fused) > 1000
    assert fused == chain


def test_fold_removes_latin_accents_and_yo_but_keeps_short_i():
    assert fold("città") == "citta"
    assert fold("perché") == "perche"
    assert fold("ёлка") == "елка"
    assert fold("новый") == "новый"  # й is a letter of its own, not an accented и


def test_singular_and_plural_stem_alike_in_both_languages():
    it, ru = language_analyzer("it"), language_analyzer("ru")
    assert analyze(it, "accordo") == analyze(it, "accordi")
    assert analyze(it, "impresa") == analyze(it, "imprese")
    assert analyze(ru, "соглашение") == analyze(ru, "соглашения") == analyze(ru, "соглашений")
    assert analyze(ru, "предприятие") == analyze(ru, "предприятия")
    assert analyze(it, "università") == analyze(it, "universita")
    assert analyze(ru, "растёт") == analyze(ru, "растет")
    # Stop words go (after folding, so an unaccented "perche" goes too).
    assert analyze(it, "perché perche") == []


@pytest.mark.parametrize(
    "spellings",
    [
        ["Сибирские", "Sibirskie", "Sibirskiye", "Sibirskije"],
        ["Кузнецов", "Kuznetsov", "Kuznecov", "Kuznetsoff", "Kuznetzov"],
        ["Чайковский", "Tchaikovsky", "Chaykovskiy", "Čajkovskij"],
        ["Юрий", "Yuri", "Yuriy", "Jurij", "Iurii"],
        ["Хабаровск", "Khabarovsk", "Habarovsk"],
        ["Жуков", "Zhukov", "Žukov"],
        ["Татьяна", "Tatiana", "Tatyana", "Tatjana"],
        ["Фёдор", "Fyodor", "Fedor"],
        ["Наталья", "Natalya", "Natalia", "Natal'ya"],
        ["Пирелли", "Pirelli"],
        ["Коста", "Costa"],
        ["Феррари", "Ferrari"],
    ],
)
def test_name_skeletons_agree_across_scripts_and_transliterations(spellings):
    skeletons = {name_skeleton(name) for name in spellings}
    assert len(skeletons) == 1, dict(zip(spellings, map(name_skeleton, spellings), strict=True))


def test_name_skeletons_still_tell_different_names_apart():
    names = ["Кузнецов", "Смирнов", "Иванов", "Pirelli", "Ferraro", "Сибирские", "Уральские"]
    assert len({name_skeleton(n) for n in names}) == len(names)


def test_proper_names_skip_sentence_starts():
    text = "Il dottor Rossi ha incontrato Kuznetsov. Poi Mario è andato a Torino. Встреча с Кузнецовым в Москве."
    assert proper_names(text) == ["Rossi", "Kuznetsov", "Mario", "Torino", "Кузнецовым", "Москве"]


@pytest.mark.parametrize("name", ["PUD_it.txt", "PUD_ru.txt", "udhr_ita.txt", "udhr_rus.txt",
                                  "tika_langdetect_it_europarl.txt"])
def test_highlight_finder_equals_full_analysis_on_real_text(name):
    """``find`` skips stemming words that cannot match: it must still find exactly what analysing
    every word finds, also for stems that are not prefixes (presenza → present, воюющих → вои^)
    and mixed-script words (the Russian stemmer turns their Latin letters Cyrillic)."""
    import random

    from docmgr.search.text import BODY, LanguageTokenizer

    dotted = " s.p.a.differenza т.е.воюющих ..differenza _воюющих x_differenza 3.differenza"  # dots, underscores
    text = (CORPUS / "text" / name).read_text(encoding="utf-8") + " differenza воюющих pаботой Цзэсюй" + dotted
    analyzer = language_analyzer(BODY)
    tokens = [(t.startchar, t.endchar, t.text) for t in analyzer(text, chars=True, mode="index")]
    vocabulary = sorted({form for _s, _e, form in tokens})
    rng = random.Random(name)
    tricky = [{"different"}, {"вои^"}, {"пабот"}, {"цзэси^"}]  # (the Latin p of pаботой turned Cyrillic)
    tricky += [{t.text} for t in analyzer(dotted, mode="index")]
    samples = tricky + [set(rng.sample(vocabulary, rng.randint(1, 4))) for _ in range(40)]
    for forms in samples:
        expected = [token for token in tokens if token[2] in forms]
        assert expected
        assert LanguageTokenizer(BODY).find(text, forms) == expected, sorted(forms)  # a fresh (cold) cache
