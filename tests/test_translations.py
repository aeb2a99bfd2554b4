"""The three interface languages: every string in the code is translated, placeholders survive
translation, the compiled catalogs are current, and real pages come out in Italian, Russian and English
with localised dates, numbers and plural forms.

If test_every_string_is_translated fails after a change, run ``bash scripts/i18n.sh`` and translate the
new entries in docmgr/translations/{it,ru}/LC_MESSAGES/messages.po (English: msgstr = msgid).
"""

from __future__ import annotations

import ast
import io
import re
import sys
from pathlib import Path

import pytest
from babel.dates import format_date
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from docmgr.extensions import db
from tests.conftest import csrf_from, table_counts

REPO_ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = REPO_ROOT / "docmgr" / "translations"
LANGUAGES = ("it", "ru", "en")
RUSSIAN_PLURAL_FORMS = (
    "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);"
)
# %(name)s / %(num)d for gettext, {name} for the messages static/js/upload.js fills in.
PLACEHOLDER = re.compile(r"%\([A-Za-z_]\w*\)[sdfr]|\{[A-Za-z_]\w*\}")


def _catalog(lang: str):
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def _source_msgids() -> dict[str | tuple[str, str], str]:
    """Every msgid in the code, extracted now with babel.cfg and scripts/i18n.sh's keywords → where it is."""
    with (REPO_ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}

    def only_docmgr(dirpath: str) -> bool:
        relative = Path(dirpath).relative_to(REPO_ROOT).as_posix()
        name = Path(dirpath).name
        return (relative == "docmgr" or relative.startswith("docmgr/")) and not name.startswith((".", "_"))

    found: dict[str | tuple[str, str], str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        REPO_ROOT, method_map, options_map, keywords=keywords, directory_filter=only_docmgr
    ):
        msgid = message if isinstance(message, str) else tuple(message[:2])
        singular = msgid[0] if isinstance(msgid, tuple) else msgid
        if singular:
            found.setdefault(msgid, f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def source_msgids():
    return _source_msgids()


def test_extraction_finds_the_interface(source_msgids):
    # Guards the test below against passing on an empty extraction (wrong cwd, babel.cfg moved…).
    assert len(source_msgids) > 300
    assert "Documents" in source_msgids and "Energy" in source_msgids
    assert ("%(num)d document", "%(num)d documents") in source_msgids


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_message_is_in_the_catalog_once(lang):
    """Catalogs merge line by line (.gitattributes: union), which can leave one msgid twice; babel would keep one
    of them silently, so a later fix to a translation could be the one thrown away."""
    text = (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    msgids = re.findall(r'^(?:msgctxt "(.*)"\n)?msgid ((?:".*"\n)+)', text, flags=re.M)
    seen, twice = set(), []
    for context, msgid in msgids:
        if (context, msgid) in seen and msgid != '""\n':
            twice.append(msgid.strip())
        seen.add((context, msgid))
    assert not twice, f"{lang}: messages listed twice (run scripts/i18n.sh after removing one): {twice[:10]}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_string_is_translated(lang, source_msgids):
    catalog = _catalog(lang)
    problems = []
    for msgid, where in sorted(source_msgids.items(), key=lambda item: str(item[0])):
        message = catalog.get(msgid[0] if isinstance(msgid, tuple) else msgid)
        if message is None:
            problems.append(f"missing: {msgid!r} ({where})")
        elif message.fuzzy:
            problems.append(f"fuzzy: {msgid!r} ({where})")
        elif isinstance(msgid, tuple) != isinstance(message.id, tuple):
            problems.append(f"plural form mismatch: {msgid!r} ({where})")
        elif isinstance(message.string, tuple):
            if len(message.string) != catalog.num_plurals or not all(message.string):
                problems.append(f"untranslated plural form(s): {msgid!r} ({where})")
        elif not message.string:
            problems.append(f"untranslated: {msgid!r} ({where})")
    assert not problems, (
        f"{lang}: {len(problems)} string(s) not translated; run scripts/i18n.sh and translate them:\n  "
        + "\n  ".join(problems)
    )


def test_russian_catalog_has_three_plural_forms():
    catalog = _catalog("ru")
    assert catalog.plural_forms.replace(" ", "") == RUSSIAN_PLURAL_FORMS.replace(" ", "")
    plurals = [m for m in catalog if m.id and isinstance(m.id, tuple)]
    assert plurals, "the interface has plural messages (documents, pages, results…)"
    for message in plurals:
        assert len(message.string) == 3 and all(message.string), message.id
    assert _catalog("it").num_plurals == 2


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_survive_translation(lang):
    catalog = _catalog(lang)
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            expected = set(PLACEHOLDER.findall(message.id[0])) | set(PLACEHOLDER.findall(message.id[1]))
            for form in message.string:
                if form and set(PLACEHOLDER.findall(form)) != expected:
                    wrong.append(f"{message.id[0]!r} → {form!r}")
        elif message.string and sorted(PLACEHOLDER.findall(message.string)) != sorted(PLACEHOLDER.findall(message.id)):
            wrong.append(f"{message.id!r} → {message.string!r}")
    assert not wrong, f"{lang}: placeholders differ:\n  " + "\n  ".join(wrong)


def test_english_translations_are_the_source_strings():
    for message in _catalog("en"):
        if message.id:
            assert message.string == message.id, message.id


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compiled_catalog_matches_the_po_file(lang):
    """The .mo the app loads (compiled by conftest's compiled_translations fixture or scripts/setup.sh)
    says what the .po says: a stale .mo would show old or English strings."""
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
        compiled = read_mo(fh)
    def key(value):
        return tuple(value) if isinstance(value, (list, tuple)) else value

    compiled_strings = {key(m.id): key(m.string) for m in compiled if m.id}
    for message in _catalog(lang):
        if message.id and not message.fuzzy:
            assert compiled_strings.get(key(message.id)) == key(message.string), message.id


# --- pages ------------------------------------------------------------------------------------------


EXPECTED = {
    # language: (nav "Documents", upload heading, sector "Energy", search heading, dashboard, draft status)
    "it": {"documents": "Documenti", "upload": "Carica un documento", "energy": "Energia", "search": "Ricerca",
           "dashboard": "Cruscotto", "draft": "Bozza", "login": "Accedi", "two_documents": "2 documenti",
           "one_result": "1 risultato", "agreements": "Accordi", "lifecycle": "Ciclo di vita"},
    "ru": {"documents": "Документы", "upload": "Загрузить документ", "energy": "Энергетика", "search": "Поиск",
           "dashboard": "Сводка", "draft": "Проект", "login": "Войти", "two_documents": "2 документа",
           "one_result": "1 результат", "agreements": "Соглашения", "lifecycle": "Жизненный цикл"},
    "en": {"documents": "Documents", "upload": "Upload a document", "energy": "Energy", "search": "Search",
           "dashboard": "Dashboard", "draft": "Draft", "login": "Log in", "two_documents": "2 documents",
           "one_result": "1 result", "agreements": "Agreements", "lifecycle": "Lifecycle"},
}
RUSSIAN_MONTHS = ("янв.", "февр.", "мар.", "апр.", "мая", "июн.", "июл.", "авг.", "сент.", "окт.", "нояб.", "дек.")


def _page(client, path: str, lang: str) -> str:
    separator = "&" if "?" in path else "?"
    response = client.get(f"{path}{separator}lang={lang}")
    assert response.status_code == 200, (path, response.status_code)
    html = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    return html


@pytest.mark.parametrize("lang", LANGUAGES)
def test_login_page_is_translated(client, lang):
    html = _page(client, "/login", lang)
    assert f"<h1>{EXPECTED[lang]['login']}</h1>" in html
    if lang != "en":
        assert ">Log in<" not in html and "Skip to content" not in html


@pytest.mark.parametrize("lang", LANGUAGES)
def test_document_pages_are_translated_with_local_dates_and_plurals(client, login, make_user, make_document, lang):
    legal = make_user("legal")
    firm = make_user("firm")
    first = make_document(firm, title_it="Proposta energia solare", sectors=["energy"])
    make_document(firm, title_it="Proposta meccatronica", sectors=["mechanics"])
    login(legal)

    index = _page(client, "/", lang)
    assert f">{EXPECTED[lang]['documents']}</a>" in index  # the navigation
    assert EXPECTED[lang]["two_documents"] in index  # ngettext with the language's plural rule
    assert EXPECTED[lang]["energy"] in index
    upload_date = format_date(first.created_at, "medium", locale=lang)
    assert upload_date in index, upload_date
    if lang == "ru":
        assert any(month in upload_date for month in RUSSIAN_MONTHS), upload_date
    if lang == "it":
        assert re.search(r"\d{1,2} (gen|feb|mar|apr|mag|giu|lug|ago|set|ott|nov|dic) \d{4}", upload_date)

    detail = _page(client, f"/documents/{first.id}", lang)
    size = first.files[0].size
    assert {"it": f"{size} B", "ru": f"{size} Б", "en": f"{size} B"}[lang] in detail  # human_size's unit

    upload = _page(client, "/documents/new", lang)
    assert EXPECTED[lang]["upload"] in upload and EXPECTED[lang]["energy"] in upload


@pytest.mark.parametrize("lang", ("it", "ru"))
def test_a_refused_upload_shows_the_service_error_in_the_interface_language(client, login, make_user, lang, app):
    from tests.conftest import stored_blob_count

    firm = make_user("firm")
    login(firm)
    form = _page(client, "/documents/new", lang)
    before, blobs = table_counts(), stored_blob_count(app)
    response = client.post(
        "/documents/new",
        data={"csrf_token": csrf_from(form), "kind": "proposal", "file": (io.BytesIO(b"testo"), "a.txt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    expected = {"it": "Indicare un titolo in italiano o in russo", "ru": "Укажите название на итальянском или русском"}
    assert expected[lang] in html  # documents.services raised it with gettext
    assert "Give a title in Italian or in Russian" not in html
    assert table_counts() == before and stored_blob_count(app) == blobs


@pytest.mark.parametrize("lang", LANGUAGES)
def test_search_and_dashboard_are_translated(client, login, make_user, make_document, lang):
    legal = make_user("legal")
    make_document(make_user("firm"), title_it="Turbine eoliche per distretti alpini", sectors=["energy"])
    login(legal)

    search = _page(client, "/search?q=turbine", lang)
    assert f"<h1>{EXPECTED[lang]['search']}</h1>" in search
    assert EXPECTED[lang]["one_result"] in search

    too_long = client.get(f"/search?q={'parola ' * 100}&lang={lang}")
    message = {"it": "La ricerca è troppo lunga", "ru": "Запрос слишком длинный", "en": "The search is too long"}
    assert too_long.status_code == 422 and message[lang] in too_long.get_data(as_text=True)

    dashboard = _page(client, "/dashboard", lang)
    assert f"<h1>{EXPECTED[lang]['dashboard']}</h1>" in dashboard


@pytest.mark.parametrize("lang", LANGUAGES)
def test_agreement_pages_are_translated(client, login, make_user, make_org, lang):
    from docmgr.drafting.services import create_agreement, sync_templates

    sync_templates(db.session)
    legal = make_user("legal")
    parties = [make_org("Meccanica Torino S.r.l.", "IT").id, make_org("ООО «Сибирь»", "RU").id]
    agreement = create_agreement(db.session, legal, template_key="mou", organization_ids=parties)
    db.session.commit()
    login(legal)

    listing = _page(client, "/agreements", lang)
    assert f"<h1>{EXPECTED[lang]['agreements']}</h1>" in listing
    detail = _page(client, f"/agreements/{agreement.id}", lang)
    assert EXPECTED[lang]["draft"] in detail and EXPECTED[lang]["lifecycle"] in detail
    # The lifecycle guard's refusal (signatures.lifecycle, gettext) explains the disabled button.
    refusal = {
        "it": "Generare prima una bozza", "ru": "Сначала сформируйте проект", "en": "Render a draft first",
    }
    assert refusal[lang] in detail


def test_the_language_choice_sticks_for_the_session(client, login, make_user):
    login(make_user("legal"))
    _page(client, "/", "ru")
    html = client.get("/").get_data(as_text=True)  # no ?lang: the session remembers Russian
    assert '<html lang="ru">' in html and "Документы" in html


# --- messages built outside the catalog ------------------------------------------------------------

# The docmgr errors a person or an API client reads, and the rendering errors the services translate.
PERSON_FACING_ERRORS = frozenset({
    "DocmgrError", "BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict", "TooLarge", "UnsupportedType",
    "Invalid", "RateLimited", "Busy", "TemplateError", "FieldDeclarationError", "ValidationError",
})
CATALOG_CALLS = frozenset({"gettext", "_", "ngettext", "lazy_gettext", "_l", "N_", "pgettext"})
# Operator-only messages, printed by commands in a terminal (never on a page or in the API): English by design.
OPERATOR_MODULES = frozenset({"docmgr/backup.py", "docmgr/signatures/trust.py"})


def _uncatalogued_messages() -> list[str]:
    """Every raise of a person-facing error whose message is a bare string, an f-string, a ``%``/``+`` join or a
    ``.format()``: such a message never reaches the catalog, so it shows in English whatever the interface
    language. The message must be a catalog call (gettext…, or N_ in the locale-free rendering package) or a
    value that came from one."""
    found = []
    for path in sorted((REPO_ROOT / "docmgr").rglob("*.py")):
        relative = path.relative_to(REPO_ROOT).as_posix()
        if "/migrations/" in relative or relative in OPERATOR_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name not in PERSON_FACING_ERRORS:
                continue
            message = node.args[0]
            built = (
                (isinstance(message, ast.Constant) and isinstance(message.value, str) and message.value.strip()
                 and not message.value.startswith("%("))
                or isinstance(message, (ast.JoinedStr, ast.BinOp))
                or (isinstance(message, ast.Call) and getattr(message.func, "attr", None) == "format")
            )
            if built:
                found.append(f"{relative}:{node.lineno}: {name}({ast.unparse(message)[:80]})")
    return found


def test_error_messages_go_through_the_catalog():
    problems = _uncatalogued_messages()
    assert not problems, "messages built outside the catalog (wrap them in gettext with %(name)s values):\n  " + (
        "\n  ".join(problems))


def test_the_scan_finds_a_message_built_outside_the_catalog(tmp_path, monkeypatch):
    """The scan above is not vacuous: an f-string message in a module is reported."""
    module = tmp_path / "docmgr" / "sample.py"
    module.parent.mkdir()
    module.write_text('def f(x):\n    raise Invalid(f"Bad {x}.", field="x")\n\n\ndef g():\n'
                      '    raise NotFound(gettext("No such thing."))\n', encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "REPO_ROOT", tmp_path)
    assert _uncatalogued_messages() == ['docmgr/sample.py:2: Invalid(f\'Bad {x}.\')']


RUSSIAN_ERROR_PATHS = (
    # (what, how to provoke it as legal staff in the Russian interface, English text that must not show)
    ("template field list", lambda client, token: client.post("/templates/new?lang=ru", data={
        "csrf_token": token, "key": "k", "name": "N", "fields": '[{"name": "x", "type": "colour"}]', "body": "x"}),
     "must be one of"),
    ("template body", lambda client, token: client.post("/templates/new?lang=ru", data={
        "csrf_token": token, "key": "k", "name": "N", "fields": "[]", "body": "<p>outside</p>"}),
     "Text outside a <section>"),
    ("audit filter", lambda client, token: client.get("/audit?lang=ru&date_from=2026-02-01&date_to=2026-01-01"),
     "The start date is after the end date"),
    ("API field", lambda client, token: client.post("/api/v1/templates/preview?lang=ru", json={"name": "N", "body": "x",
                                                                                               "colour": 1},
                                                     headers={"X-CSRFToken": token}),
     "Unknown field"),
)


@pytest.mark.parametrize(("what", "provoke", "english"), RUSSIAN_ERROR_PATHS, ids=[p[0] for p in RUSSIAN_ERROR_PATHS])
def test_error_paths_speak_russian(client, login, make_user, what, provoke, english):
    login(make_user("legal"))
    token = csrf_from(client.get("/templates/new?lang=ru").get_data(as_text=True))
    response = provoke(client, token)
    text = response.get_data(as_text=True)
    assert response.status_code in (400, 422), (what, response.status_code)
    assert english not in text.replace("&lt;", "<"), what
    message = re.findall(r'role="alert"[^>]*>([^<]+)', text) or [response.get_json()["error"]["message"]]
    assert all(re.search("[А-Яа-я]", m) for m in message), (what, message)
