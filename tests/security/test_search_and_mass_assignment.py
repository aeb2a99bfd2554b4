"""Hostile search queries (page and API: 200 or 4xx, never 5xx, never firm A's things for firm B), and mass
assignment: unknown JSON fields on every JSON write, and fields a caller may not set."""

from __future__ import annotations

import pytest

from tests.security.conftest import SECRET_TITLE, assert_no_secret, error_code, snapshot
from tests.security.test_access_matrix import ROUTES, _rule_for, url_for_rule

TOO_LONG, TOO_BROAD = (422, "query_too_long"), (422, "wildcard_too_broad")
TOO_COSTLY = (422, "search_too_costly")  # availability: bare and field-only wildcards
OK = (200, None)
HOSTILE_QUERIES: dict[str, tuple[str, tuple[int, str | None]]] = {
    "star": ("*", TOO_COSTLY), "stars": ("* * * *", TOO_COSTLY), "prefix": ("a*", TOO_BROAD), "infix": ("*a*", TOO_BROAD),
    "questions": ("?*?*?*?*?*?*", TOO_COSTLY),
    "many-wildcards": (" ".join(f"{c}*" for c in "abcdefghijklmnopqrstuvwxyz"), TOO_BROAD),
    "10k-terms": (" ".join(f"t{n}" for n in range(10_000)), TOO_LONG),
    "41-terms": (" ".join(f"t{n}" for n in range(41)), (422, "too_many_terms")),
    "1k-parens": ("(" * 1000 + "a" + ")" * 1000, TOO_LONG), "unbalanced": ("(" * 1000, TOO_LONG),
    "deep-parens": ("(" * 50 + "proposta" + ")" * 50, OK),  # past MAX_NESTING: read as plain words
    "1MB": ("a" * (1024 * 1024), TOO_LONG), "nul": ("proposta\x00", OK), "nuls": ("\x00" * 100, OK),
    "regex": ("(a+)+$ [[[ ]]] \\ .* ^$ {1,1000000}", OK), "fuzzy": ("proposta~1000", OK),
    "boost": ("proposta^1e308", OK), "range": ("[a TO zzzzzzzz]", OK), "field-org": ("organization_id:*", TOO_COSTLY),
    "field-readers": ("readers:1", OK), "field-uid": ("uid:document*", OK), "field-title": (f"title_it:{SECRET_TITLE}", OK),
    "bool-spam": ("AND OR NOT AND OR NOT", OK), "quotes": ('"' * 501, TOO_LONG), "phrase-slop": ('"a b"~100000', OK),
    "unicode": ("\u202e\ufeff\U0001f600 проект", OK), "sql": ("' OR 1=1 --", OK), "long-word": ("x" * 499 + "*", OK),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_QUERIES))
def test_hostile_queries_never_fail_or_leak(world, name):
    q, (status, code) = HOSTILE_QUERIES[name]
    api = world.app.test_client().get("/api/v1/search", query_string={"q": q}, headers=world.token("firm_b"))
    assert api.mimetype == "application/json"
    assert (api.status_code, error_code(api)) == (status, code), (name, api.get_json())
    if status == 200:
        assert all(hit["document_id"] != world.ids["doc_a"] for hit in api.get_json()["hits"])
        assert str(world.ids["org_a"]) not in api.get_json()["facets"].get("organization", {})
    else:
        assert api.get_json()["error"]["field"] == "q"
    body = api.get_data(as_text=True)
    assert_no_secret(body.replace(SECRET_TITLE, "") if SECRET_TITLE in q else body, f"api {name}")
    page = world.browser("firm_b")[0].get("/search", query_string={"q": q})
    assert page.status_code == status, (name, page.status_code)
    assert f'href="/documents/{world.ids["doc_a"]}"' not in page.get_data(as_text=True)


@pytest.mark.parametrize("param", ["kind", "sector", "language", "organization_id", "session_id", "date_from",
                                   "date_to", "page", "per_page"])
@pytest.mark.parametrize("value", ["\x00", "-1", "99999999999999999999999", "' OR 1=1", "x" * 10_000, "1e308"])
def test_hostile_search_filters_are_4xx_not_5xx(world, param, value):
    response = world.app.test_client().get("/api/v1/search", query_string={"q": "proposta", param: value},
                                           headers=world.token("firm_b"))
    # (availability, issue 12: a number beyond any row id or page, 99999999999999999999999 too, is refused at the edge)
    assert response.status_code == 422, (param, value, response.status_code)
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("invalid_field", param)


@pytest.mark.parametrize("param, value", [("organization_id", "999999999"), ("session_id", "999999999"),
                                          ("page", "99999")])
def test_search_filters_naming_nothing_are_an_empty_answer(world, param, value):
    """A well-formed id or page number within range that names nothing: an empty answer, not an error."""
    response = world.app.test_client().get("/api/v1/search", query_string={"q": "proposta", param: value},
                                           headers=world.token("firm_b"))
    assert response.status_code == 200, (param, value, response.status_code)
    everything = world.app.test_client().get("/api/v1/search", query_string={"q": "proposta"},
                                             headers=world.token("firm_b")).get_json()["total"]
    expected_total = everything if param == "page" else 0  # a page past the end: same total, no hits
    assert (response.get_json()["total"], response.get_json()["hits"]) == (expected_total, [])


