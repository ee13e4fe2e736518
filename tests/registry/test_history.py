"""Any past state is reproducible by date: as-of queries after a split and a correction."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import text

from cadastre_gis import registry

from .helpers import DOC, FAR_X, free_y_of, make_parcel, rect


def test_as_of_before_and_after_split(client, engine) -> None:  # type: ignore[no-untyped-def]
    q = f"10:09:{uuid.uuid4().int % 90 + 10:02d}:{uuid.uuid4().int % 90 + 10:02d}:22"
    y = free_y_of(engine)
    with engine.begin() as c:
        make_parcel(c, f"{q}:0001", rect(FAR_X, y, 40, 20))
    time.sleep(0.05)
    before = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.05)
    with engine.begin() as c:
        c.execute(text("SELECT set_config('cadastre.actor', 'pytest', true)"))
        res = registry.split_parcel(c, f"{q}:0001", srid=32642, document=DOC,
                                    cut_line=f"LINESTRING({FAR_X + 10} {y - 5}, {FAR_X + 10} {y + 25})")
    kids = sorted(p["cadastral_number"] for p in res.parcels)

    def numbers(**params: str) -> list[str]:
        r = client.get("/ogc/collections/parcels/items", query_string={
            "bbox": ",".join(map(str, bbox)), "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/32642",
            **params})
        assert r.status_code == 200, r.get_data(as_text=True)
        return sorted(f["properties"]["cadastral_number"] for f in r.get_json()["features"])

    bbox = (FAR_X - 1, y - 1, FAR_X + 41, y + 21)
    assert numbers(datetime=before) == [f"{q}:0001"]
    assert numbers() == kids
    with engine.connect() as c:
        lin = registry.lineage(c, kids[0])
    assert lin["ancestors"][0]["cadastral_number"] == f"{q}:0001"
