"""Small builders for registry tests: parcels far from the demo city, parties, rights."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

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
