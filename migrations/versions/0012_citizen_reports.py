"""Citizen reports: tracking tokens, photos, subscriptions, the notification outbox and opt-outs;
named streets for the basemap.

A report from the portal is an ordinary incident (source ``portal``) plus a ``citizen_report``
row holding its unguessable tracking token. Status changes queue one ``notification`` per
consenting subscriber by trigger, so a change made from the dashboard, QGIS or psql reaches
citizens the same way; ``cadastre_gis.notify`` renders and delivers the queue.

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-03
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UPGRADE = r"""
ALTER TABLE incident DROP CONSTRAINT IF EXISTS incident_source_check;
ALTER TABLE incident ADD CONSTRAINT incident_source_check CHECK (source IN ('open311',
  'dashboard', 'qgis', 'sql', 'phone', 'camera', 'demo', 'import', 'portal'));

-- One row per report made on the portal: the public tracking token and who made it.
CREATE TABLE citizen_report (
  token text PRIMARY KEY CHECK (length(token) >= 16),
  incident_id bigint NOT NULL UNIQUE REFERENCES incident ON DELETE CASCADE,
  account_id integer REFERENCES account ON DELETE SET NULL,
  lang text NOT NULL DEFAULT 'uz' CHECK (lang IN ('uz', 'ru', 'en')),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX citizen_report_account ON citizen_report (account_id, created_at);

-- Photos attached to an incident: resized, metadata stripped, stored under the data dir.
-- Operators see them all; the public tracking page only the approved ones.
CREATE TABLE incident_photo (
  id bigserial PRIMARY KEY,
  incident_id bigint NOT NULL REFERENCES incident ON DELETE CASCADE,
  path text NOT NULL UNIQUE,
  content_type text NOT NULL DEFAULT 'image/jpeg',
  width integer NOT NULL CHECK (width > 0),
  height integer NOT NULL CHECK (height > 0),
  bytes integer NOT NULL CHECK (bytes > 0),
  sha256 text NOT NULL,
  approved boolean NOT NULL DEFAULT false,
  approved_by text,
  approved_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incident_photo_incident ON incident_photo (incident_id, id);

-- Who hears about an incident's status changes, on which channel, in which language.
CREATE TABLE incident_subscription (
  id bigserial PRIMARY KEY,
  incident_id bigint NOT NULL REFERENCES incident ON DELETE CASCADE,
  channel text NOT NULL CHECK (channel IN ('email', 'sms', 'telegram')),
  address text NOT NULL CHECK (length(address) BETWEEN 3 AND 320),
  lang text NOT NULL DEFAULT 'uz' CHECK (lang IN ('uz', 'ru', 'en')),
  role text NOT NULL DEFAULT 'subscriber' CHECK (role IN ('reporter', 'subscriber')),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (incident_id, channel, address)
);

-- A citizen who said "stop": nothing more is sent to this address on this channel.
CREATE TABLE notification_optout (
  channel text NOT NULL,
  address text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (channel, address)
);

-- The outbox: queued by trigger, rendered and delivered by cadastre_gis.notify.
CREATE TABLE notification (
  id bigserial PRIMARY KEY,
  incident_id bigint NOT NULL REFERENCES incident ON DELETE CASCADE,
  event_id bigint REFERENCES incident_event ON DELETE SET NULL,
  subscription_id bigint REFERENCES incident_subscription ON DELETE SET NULL,
  channel text NOT NULL,
  address text NOT NULL,
  lang text NOT NULL DEFAULT 'uz',
  to_status text,
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed', 'skipped')),
  transport text,
  subject text,
  body text,
  error text,
  attempts integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz
);
CREATE INDEX notification_queued ON notification (id) WHERE status = 'queued';
CREATE INDEX notification_incident ON notification (incident_id, id);

CREATE OR REPLACE FUNCTION incident_event_queue_notifications() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO notification (incident_id, event_id, subscription_id, channel, address, lang,
                            to_status)
  SELECT NEW.incident_id, NEW.id, s.id, s.channel, s.address, s.lang, NEW.to_status
    FROM incident_subscription s
   WHERE s.incident_id = NEW.incident_id
     AND NOT EXISTS (SELECT 1 FROM notification_optout o
                      WHERE o.channel = s.channel AND o.address = s.address);
  PERFORM pg_notify('notifications', NEW.incident_id::text);
  RETURN NULL;
END $$;

CREATE TRIGGER incident_event_50_queue_notifications AFTER INSERT ON incident_event
  FOR EACH ROW WHEN (NEW.kind = 'status')
  EXECUTE FUNCTION incident_event_queue_notifications();

-- Named street centre lines of the (demo) city, drawn and labelled on the basemap.
CREATE TABLE street (
  id serial PRIMARY KEY,
  name text NOT NULL,
  name_ru text,
  kind text NOT NULL DEFAULT 'street' CHECK (kind IN ('avenue', 'street', 'lane')),
  district_id integer REFERENCES district,
  geom geometry(MultiLineString, 32642) NOT NULL CHECK (ST_IsValid(geom))
);
CREATE INDEX street_geom_gist ON street USING gist (geom);
CREATE INDEX street_name_trgm ON street USING gin (name gin_trgm_ops);
-- edits of streets invalidate cached tiles of the streets layer (as 0011 does for parcels)
CREATE TRIGGER street_95_tiles_ins AFTER INSERT ON street REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tile_change_note('streets');
CREATE TRIGGER street_95_tiles_upd AFTER UPDATE ON street
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tile_change_note('streets');
CREATE TRIGGER street_95_tiles_del AFTER DELETE ON street REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tile_change_note('streets');
CREATE TRIGGER street_95_tiles_trunc AFTER TRUNCATE ON street
  FOR EACH STATEMENT EXECUTE FUNCTION tile_change_note('streets');
"""

DOWNGRADE = r"""
DROP TABLE IF EXISTS street;
DROP TRIGGER IF EXISTS incident_event_50_queue_notifications ON incident_event;
DROP FUNCTION IF EXISTS incident_event_queue_notifications();
DROP TABLE IF EXISTS notification, notification_optout, incident_subscription, incident_photo,
  citizen_report;
UPDATE incident SET source = 'sql' WHERE source = 'portal';
ALTER TABLE incident DROP CONSTRAINT IF EXISTS incident_source_check;
ALTER TABLE incident ADD CONSTRAINT incident_source_check CHECK (source IN ('open311',
  'dashboard', 'qgis', 'sql', 'phone', 'camera', 'demo', 'import'));
"""


def upgrade() -> None:
    """Create the citizen-report, photo, notification and street tables."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Drop everything the upgrade created."""
    op.execute(DOWNGRADE)
