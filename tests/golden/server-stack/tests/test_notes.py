from __future__ import annotations

from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient


def create(client: FlaskClient, **note: str) -> dict[str, Any]:
    response = client.post("/api/notes", json=note)
    assert response.status_code == 201, response.json
    assert response.headers["Location"] == f"/api/notes/{response.json['id']}"
    return cast("dict[str, Any]", response.json)


def test_create_read_list_delete(client: FlaskClient) -> None:
    note = create(client, title="  Buy milk ", body="two litres")
    assert note["title"] == "Buy milk"
    assert note["created_at"]

    fetched = client.get(f"/api/notes/{note['id']}")
    assert fetched.status_code == 200
    assert fetched.json == note

    other = create(client, title="Call Bob")
    listed = client.get("/api/notes").json["notes"]
    assert [n["id"] for n in listed[:2]] == [other["id"], note["id"]]

    for created in (note, other):
        assert client.delete(f"/api/notes/{created['id']}").status_code == 204
        assert client.get(f"/api/notes/{created['id']}").status_code == 404


def test_rejects_invalid_notes(client: FlaskClient) -> None:
    assert client.post("/api/notes", data="not json").status_code == 400
    assert client.post("/api/notes", json={"body": "no title"}).status_code == 422
    assert client.post("/api/notes", json={"title": "x" * 201}).status_code == 422
    response = client.post("/api/notes", json={"title": "ok", "body": 42})
    assert response.status_code == 422
    assert response.json["error"]["message"] == "body must be a string"


def test_missing_note_is_a_json_404(client: FlaskClient) -> None:
    response = client.delete("/api/notes/999999999")
    assert response.status_code == 404
    assert "does not exist" in response.json["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ('{"title": "\\ud800"}', 422, "lone surrogate"),
        ('{"title": "a\\u0000b"}', 422, "NUL"),
        ("[" * 100_000 + "]" * 100_000, 400, "nested too deeply"),
        ('"just a string"', 400, "send a JSON object"),
        ("{not json", 400, "send a JSON object"),
    ],
    ids=["lone-surrogate", "nul-byte", "deep-nesting", "not-an-object", "malformed"],
)
def test_hostile_json_is_a_4xx_with_a_reason(
    client: FlaskClient, body: str, status: int, reason: str
) -> None:
    response = client.post("/api/notes", data=body, content_type="application/json")
    assert response.status_code == status, response.json
    assert reason in response.json["error"]["message"]


def test_a_body_above_max_request_mb_is_413(app: Flask, client: FlaskClient) -> None:
    body = "x" * app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/api/notes", json={"title": "big", "body": body})
    assert response.status_code == 413
    assert response.json["error"]["status"] == 413


@pytest.mark.parametrize("query", ["limit=-1", "limit=0", "limit=1001", "limit=abc", "before=0"])
def test_list_parameters_out_of_range_are_400(client: FlaskClient, query: str) -> None:
    response = client.get(f"/api/notes?{query}")
    assert response.status_code == 400
    assert "must be an integer" in response.json["error"]["message"]


def test_ids_beyond_the_column_are_404(client: FlaskClient) -> None:
    assert client.get("/api/notes/99999999999999999999").status_code == 404
    assert client.delete("/api/notes/2147483648").status_code == 404


def test_the_list_is_bounded_by_size_and_pages_through_the_rest(client: FlaskClient) -> None:
    # 40 of the largest notes: about 2.4 MB of JSON (each "é" is sent as a 6-byte escape).
    created = [create(client, title=f"big {i}", body="é" * 10_000)["id"] for i in range(40)]
    seen: list[int] = []
    url: str | None = "/api/notes?limit=1000"
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        assert len(response.data) <= 1_100_000  # the page budget, plus one note at most
        seen += [n["id"] for n in response.json["notes"] if n["id"] in created]
        url = response.json["next"]
        pages += 1
    assert pages >= 3
    assert seen == sorted(created, reverse=True)
    for note_id in created:
        client.delete(f"/api/notes/{note_id}")
