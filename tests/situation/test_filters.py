"""The typed incident filter shared by the dashboard, the live feed and analytics."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from cadastre_gis import analytics, incidents
from cadastre_gis.errors import InvalidInput
from cadastre_gis.incidents import IncidentFilter


def test_parse_and_refuse() -> None:
    f = IncidentFilter.parse(category="water,road", status="open", district="9", window="7d")
    assert f.categories == ("water", "road") and f.district == 9 and f.window == "7d"
    assert set(f.statuses) == set(incidents.OPEN_STATUSES)
    for bad in ({"status": "lost"}, {"window": "3y"}, {"district": "9; DROP TABLE x"}):
        with pytest.raises(InvalidInput):
            IncidentFilter.parse(**bad)
    assert IncidentFilter.parse() == IncidentFilter()


def test_filter_selects_what_it_says(db) -> None:  # type: ignore[no-untyped-def]
    f = IncidentFilter.parse(category="water", status="open", window="90d")
    fc = incidents.geojson(db, f)
    assert fc["features"] and all(
        x["properties"]["category"] == "water"
        and x["properties"]["status"] in incidents.OPEN_STATUSES for x in fc["features"])
    n = db.execute(text("SELECT count(*) FROM incident WHERE category = 'water' AND status IN"
                        " ('new','triaged','dispatched','in_progress')"
                        " AND reported_at > cadastre_now() - interval '90 days'")).scalar_one()
    assert len(fc["features"]) == n
    some = [x["id"] for x in fc["features"][:3]]
    assert sorted(x["id"] for x in incidents.geojson(db, ids=some)["features"]) == sorted(some)
    counts = analytics.counts(db, IncidentFilter(categories=("water",), window="90d"))
    assert {r["category"] for r in counts} == {"water"}
    trend = analytics.trend(db, IncidentFilter(window="24h"))
    assert trend["bucket"] == "hour"
    with pytest.raises(InvalidInput):
        analytics.check_size(300)
