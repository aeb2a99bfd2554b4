"""Demo data for a first look: organisations of both countries, one user per role, two sessions,
bilingual proposals as real PDF, DOCX and TXT files. Loading twice changes nothing."""

from __future__ import annotations

import io
from datetime import date

from sqlalchemy import select

from docmgr.accounts.models import Organization, User
from docmgr.accounts.services import create_organization, create_user
from docmgr.documents.models import Document, TaskForceSession
from docmgr.documents.services import Upload, create_document, create_task_force_session
from docmgr.extensions import db
from docmgr.pdf import html_to_pdf

DEMO_PASSWORD = "demo-password"

ORGANIZATIONS = [
    # name, name in the other script, country, kind, address, address in the other language
    ("Meccatronica Piemontese S.r.l.", "Мекатроника Пьемонтезе", "IT", "firm",
     "Via Nizza 150, 10126 Torino", "Виа Ницца 150, 10126 Турин"),
    ("Energia Alpina S.p.A.", "Энерджия Альпина", "IT", "firm", "Corso Francia 20, 10143 Torino", "Корсо Франча 20, 10143 Турин"),
    ("ООО «Сибирские технологии»", "OOO Sibirskie tekhnologii", "RU", "firm",
     "Новосибирск, ул. Ленина 12", "Novosibirsk, via Lenin 12"),
    ("АО «Уральский механический завод»", "AO Uralskiy mekhanicheskiy zavod", "RU", "firm",
     "Екатеринбург, пр. Космонавтов 18", "Ekaterinburg, prospekt Kosmonavtov 18"),
    ("Ministero dello Sviluppo economico", "Министерство экономического развития Италии", "IT", "ministry",
     "Via Veneto 33, 00187 Roma", "Виа Венето 33, 00187 Рим"),
]

USERS = [
    ("admin", "admin@demo.docmgr.test", None, "Amministratore"),
    ("legal", "legal@demo.docmgr.test", None, "Giulia Rossi"),
    ("legal", "legal2@demo.docmgr.test", None, "Ivan Petrov"),
    ("ministry", "ministry@demo.docmgr.test", "Ministero dello Sviluppo economico", "Ufficio studi"),
    ("firm", "firm.it@demo.docmgr.test", "Meccatronica Piemontese S.r.l.", "Marco Bianchi"),
    ("firm", "firm.it2@demo.docmgr.test", "Energia Alpina S.p.A.", "Laura Verdi"),
    ("firm", "firm.ru@demo.docmgr.test", "ООО «Сибирские технологии»", "Анна Смирнова"),
    ("firm", "firm.ru2@demo.docmgr.test", "АО «Уральский механический завод»", "Сергей Кузнецов"),
]

SESSIONS = [
    # name, place, country, dates, then the name and the place in the other language
    ("Torino 2013", "Torino", "IT", date(2013, 10, 28), date(2013, 10, 29), "Турин 2013", "Турин"),
    ("Москва 2014", "Москва", "RU", date(2014, 4, 15), date(2014, 4, 16), "Mosca 2014", "Mosca"),
]

PROPOSALS = [
    {
        "org": "Meccatronica Piemontese S.r.l.", "session": "Torino 2013", "sectors": ["mechanics"],
        "title_it": "Linee di assemblaggio meccatroniche per il distretto di Togliatti",
        "title_ru": "Мехатронные сборочные линии для тольяттинского кластера",
        "it": "Proponiamo un accordo di partenariato per la progettazione di linee di assemblaggio meccatroniche. "
              "Le imprese del distretto piemontese offrono formazione, trasferimento tecnologico e assistenza tecnica. "
              "Gli accordi di fornitura riguarderanno robot, sensori e sistemi di controllo.",
        "ru": "Мы предлагаем соглашение о партнёрстве по проектированию мехатронных сборочных линий. "
              "Предприятия пьемонтского кластера предлагают обучение, передачу технологий и техническую поддержку. "
              "Соглашения о поставках охватят роботов, датчики и системы управления.",
        "formats": ("pdf", "docx"),
    },
    {
        "org": "Energia Alpina S.p.A.", "session": "Torino 2013", "sectors": ["energy", "construction"],
        "title_it": "Impianti idroelettrici di piccola taglia e edifici a basso consumo",
        "title_ru": "Малые гидроэлектростанции и энергоэффективные здания",
        "it": "La nostra società realizza centrali idroelettriche di piccola taglia nelle valli alpine e cerca partner "
              "russi per la costruzione di impianti in Siberia. Offriamo turbine, progettazione e manutenzione; "
              "l'energia rinnovabile alimenterà anche edifici a basso consumo energetico.",
        "ru": "Наша компания строит малые гидроэлектростанции в альпийских долинах и ищет российских партнёров для "
              "строительства станций в Сибири. Мы предлагаем турбины, проектирование и обслуживание; "
              "возобновляемая энергия будет питать и энергоэффективные здания.",
        "formats": ("txt", "txt"),
    },
    {
        "org": "ООО «Сибирские технологии»", "session": "Москва 2014", "sectors": ["nanotech", "biotech"],
        "title_it": "Nanomateriali per la diagnostica biomedica",
        "title_ru": "Наноматериалы для биомедицинской диагностики",
        "it": "L'azienda di Novosibirsk sviluppa nanoparticelle per test diagnostici e cerca un partner italiano "
              "per la certificazione europea e la produzione congiunta. Il progetto prevede un laboratorio comune.",
        "ru": "Новосибирская компания разрабатывает наночастицы для диагностических тестов и ищет итальянского "
              "партнёра для европейской сертификации и совместного производства. Проект предусматривает общую лабораторию.",
        "formats": ("docx", "pdf"),
    },
    {
        "org": "АО «Уральский механический завод»", "session": "Москва 2014", "sectors": ["mechanics", "energy"],
        "title_it": "Ammodernamento delle turbine a gas",
        "title_ru": "Модернизация газовых турбин",
        "it": "Il gruppo degli Urali propone la modernizzazione congiunta di turbine a gas per centrali termiche. "
              "Cerchiamo imprese italiane della meccanica di precisione per accordi di cooperazione industriale.",
        "ru": "Уральское предприятие предлагает совместную модернизацию газовых турбин для тепловых электростанций. "
              "Мы ищем итальянские компании точного машиностроения для соглашений о промышленной кооперации.",
        "formats": ("pdf", "pdf"),
    },
]


