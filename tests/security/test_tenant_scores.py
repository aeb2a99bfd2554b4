"""Tenants' search scores (issue 12): relevance scores are computed over the whole index, so a firm could watch
its own scores move when another firm uploads. Every number a firm sees in search and "similar documents" answers
stays the same when another firm uploads; staff who read everything still get scores."""

from __future__ import annotations

from tests.conftest import api_upload

WORDS = "valvole idrauliche per gasdotti e compressori industriali"


def _numbers(value, path: str = "") -> dict[str, float]:
    """Every number in a JSON answer, by its path (hits keyed by document id, so order does not matter)."""
    found: dict[str, float] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            found.update(_numbers(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            key = item.get("document_id", index) if isinstance(item, dict) else index
            found.update(_numbers(item, f"{path}[{key}]"))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        found[path] = value
    return found


def test_a_firms_numbers_do_not_move_when_another_firm_uploads(client, make_user, token_for):
    firm_a, firm_b, legal = make_user("firm"), make_user("firm"), make_user("legal")
    a, b, staff = token_for(firm_a), token_for(firm_b), token_for(legal)
    own = []
    for i, text in enumerate((WORDS, f"{WORDS} {WORDS}", f"compressori e turbine, lotto {7 * 11 + 1}")):
        response = api_upload(client, a, [(f"a{i}.txt", f"Proposta {i}: {text}.".encode())], title_it=f"Alfa {i}")
        assert response.status_code == 201, response.get_json()
        own.append(response.get_json()["id"])

    def answers(headers) -> list[dict]:
        out = []
        for params in ({"q": "valvole"}, {"q": "compressori gasdotti"}, {"q": "valvole OR turbine"},
                       {"q": "compressori", "per_page": "2"}):
            response = client.get("/api/v1/search", query_string=params, headers=headers)
            assert response.status_code == 200, response.get_json()
            out.append(response.get_json())
        similar = client.get(f"/api/v1/documents/{own[0]}/similar", headers=headers)
        assert similar.status_code == 200
        out.append(similar.get_json())
        return out

    before = answers(a)
    assert before[0]["total"] == 2 and {h["document_id"] for h in before[0]["hits"]} == {own[0], own[1]}
    assert all(hit["score"] is None for answer in before[:4] for hit in answer["hits"])
    staff_before = answers(staff)
    assert all(isinstance(hit["score"], float) for hit in staff_before[0]["hits"])  # staff keep their scores

    for i in range(6):  # another firm fills the index with the same words, and more
        text = " ".join([WORDS] * (i + 1)) + " valvole valvole compressori"
        assert api_upload(client, b, [(f"b{i}.txt", text.encode())], title_it=f"Beta {i}").status_code == 201

    after = answers(a)
    for seen, now in zip(before, after, strict=True):
        assert _numbers(now) == _numbers(seen)
        assert {h["document_id"] for h in now.get("hits", now.get("items", []))} == \
               {h["document_id"] for h in seen.get("hits", seen.get("items", []))}
    # …while the staff's scores, over everybody's documents, did change: the side channel was real.
    assert _numbers(answers(staff)[0]) != _numbers(staff_before[0])