def test_firm_b_cannot_search_firm_a_by_organisation_filter(world):
    response = world.app.test_client().get("/api/v1/search", query_string={"q": "", "organization_id": world.ids["org_a"]},
                                           headers=world.token("firm_b"))
    assert response.status_code == 200  # the filter is narrowed to what firm B may see: nothing of firm A's
    assert (response.get_json()["total"], response.get_json()["hits"]) == (0, [])
    assert_no_secret(response.get_data(as_text=True), "organization filter")
    listing = world.app.test_client().get(f"/api/v1/documents?organization_id={world.ids['org_a']}",
                                          headers=world.token("firm_b"))
    assert listing.status_code == 200
    assert (listing.get_json()["total"], listing.get_json()["items"]) == (0, [])


# --- mass assignment -------------------------------------------------------------------------------------------------

JSON_WRITES = [pytest.param(e, m, id=f"{e}-{m}") for (e, m), r in ROUTES.items()
               if e.startswith("api.") and m in ("POST", "PATCH") and r.body is not None
               and "json" in (r.body(None) if e not in ("api.drafting_api.create_agreement",) else {"json": 1})]


@pytest.mark.parametrize("extra", ["is_admin", "role", "id", "created_by_id", "status", "organization_id__x"])
@pytest.mark.parametrize(("endpoint", "method"), JSON_WRITES)
def test_unknown_json_fields_are_refused_by_name(world, endpoint, method, extra):
    route = ROUTES[(endpoint, method)]
    body = route.body(world)["json"]
    if extra in body:
        pytest.skip(f"{extra} is a real field of {endpoint}")
    url = url_for_rule(world, _rule_for(world, endpoint, method), route)
    headers = world.token("admin")
    before = snapshot(world.app)
    response = world.app.test_client().open(url, method=method, json={**body, extra: 1}, headers=headers)
    assert response.status_code == 422, (url, response.status_code, response.get_json())
    assert error_code(response) == "unknown_field" and response.get_json()["error"]["field"] == extra
    assert snapshot(world.app) == before


@pytest.mark.parametrize("endpoint", ["api.drafting_api.render_draft"])
def test_unknown_fields_on_bodiless_writes(world, endpoint):
    route = ROUTES[(endpoint, "POST")]
    url = url_for_rule(world, _rule_for(world, endpoint, "POST"), route)
    before = snapshot(world.app)
    response = world.app.test_client().post(url, json={"version": 99}, headers=world.token("legal"))
    assert response.status_code == 422 and error_code(response) == "unknown_field"
    assert snapshot(world.app) == before


def test_unknown_multipart_fields_are_refused(world):
    import io

    before = snapshot(world.app)
    response = world.app.test_client().post(
        "/api/v1/documents", headers=world.token("firm_b"), content_type="multipart/form-data",
        data={"title_it": "X", "created_by_id": "1", "file": (io.BytesIO(b"Proposta di prova."), "p.txt")})
    assert response.status_code == 422 and error_code(response) == "unknown_field"
    response = world.app.test_client().post(
        f"/api/v1/documents/{world.ids['doc_b']}/files", headers=world.token("firm_b"),
        content_type="multipart/form-data",
        data={"sha256": "0" * 64, "file": (io.BytesIO(b"Proposta di prova."), "p.txt")})
    assert response.status_code == 422 and error_code(response) == "unknown_field"
    assert snapshot(world.app) == before


def test_firm_cannot_move_its_document_to_another_organisation(world):
    url = f"/api/v1/documents/{world.ids['doc_b']}"
    before = snapshot(world.app)
    response = world.app.test_client().patch(url, json={"organization_id": world.ids["org_a"]},
                                             headers=world.token("firm_b"))
    assert response.status_code == 422 and error_code(response) == "unknown_field"
    # Nor upload into another organisation.
    import io

    response = world.app.test_client().post(
        "/api/v1/documents", headers=world.token("firm_b"), content_type="multipart/form-data",
        data={"title_it": "X", "organization_id": str(world.ids["org_a"]),
              "file": (io.BytesIO(b"Proposta di prova."), "p.txt")})
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "organization_id"
    assert snapshot(world.app) == before


@pytest.mark.parametrize("field", ["status", "executed_at", "certificate_sha256", "frozen_pdf_sha256", "approved_by_id"])
def test_agreement_status_cannot_be_patched(world, field):
    url = f"/api/v1/agreements/{world.ids['agreement_draft']}"
    world.token("firm_a")
    before = snapshot(world.app)
    for role in ("legal", "firm_a"):
        response = world.app.test_client().patch(url, json={field: "executed"}, headers=world.token(role))
        assert response.status_code == 422 and error_code(response) == "unknown_field", (role, response.get_json())
    assert snapshot(world.app) == before
    body = world.app.test_client().get(url, headers=world.token("legal")).get_json()
    assert body["status"] == "draft"


def test_firm_party_cannot_patch_or_transition_its_agreement(world):
    """Firm A is a party: it reads the agreement, but drafting and the lifecycle are legal staff's."""
    url = f"/api/v1/agreements/{world.ids['agreement_draft']}"
    world.token("firm_a")
    before = snapshot(world.app)
    client = world.app.test_client()
    response = client.patch(url, json={"title": "Mine now"}, headers=world.token("firm_a"))
    assert response.status_code == 403, response.get_json()
    response = client.post(f"{url}/transitions", json={"to": "approved"}, headers=world.token("firm_a"))
    assert response.status_code == 403, response.get_json()
    assert snapshot(world.app) == before


def test_firm_cannot_create_users_or_raise_its_role(world):
    client = world.app.test_client()
    before = snapshot(world.app)
    response = client.post("/api/v1/users", json={"email": "x@example.org", "password": "long enough pw",
                                                   "role": "admin"}, headers=world.token("firm_b"))
    assert response.status_code == 403
    assert snapshot(world.app) == before
    assert client.get("/api/v1/me", headers=world.token("firm_b")).get_json()["role"] == "firm"
