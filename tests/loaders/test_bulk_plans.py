"""The registry's statement rules keep their plan whatever the statistics say.

Right after a bulk load is rolled back, ``parcel`` has pages but statistics of 0 rows. The
overlap rule of 0001 then compared every new parcel with every active parcel found through
the number index (83 s for 20 000 parcels, hours for 200 000). Since 0015 the new parcels
probe the GiST index (one probe per group of neighbours), whatever PostgreSQL believes.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2
import pytest

from cadastre_gis import migrate
from tests.conftest import create_database, drop_database

from .conftest import add_districts

N = 2000
# 19 m squares 1 m apart inside Yakkasaroy (district 09), numbered 10:09:50:01:KK:NNNN
ROWS = f"""
  SELECT format('10:09:50:01:%s:%s', lpad((k / 1000 + 1)::text, 2, '0'),
                lpad((k % 1000 + 1)::text, 4, '0')),
         ST_Multi(ST_MakeEnvelope(x, y, x + 19, y + 19, 32642))
    FROM (SELECT k, 520330.0 + (k % 40) * 20 AS x, 4569040.0 + (k / 40) * 20 AS y
            FROM generate_series(0, {N - 1}) k) g
"""


@pytest.fixture()
def stale(server_url: str) -> Iterator[str]:
    """A database whose parcel table has pages but statistics of 0 rows."""
    url = create_database(server_url, "cadastre_plans")
    migrate.upgrade(url)
    add_districts(url)
    dsn = url.replace("postgresql+psycopg2://", "postgresql://")
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO parcel (cadastral_number, geom) {ROWS}")
        conn.rollback()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ANALYZE parcel")  # (VACUUM would cut the empty pages)
            cur.execute("SELECT reltuples, relpages FROM pg_class WHERE relname = 'parcel'")
            tuples, pages = cur.fetchone()
        assert tuples == 0 and pages > 0, (tuples, pages)
    finally:
        conn.close()
    yield dsn
    drop_database(server_url, url)


def test_overlap_rule_probes_the_spatial_index_on_stale_statistics(stale: str) -> None:
    conn = psycopg2.connect(stale)
    try:
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO parcel (cadastral_number, geom) {ROWS}")
            assert cur.rowcount == N
            cur.execute("SELECT pg_stat_get_xact_numscans('parcel_geom_gist'::regclass),"
                        " pg_stat_get_xact_numscans('parcel_number_active'::regclass)")
            probes, number_scans = cur.fetchone()
            # the new parcels' groups probe the GiST index (about one probe per 16 parcels
            # here); no pass over the active parcels through the number index
            assert N / 64 <= probes <= N, probes
            assert number_scans == 0, number_scans
            # and the rule still sees an overlap inside such a statement
            cur.execute("SAVEPOINT s")
            with pytest.raises(psycopg2.Error) as info:
                cur.execute("INSERT INTO parcel (cadastral_number, geom) VALUES"
                            " ('10:09:50:09:01:0001',"
                            "  ST_Multi(ST_MakeEnvelope(520335, 4569045, 520360, 4569070, 32642)))")
            assert "overlaps" in str(info.value)
            cur.execute("ROLLBACK TO SAVEPOINT s")
        conn.commit()
    finally:
        conn.close()
