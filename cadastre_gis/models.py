"""SQLAlchemy/GeoAlchemy2 mappings of the registry tables (the schema itself lives in migrations)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Computed,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import DateTime

SRID = 32642
"""Storage CRS: WGS 84 / UTM zone 42N (metres)."""


class Base(DeclarativeBase):
    """Declarative base of all mapped tables."""


def _geom(kind: str) -> Geometry:
    return Geometry(kind, srid=SRID, spatial_index=False)


TZ = DateTime(timezone=True)


class District(Base):
    """One of the 12 districts of Tashkent."""

    __tablename__ = "district"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    region_code: Mapped[str] = mapped_column(Text, default="10")
    name: Mapped[str] = mapped_column(Text, unique=True)
    name_ru: Mapped[str | None] = mapped_column(Text)
    population: Mapped[int | None] = mapped_column(Integer)
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    area_m2: Mapped[float] = mapped_column(Numeric, Computed("ST_Area(geom)"))


class Party(Base):
    """A person (PINFL) or organization (INN) [LA_Party]."""

    __tablename__ = "party"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    full_name: Mapped[str] = mapped_column(Text)
    pinfl: Mapped[str | None] = mapped_column(Text, unique=True)
    inn: Mapped[str | None] = mapped_column(Text, unique=True)
    birth_date: Mapped[date | None] = mapped_column(Date)
    address: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ)


class SourceDocument(Base):
    """An administrative or spatial source [LA_AdministrativeSource]."""

    __tablename__ = "source_document"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    number: Mapped[str | None] = mapped_column(Text)
    issued_on: Mapped[date | None] = mapped_column(Date)
    issuer: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ)
    created_by: Mapped[str] = mapped_column(Text)


class RegistryTransaction(Base):
    """One registry operation (split, merge, transfer, import…)."""

    __tablename__ = "registry_transaction"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="completed")
    source_document_id: Mapped[int | None] = mapped_column(ForeignKey("source_document.id"))
    actor: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ)
    note: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict | None] = mapped_column(JSONB)


class _Versioned:
    status: Mapped[str] = mapped_column(Text, default="active")
    version: Mapped[int] = mapped_column(Integer, default=1)
    valid_from: Mapped[datetime] = mapped_column(TZ)
    valid_to: Mapped[datetime | None] = mapped_column(TZ)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("registry_transaction.id"))
    updated_at: Mapped[datetime] = mapped_column(TZ)
    updated_by: Mapped[str] = mapped_column(Text)


class Parcel(_Versioned, Base):
    """A land parcel [LA_SpatialUnit]."""

    __tablename__ = "parcel"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cadastral_number: Mapped[str] = mapped_column(Text)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id"))
    address: Mapped[str | None] = mapped_column(Text)
    land_category: Mapped[str] = mapped_column(Text, default="settlement")
    permitted_use: Mapped[str] = mapped_column(Text, default="individual_housing")
    declared_area_m2: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    area_m2: Mapped[Decimal] = mapped_column(Numeric(14, 2),
                                             Computed("round(ST_Area(geom)::numeric, 2)"))
    cadastral_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=False)


class Building(_Versioned, Base):
    """A building on a parcel [LA_LegalSpaceBuildingUnit]."""

    __tablename__ = "building"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cadastral_number: Mapped[str] = mapped_column(Text)
    parcel_id: Mapped[int | None] = mapped_column(ForeignKey("parcel.id"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id"))
    address: Mapped[str | None] = mapped_column(Text)
    building_use: Mapped[str] = mapped_column(Text, default="residential")
    floors: Mapped[int | None] = mapped_column(Integer)
    year_built: Mapped[int | None] = mapped_column(Integer)
    floor_area_m2: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    footprint_m2: Mapped[Decimal] = mapped_column(Numeric(12, 2),
                                                  Computed("round(ST_Area(geom)::numeric, 2)"))
    cadastral_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=False)


class Right(_Versioned, Base):
    """A right, restriction or responsibility [LA_RRR] with a fractional share."""

    __tablename__ = "right"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    party_id: Mapped[int | None] = mapped_column(ForeignKey("party.id"))
    parcel_id: Mapped[int | None] = mapped_column(ForeignKey("parcel.id"))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id"))
    share_num: Mapped[int | None] = mapped_column(Integer)
    share_den: Mapped[int | None] = mapped_column(Integer)
    holder: Mapped[str | None] = mapped_column(Text)
    amount_uzs: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    registration_number: Mapped[str | None] = mapped_column(Text)
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    source_document_id: Mapped[int | None] = mapped_column(ForeignKey("source_document.id"))


class ParcelLineage(Base):
    """Parent → child link of a split, merge or renumbering."""

    __tablename__ = "parcel_lineage"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parcel.id"))
    child_id: Mapped[int] = mapped_column(ForeignKey("parcel.id"))
    kind: Mapped[str] = mapped_column(Text)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("registry_transaction.id"))
    created_at: Mapped[datetime] = mapped_column(TZ)


class AuditLog(Base):
    """Who changed what, when, with the row before and after."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(TZ)
    actor: Mapped[str] = mapped_column(Text)
    table_name: Mapped[str] = mapped_column(Text)
    operation: Mapped[str] = mapped_column(String(1))
    row_id: Mapped[int | None] = mapped_column(BigInteger)
    txid: Mapped[int] = mapped_column(BigInteger)
    before: Mapped[dict | None] = mapped_column(JSONB)
    after: Mapped[dict | None] = mapped_column(JSONB)


class Account(Base):
    """A person who signs in: citizen, notary, registrar, operator or admin."""

    __tablename__ = "account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    full_name: Mapped[str | None] = mapped_column(Text)
    pinfl: Mapped[str | None] = mapped_column(Text)
    party_id: Mapped[int | None] = mapped_column(ForeignKey("party.id"))
    district_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), default=list)
    locale: Mapped[str] = mapped_column(Text, default="uz")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ)
    last_login_at: Mapped[datetime | None] = mapped_column(TZ)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    name: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(TZ)
    expires_at: Mapped[datetime | None] = mapped_column(TZ)
    revoked_at: Mapped[datetime | None] = mapped_column(TZ)
    last_used_at: Mapped[datetime | None] = mapped_column(TZ)
