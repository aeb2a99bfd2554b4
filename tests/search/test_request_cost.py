"""The fixed cost of a search request: what is read once per index generation is not read again
while the index is unchanged, and is read again when it changes."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from docmgr.accounts.models import Organization
from docmgr.extensions import db
from tests.search.conftest import txt


def test_facet_labels_are_read_once_per_index_generation(app, make_org, make_user, make_document, search):
    legal = make_user("legal")
    org = make_org(name="Distretto Ottico", country="IT")
    user = make_user("firm", org)
    make_document(user, title_it="Lenti", files=[txt("Lenti ottiche per il distretto.", language="it")])
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        status, body = search(legal, "lenti")
        assert status == 200 and body["total"] == 1
        assert body["facet_labels"]["organization"] == {str(org.id): "Distretto Ottico"}
        assert any("FROM organizations" in s for s in statements)  # read for this index generation
        statements.clear()
        for _ in range(3):
            status, again = search(legal, "lenti")
            assert again["facet_labels"] == body["facet_labels"]
        assert not any("FROM organizations" in s or "FROM task_force_sessions" in s for s in statements), statements

        # A renamed organisation: its documents are indexed again, and the next search reads the names anew.
        db.session.get(Organization, org.id).name = "Distretto Ottico Nuovo"
        db.session.commit()
        make_document(user, title_it="Lenti nuove", files=[txt("Altre lenti ottiche.", language="it")])
        status, body = search(legal, "lenti")
        assert body["total"] == 2
        assert body["facet_labels"]["organization"] == {str(org.id): "Distretto Ottico Nuovo"}
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.mark.whoosh_only
def test_the_searcher_is_reused_without_listing_the_index_and_a_commit_is_seen_at_once(
    app, make_org, make_user, make_document, search, monkeypatch
):
    import time

    from whoosh.searching import Searcher

    from docmgr.search import indexers

    legal = make_user("legal")
    user = make_user("firm", make_org(name="Vetri Murano", country="IT"))
    make_document(user, title_it="Vetro", files=[txt("Vetro soffiato di Murano.", language="it")])
    listings: list[int] = []
    original = Searcher.up_to_date

    def counted(self):
        listings.append(1)
        return original(self)

    monkeypatch.setattr(Searcher, "up_to_date", counted)
    assert search(legal, "vetro")[1]["total"] == 1
    engine = indexers.get_engine(app)
    first = engine.searcher()
    time.sleep(1.1)  # the folder's timestamp comes from a coarse clock: trusted once a check ran a second later
    assert search(legal, "vetro")[1]["total"] == 1
    listings.clear()
    for _ in range(3):
        assert search(legal, "vetro")[1]["total"] == 1
    assert listings == [] and engine.searcher() is first  # one stat() per search, no listing, same searcher

    make_document(user, title_it="Vetro nuovo", files=[txt("Altro vetro di Murano.", language="it")])  # a commit
    assert search(legal, "vetro")[1]["total"] == 2
    assert listings and engine.searcher() is not first