def render_pdf(title: str, body: str, lang: str) -> bytes:
    """A real text PDF made with WeasyPrint and the bundled DejaVu fonts."""
    from markupsafe import escape

    html = (
        f'<html lang="{lang}"><head><meta charset="utf-8"></head><body>'
        f"<h1>{escape(title)}</h1>" + "".join(f"<p>{escape(p)}</p>" for p in body.split(". ") if p) + "</body></html>"
    )
    return html_to_pdf(html)


def render_docx(title: str, body: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(title, level=1)
    for sentence in body.split(". "):
        if sentence:
            document.add_paragraph(sentence.rstrip(".") + ".")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _file(kind: str, title: str, body: str, lang: str, stem: str) -> Upload:
    if kind == "pdf":
        data = render_pdf(title, body, lang)
    elif kind == "docx":
        data = render_docx(title, body)
    else:
        data = f"{title}\n\n{body}\n".encode()
    return Upload(io.BytesIO(data), f"{stem}-{lang}.{kind}", lang)


def load_demo() -> list[tuple[str, str, str]]:
    session = db.session
    orgs: dict[str, Organization] = {o.name: o for o in session.scalars(select(Organization))}
    for name, name_alt, country, kind, address, address_alt in ORGANIZATIONS:
        if name not in orgs:
            orgs[name] = create_organization(
                session, None, name=name, name_alt=name_alt, country=country, kind=kind, address=address,
                address_alt=address_alt,
            )
    for role, email, org_name, full_name in USERS:
        if session.scalar(select(User.id).where(User.email == email)) is None:
            create_user(
                session, None, email=email, password=DEMO_PASSWORD, role=role,
                organization=orgs[org_name] if org_name else None, name=full_name,
            )
    forum_sessions = {s.name: s for s in session.scalars(select(TaskForceSession))}
    for name, place, country, starts_on, ends_on, name_alt, place_alt in SESSIONS:
        if name not in forum_sessions:
            forum_sessions[name] = create_task_force_session(
                session, None, name=name, place=place, country=country, starts_on=starts_on, ends_on=ends_on,
                name_alt=name_alt, place_alt=place_alt,
            )
    admin = session.scalar(select(User).where(User.email == USERS[0][1]))
    for index, proposal in enumerate(PROPOSALS, start=1):
        if session.scalar(select(Document.id).where(Document.title_it == proposal["title_it"])):
            continue
        uploads = [
            _file(proposal["formats"][0], proposal["title_it"], proposal["it"], "it", f"proposta-{index}"),
            _file(proposal["formats"][1], proposal["title_ru"], proposal["ru"], "ru", f"predlozhenie-{index}"),
        ]
        create_document(
            session, admin, title_it=proposal["title_it"], title_ru=proposal["title_ru"], kind="proposal",
            sectors=proposal["sectors"], organization_id=orgs[proposal["org"]].id,
            session_id=forum_sessions[proposal["session"]].id, uploads=uploads,
        )
    session.commit()
    for extend in DEMO_EXTENSIONS:
        extend(session)
        session.commit()
    return [(role, email, DEMO_PASSWORD) for role, email, _org, _name in USERS]


# Later modules (drafting, signatures…) add functions here that load their own demo data.
DEMO_EXTENSIONS: list = []

from docmgr.drafting.demo import load_drafting_demo  # noqa: E402 - drafting: the templates and one MoU

DEMO_EXTENSIONS.append(load_drafting_demo)

from docmgr.signatures.demo import load_signatures_demo  # noqa: E402 - signatures: after the drafting demo's MoU

DEMO_EXTENSIONS.append(load_signatures_demo)
