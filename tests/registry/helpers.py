"""Small builders for registry tests: parcels far from the demo city, parties, rights."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

FAR_X, FAR_Y = 310000.0, 4010000.0  # outside the demo city: no parcel there
DOC = {"kind": "hokim_decision", "number": "TEST-1", "issued_on": "2026-11-01",
       "issuer": "Toshkent shahar hokimligi"}


def rect(x: float, y: float, w: float = 20.0, h: float = 20.0) -> str:
    """WKT of a rectangle in EPSG:32642."""
    return f"POLYGON(({x} {y},{x + w} {y},{x + w} {y + h},{x} {y + h},{x} {y}))"


def make_parcel(db: Connection, number: str, wkt: str, owners: list[tuple[int, int, int]] | None
                = None, value: float | None = 1_000_000.0) -> int:
    """Insert an active parcel with ownership rights [(party_id, num, den)]."""
    pid = db.execute(text(
        "INSERT INTO parcel (cadastral_number, cadastral_value, geom)"
        " VALUES (:n, :v, ST_Multi(ST_GeomFromText(:g, 32642))) RETURNING id"),
        {"n": number, "v": value, "g": wkt}).scalar_one()
    for party, num, den in owners or []:
        db.execute(text("INSERT INTO \"right\" (kind, party_id, parcel_id, share_num, share_den)"
                        " VALUES ('ownership', :p, :i, :n, :d)"),
                   {"p": party, "i": pid, "n": num, "d": den})
    return pid


def make_party(db: Connection, pinfl: str, name: str = "Test Person") -> int:
    """Insert a person."""
    return db.execute(text("INSERT INTO party (kind, full_name, pinfl) VALUES ('person', :n, :p)"
                           " RETURNING id"), {"n": name, "p": pinfl}).scalar_one()


def shares(db: Connection, parcel_id: int) -> dict[int, float]:
    """Active ownership shares of a parcel by party."""
    rows = db.execute(text("SELECT party_id, sum(share_num::numeric / share_den) FROM \"right\""
                           " WHERE parcel_id = :p AND kind = 'ownership' AND status = 'active'"
                           " GROUP BY party_id"), {"p": parcel_id}).all()
    return {r[0]: float(r[1]) for r in rows}


def free_y(conn: Connection, height: float = 200.0) -> float:
    """A y (EPSG:32642) above every parcel near FAR_X: room for committed test parcels.

    Committed tests start at FAR_Y + 5000, clear of the rolled-back tests near FAR_Y.
    """
    top = conn.execute(text(
        "SELECT max(ST_YMax(geom)) FROM parcel WHERE geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1,"
        " 32642)"), {"x0": FAR_X - 2000, "y0": FAR_Y - 2000, "x1": FAR_X + 2000,
                     "y1": FAR_Y + 1e8}).scalar()
    return max(FAR_Y + 5000.0, (top or FAR_Y) + height)


def free_y_of(engine: Engine) -> float:
    """:func:`free_y` on a fresh connection."""
    with engine.connect() as c:
        return free_y(c)


def move_clock(conn: Connection, offset: str) -> None:
    """Move the registry clock inside this (uncommitted) transaction, e.g. '1 day', '1 year'."""
    conn.execute(text("UPDATE cadastre_clock SET offset_by = CAST(:o AS interval), fixed_at = NULL"),
                 {"o": offset})


def in_force_shares(conn: Connection, parcel_id: int) -> dict[int, str]:
    """Ownership in force today on the registry clock: party → exact share 'n/d'."""
    from fractions import Fraction

    acc: dict[int, Fraction] = {}
    for party, n, d in conn.execute(text(
            "SELECT party_id, share_num, share_den FROM \"right\" WHERE parcel_id = :p"
            " AND kind = 'ownership' AND status = 'active'"
            " AND (starts_on IS NULL OR starts_on <= cadastre_today())"
            " AND (ends_on IS NULL OR ends_on >= cadastre_today())"), {"p": parcel_id}):
        acc[party] = acc.get(party, Fraction(0)) + Fraction(n, d)
    return {k: str(v) for k, v in acc.items()}
