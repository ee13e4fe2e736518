"""A retired parcel on the items path: 404 now, present in the past, 409 naming successors
on write (and nothing changes)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import text

REGISTRAR = {"Authorization": "Basic " + base64.b64encode(b"registrar:registrar-demo-2026").decode()}


@pytest.fixture()
def retired(db: Any) -> tuple[int, str, str, int]:
    """(id, number, an instant when it was active, version) of a retired parcel in district 09."""
    row = db.execute(text(
        "SELECT id, cadastral_number, valid_from + (valid_to - valid_from) / 2, version"
        " FROM parcel WHERE status = 'retired' AND valid_to > valid_from"
        " ORDER BY id LIMIT 1")).first()
    if row is None:
        pytest.skip("demo city has no retired parcel in district 09")
    return row[0], row[1], row[2].isoformat(), row[3]


def test_get_retired_is_404_now_and_200_as_of_then(client: Any, retired: Any) -> None:
    pid, number, when, _ = retired
    for ref in (pid, number):
        assert client.get(f"/ogc/collections/parcels/items/{ref}").status_code == 404
        r = client.get(f"/ogc/collections/parcels/items/{ref}", query_string={"datetime": when})
        assert r.status_code == 200, r.get_data(as_text=True)
        assert r.get_json()["id"] == pid


def test_write_to_retired_is_409_naming_successors(client: Any, db: Any, retired: Any) -> None:
    pid, number, _, version = retired
    before = db.execute(text("SELECT version, address FROM parcel WHERE id = :i"),
                        {"i": pid}).one()
    body = json.dumps({"type": "Feature", "properties": {"address": "x"}})
    for ref in (pid, number):
        r = client.patch(f"/ogc/collections/parcels/items/{ref}", data=body,
                         content_type="application/geo+json", headers=REGISTRAR)
        assert r.status_code == 409, r.get_data(as_text=True)
        doc = r.get_json()
        assert doc["code"] == "RetiredParcel" and "retired" in doc["description"]
        assert "successors" in doc["description"]
    r = client.delete(f"/ogc/collections/parcels/items/{pid}", headers=REGISTRAR)
    assert r.status_code == 409
    after = db.execute(text("SELECT version, address FROM parcel WHERE id = :i"),
                       {"i": pid}).one()
    assert tuple(after) == tuple(before)
