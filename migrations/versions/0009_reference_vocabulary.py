"""Reference vocabulary: building uses become a reference table with ru/uz/en names (like land
categories and permitted uses), and every value list gets its common abbreviations and older
wordings as data (``aliases``), so the loaders, the QGIS forms and the web pages read one list.

- ``building_use`` (code, name_en, name_ru, name_uz, aliases); ``building.building_use``
  references it instead of repeating the codes in a CHECK.
- ``aliases text[]`` on ``land_category``, ``permitted_use``, ``building_use`` and
  ``incident_category``: wordings found in survey files beyond the official names
  (ИЖС, МКД, Земли поселений...). The loader compares them exactly (case, ё/е and punctuation
  aside); the official names it also matches in another grammatical form or shortened.

Revision ID: 0009
Revises: 0012
Create Date: 2026-12-03
"""

from alembic import op

revision = "0009"
down_revision = "0012"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE building_use (
  code text PRIMARY KEY,
  name_en text NOT NULL, name_ru text NOT NULL, name_uz text NOT NULL,
  aliases text[] NOT NULL DEFAULT '{}'
);
INSERT INTO building_use (code, name_en, name_ru, name_uz, aliases) VALUES
  ('residential', 'Residential house', 'Жилой дом', 'Turar joy binosi',
   '{ИЖД, "индивидуальный жилой дом", "частный дом", hovli}'),
  ('apartment', 'Apartment building', 'Многоквартирный жилой дом', 'Koʻp kvartirali turar joy binosi',
   '{МКД, МЖД, "многоэтажный жилой дом", "ko''p qavatli uy"}'),
  ('commercial', 'Commercial building', 'Торговое здание', 'Savdo binosi',
   '{магазин, "торговый центр", "объект торговли"}'),
  ('office', 'Office building', 'Административное здание', 'Maʼmuriy bino',
   '{офис, "офисное здание", "бизнес-центр"}'),
  ('industrial', 'Industrial building', 'Производственное здание', 'Ishlab chiqarish binosi',
   '{склад, цех, завод, производство}'),
  ('public', 'Public building', 'Общественное здание', 'Jamoat binosi',
   '{школа, больница, поликлиника, "детский сад", maktab}'),
  ('garage', 'Garage', 'Гараж', 'Garaj', '{}'),
  ('religious', 'Religious building', 'Культовое здание', 'Diniy bino', '{мечеть, церковь, masjid}'),
  ('other', 'Other building', 'Прочее здание', 'Boshqa bino', '{прочее, иное, boshqa}');

ALTER TABLE building DROP CONSTRAINT IF EXISTS building_building_use_check;
ALTER TABLE building ADD CONSTRAINT building_building_use_fkey
  FOREIGN KEY (building_use) REFERENCES building_use;

ALTER TABLE land_category ADD COLUMN aliases text[] NOT NULL DEFAULT '{}';
ALTER TABLE permitted_use ADD COLUMN aliases text[] NOT NULL DEFAULT '{}';
ALTER TABLE incident_category ADD COLUMN aliases text[] NOT NULL DEFAULT '{}';

UPDATE land_category SET aliases = a FROM (VALUES
  ('settlement', '{"земли поселений", ЗНП, "земли населенного пункта", "населенных пунктов"}'::text[]),
  ('agricultural', '{"земли сельхозназначения", "с х назначения", "земли с х назначения"}'),
  ('forest', '{"лесной фонд"}'),
  ('water', '{"водный фонд"}')) v(code, a)
 WHERE land_category.code = v.code;

UPDATE permitted_use SET aliases = a FROM (VALUES
  ('individual_housing', '{ИЖС, IJS, "индивидуальный жилой дом", "индивидуальное жилье", "жилой дом"}'::text[]),
  ('multi_apartment', '{МКД, "многоквартирный дом", "многоэтажный жилой дом"}'),
  ('commercial', '{торговля, магазин}'),
  ('office', '{офис}'),
  ('industrial', '{промышленность, склад, производство}'),
  ('public', '{школа, больница, поликлиника, "детский сад"}'),
  ('recreation', '{парк}'),
  ('transport', '{автостоянка, стоянка}'),
  ('agriculture', '{сад, огород}'),
  ('religious', '{мечеть}')) v(code, a)
 WHERE permitted_use.code = v.code;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cadastre_viewer') THEN
    GRANT SELECT ON building_use TO cadastre_viewer;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cadastre_registrar') THEN
    GRANT SELECT ON building_use TO cadastre_registrar;
  END IF;
END $$;
"""

DOWNGRADE = r"""
ALTER TABLE incident_category DROP COLUMN IF EXISTS aliases;
ALTER TABLE permitted_use DROP COLUMN IF EXISTS aliases;
ALTER TABLE land_category DROP COLUMN IF EXISTS aliases;
ALTER TABLE building DROP CONSTRAINT IF EXISTS building_building_use_fkey;
ALTER TABLE building ADD CONSTRAINT building_building_use_check CHECK (building_use IN (
  'residential', 'apartment', 'commercial', 'office', 'industrial', 'public', 'garage',
  'religious', 'other'));
DROP TABLE IF EXISTS building_use;
"""


def upgrade() -> None:
    """Create the building-use list and the aliases of every value list."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Back to the CHECK list; the aliases go."""
    op.execute(DOWNGRADE)
