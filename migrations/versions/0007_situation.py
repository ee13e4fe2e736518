"""Situation center: incident enrichment, lifecycle, timeline, duplicates, live notifications,
camera visibility and health, Open311 rate counters.

Every rule is a trigger, so an incident from Open311, the dashboard, QGIS or plain psql is
enriched (district, parcel, building, responsible service, priority, deadline), checked
(allowed status transitions), recorded (``incident_event`` with the actor) and announced
(``pg_notify('incidents', ...)``) the same way.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = r"""
-- ---------------------------------------------------------------------------------------
-- Lifecycle: which status may follow which (kept as data; cadastre_gis/incidents.py mirrors it)
-- ---------------------------------------------------------------------------------------
CREATE TABLE incident_transition (
  from_status text NOT NULL,
  to_status text NOT NULL,
  PRIMARY KEY (from_status, to_status),
  CHECK (from_status <> to_status)
);
INSERT INTO incident_transition (from_status, to_status) VALUES
  ('new', 'triaged'), ('new', 'dispatched'), ('new', 'duplicate'), ('new', 'rejected'),
  ('triaged', 'dispatched'), ('triaged', 'duplicate'), ('triaged', 'rejected'),
  ('dispatched', 'in_progress'), ('dispatched', 'resolved'), ('dispatched', 'triaged'),
  ('dispatched', 'duplicate'),
  ('in_progress', 'resolved'), ('in_progress', 'dispatched'),
  ('resolved', 'closed'), ('resolved', 'in_progress'),
  ('duplicate', 'new'), ('rejected', 'new');

-- Open311 POST rate limiting shared by every worker: one counter per key and minute.
CREATE TABLE open311_rate (
  key text NOT NULL,
  minute timestamptz NOT NULL,
  n integer NOT NULL DEFAULT 0,
  PRIMARY KEY (key, minute)
);

CREATE INDEX incident_open ON incident (category, reported_at)
  WHERE status IN ('new', 'triaged', 'dispatched', 'in_progress');
CREATE INDEX incident_event_id_incident ON incident_event (incident_id, id);
CREATE INDEX incident_deadline_open ON incident (deadline)
  WHERE status IN ('new', 'triaged', 'dispatched', 'in_progress');

CREATE OR REPLACE FUNCTION incident_is_open(status text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT status IN ('new', 'triaged', 'dispatched', 'in_progress')
$$;

-- The service answering for a category at a district: district branch first, then city-wide.
CREATE OR REPLACE FUNCTION incident_service_for(cat text, district integer) RETURNS integer
LANGUAGE sql STABLE AS $$
  SELECT sa.service_id FROM service_area sa
   WHERE sa.category = cat AND (sa.district_id = district OR sa.district_id IS NULL)
   ORDER BY sa.district_id NULLS LAST, sa.id LIMIT 1
$$;

-- BEFORE INSERT, and BEFORE UPDATE OF geom, category: fill everything the point implies.
CREATE OR REPLACE FUNCTION incident_enrich() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  cat incident_category%ROWTYPE;
BEGIN
  IF NEW.geom IS NULL OR ST_IsEmpty(NEW.geom) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'incident: location is empty';
  END IF;
  SELECT * INTO cat FROM incident_category WHERE code = NEW.category;
  IF TG_OP = 'UPDATE' AND NEW.geom IS NOT DISTINCT FROM OLD.geom
     AND NEW.category IS NOT DISTINCT FROM OLD.category THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' OR NOT ST_Equals(NEW.geom, OLD.geom) THEN
    NEW.district_id := (SELECT d.id FROM district d WHERE ST_Intersects(d.geom, NEW.geom)
                         ORDER BY d.id LIMIT 1);
    NEW.parcel_id := (SELECT p.id FROM parcel p WHERE p.status = 'active'
                        AND ST_Intersects(p.geom, NEW.geom) ORDER BY p.id LIMIT 1);
    NEW.building_id := (SELECT b.id FROM building b WHERE b.status = 'active'
                          AND ST_Intersects(b.geom, NEW.geom) ORDER BY b.id LIMIT 1);
  END IF;
  IF TG_OP = 'INSERT' THEN
    NEW.service_id := coalesce(NEW.service_id, incident_service_for(NEW.category, NEW.district_id));
    NEW.priority := coalesce(NEW.priority, cat.default_priority);
    NEW.deadline := coalesce(NEW.deadline,
                             NEW.reported_at + make_interval(hours => cat.deadline_hours));
    -- possible duplicate: the nearest earlier open incident of the same category, 50 m, 24 h
    NEW.possible_duplicate_of := coalesce(NEW.possible_duplicate_of, (
      SELECT i.id FROM incident i
       WHERE i.category = NEW.category
         AND incident_is_open(i.status)
         AND i.reported_at <= NEW.reported_at
         AND i.reported_at > NEW.reported_at - interval '24 hours'
         AND ST_DWithin(i.geom, NEW.geom, 50)
       ORDER BY ST_Distance(i.geom, NEW.geom), i.reported_at, i.id LIMIT 1));
  ELSE
    NEW.service_id := coalesce(incident_service_for(NEW.category, NEW.district_id), NEW.service_id);
    IF NEW.category IS DISTINCT FROM OLD.category THEN
      NEW.priority := cat.default_priority;
      NEW.deadline := NEW.reported_at + make_interval(hours => cat.deadline_hours);
    END IF;
  END IF;
  RETURN NEW;
END $$;

-- BEFORE UPDATE: allowed transitions, timestamps, version.
CREATE OR REPLACE FUNCTION incident_lifecycle() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  allowed text;
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    IF NOT EXISTS (SELECT 1 FROM incident_transition t
                    WHERE t.from_status = OLD.status AND t.to_status = NEW.status) THEN
      SELECT string_agg(t.to_status, ', ' ORDER BY t.to_status) INTO allowed
        FROM incident_transition t WHERE t.from_status = OLD.status;
      RAISE EXCEPTION USING ERRCODE = '23514',
        MESSAGE = format('incident %s cannot go from %s to %s (allowed: %s)',
                         OLD.id, OLD.status, NEW.status, coalesce(allowed, 'none'));
    END IF;
    IF NEW.status = 'duplicate' AND NEW.duplicate_of IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = '23514',
        MESSAGE = format('incident %s: a duplicate needs duplicate_of', OLD.id);
    END IF;
    IF NEW.status = 'resolved' THEN NEW.resolved_at := coalesce(NEW.resolved_at, now()); END IF;
    IF NEW.status = 'closed' THEN NEW.closed_at := coalesce(NEW.closed_at, now()); END IF;
    IF incident_is_open(NEW.status) THEN
      NEW.resolved_at := NULL; NEW.closed_at := NULL;
    END IF;
    IF NEW.status <> 'duplicate' AND OLD.status = 'duplicate' THEN NEW.duplicate_of := NULL; END IF;
  END IF;
  IF NEW.duplicate_of IS NOT NULL AND NEW.duplicate_of = NEW.id THEN
    RAISE EXCEPTION USING ERRCODE = '23514',
      MESSAGE = format('incident %s cannot be a duplicate of itself', OLD.id);
  END IF;
  IF (NEW.status, NEW.priority, NEW.category, NEW.geom, NEW.service_id, NEW.duplicate_of,
      NEW.title, NEW.description, NEW.address, NEW.visibility, NEW.deadline)
     IS DISTINCT FROM
     (OLD.status, OLD.priority, OLD.category, OLD.geom, OLD.service_id, OLD.duplicate_of,
      OLD.title, OLD.description, OLD.address, OLD.visibility, OLD.deadline) THEN
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END $$;

-- AFTER INSERT / UPDATE: the timeline. The note comes from cadastre.note (set by the app).
CREATE OR REPLACE FUNCTION incident_timeline() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  note text := nullif(current_setting('cadastre.note', true), '');
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO incident_event (incident_id, at, kind, to_status, note, data)
    VALUES (NEW.id, least(NEW.reported_at, clock_timestamp()), 'created', NEW.status, note,
            jsonb_strip_nulls(jsonb_build_object(
              'source', NEW.source, 'district_id', NEW.district_id,
              'parcel_id', NEW.parcel_id, 'building_id', NEW.building_id,
              'service_id', NEW.service_id, 'deadline', NEW.deadline,
              'possible_duplicate_of', NEW.possible_duplicate_of)));
    RETURN NULL;
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    INSERT INTO incident_event (incident_id, kind, from_status, to_status, note)
    VALUES (NEW.id, 'status', OLD.status, NEW.status, note);
  END IF;
  IF NEW.service_id IS DISTINCT FROM OLD.service_id THEN
    INSERT INTO incident_event (incident_id, kind, note, data)
    VALUES (NEW.id, 'assigned', note,
            jsonb_build_object('from_service_id', OLD.service_id, 'service_id', NEW.service_id));
  END IF;
  IF NOT ST_Equals(NEW.geom, OLD.geom) THEN
    INSERT INTO incident_event (incident_id, kind, note, data)
    VALUES (NEW.id, 'moved', note, jsonb_build_object(
      'distance_m', round(ST_Distance(NEW.geom, OLD.geom)::numeric, 1),
      'district_id', NEW.district_id, 'parcel_id', NEW.parcel_id,
      'building_id', NEW.building_id));
  END IF;
  IF NEW.category IS DISTINCT FROM OLD.category THEN
    INSERT INTO incident_event (incident_id, kind, note, data)
    VALUES (NEW.id, 'recategorized', note,
            jsonb_build_object('from', OLD.category, 'to', NEW.category));
  END IF;
  IF NEW.priority IS DISTINCT FROM OLD.priority THEN
    INSERT INTO incident_event (incident_id, kind, note, data)
    VALUES (NEW.id, 'priority', note, jsonb_build_object('from', OLD.priority, 'to', NEW.priority));
  END IF;
  IF NEW.duplicate_of IS DISTINCT FROM OLD.duplicate_of AND NEW.duplicate_of IS NOT NULL THEN
    -- links both ways: the duplicate and the incident it was merged into both get an event
    INSERT INTO incident_event (incident_id, kind, note, data)
    VALUES (NEW.id, 'merged', note, jsonb_build_object('into', NEW.duplicate_of)),
           (NEW.duplicate_of, 'merged_in', note, jsonb_build_object('duplicate', NEW.id));
  END IF;
  RETURN NULL;
END $$;

-- The timeline holds one "created" event per incident: a second one (e.g. from a loader that
-- writes its own, as the demo does) is dropped silently.
CREATE OR REPLACE FUNCTION incident_event_dedupe() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.kind = 'created' AND EXISTS (
      SELECT 1 FROM incident_event e WHERE e.incident_id = NEW.incident_id AND e.kind = 'created') THEN
    RETURN NULL;
  END IF;
  RETURN NEW;
END $$;

-- Every timeline event is announced; listeners replay by event id (SSE Last-Event-ID).
CREATE OR REPLACE FUNCTION incident_event_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('incidents', json_build_object(
    'id', NEW.incident_id, 'event', NEW.id, 'op', NEW.kind)::text);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION incident_delete_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('incidents', json_build_object('id', OLD.id, 'event', NULL, 'op', 'deleted')::text);
  RETURN NULL;
END $$;

CREATE TRIGGER incident_10_enrich_ins BEFORE INSERT ON incident
  FOR EACH ROW EXECUTE FUNCTION incident_enrich();
CREATE TRIGGER incident_10_enrich_upd BEFORE UPDATE OF geom, category ON incident
  FOR EACH ROW EXECUTE FUNCTION incident_enrich();
CREATE TRIGGER incident_20_lifecycle BEFORE UPDATE ON incident
  FOR EACH ROW EXECUTE FUNCTION incident_lifecycle();
CREATE TRIGGER incident_30_timeline AFTER INSERT OR UPDATE ON incident
  FOR EACH ROW EXECUTE FUNCTION incident_timeline();
CREATE TRIGGER incident_90_notify_del AFTER DELETE ON incident
  FOR EACH ROW EXECUTE FUNCTION incident_delete_notify();
CREATE TRIGGER incident_event_10_dedupe BEFORE INSERT ON incident_event
  FOR EACH ROW EXECUTE FUNCTION incident_event_dedupe();
CREATE TRIGGER incident_event_90_notify AFTER INSERT ON incident_event
  FOR EACH ROW EXECUTE FUNCTION incident_event_notify();

-- ---------------------------------------------------------------------------------------
-- Cameras: view wedge, visibility test, health
-- ---------------------------------------------------------------------------------------
-- Smallest angle between two bearings in degrees (0..180), correct across 0°/360°.
CREATE OR REPLACE FUNCTION bearing_difference(a double precision, b double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT abs(((a - b)::numeric % 360 + 540) % 360 - 180)::double precision
$$;

-- True when camera (at cam, heading clockwise from north, fov, range) sees point pt.
CREATE OR REPLACE FUNCTION camera_sees(cam geometry, heading double precision,
                                       fov double precision, range_m double precision,
                                       pt geometry)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT ST_DWithin(cam, pt, range_m)
     AND (fov >= 360 OR ST_Equals(cam, pt)
          OR bearing_difference(degrees(ST_Azimuth(cam, pt)), heading) <= fov / 2.0)
$$;

-- The view wedge polygon (storage SRID): apex at the camera, arc at range_m.
CREATE OR REPLACE FUNCTION camera_wedge(cam geometry, heading double precision,
                                        fov double precision, range_m double precision,
                                        segments integer DEFAULT 24)
RETURNS geometry LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN fov >= 360 THEN ST_Buffer(cam, range_m, segments)
  ELSE ST_SetSRID(ST_MakePolygon(ST_MakeLine(ARRAY(
    SELECT pt FROM (
      SELECT 0 AS k, ST_MakePoint(ST_X(cam), ST_Y(cam)) AS pt
      UNION ALL
      SELECT 1 + s, ST_MakePoint(
        ST_X(cam) + range_m * sin(radians(heading - fov / 2.0 + fov * s / segments)),
        ST_Y(cam) + range_m * cos(radians(heading - fov / 2.0 + fov * s / segments)))
        FROM generate_series(0, segments) s
      UNION ALL
      SELECT segments + 2, ST_MakePoint(ST_X(cam), ST_Y(cam))
    ) q ORDER BY k))), ST_SRID(cam)) END
$$;

-- Health: a camera reported online but silent for longer than the limit counts as offline.
CREATE OR REPLACE FUNCTION camera_health(status text, last_heartbeat timestamptz,
                                         offline_minutes integer)
RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN status <> 'online' THEN status
    WHEN last_heartbeat IS NULL
      OR last_heartbeat < now() - make_interval(mins => offline_minutes) THEN 'offline'
    ELSE 'online' END
$$;

-- For psql/QGIS: health with the limit from cadastre.camera_offline_minutes (default 10).
CREATE VIEW camera_status AS
SELECT c.id, c.code, c.name, c.district_id, c.heading_deg, c.fov_deg, c.range_m, c.status,
       c.last_heartbeat,
       camera_health(c.status, c.last_heartbeat, coalesce(
         nullif(current_setting('cadastre.camera_offline_minutes', true), '')::int, 10)) AS health,
       c.geom,
       camera_wedge(c.geom, c.heading_deg, c.fov_deg, c.range_m) AS wedge
  FROM camera c;

-- Cameras that see an incident: within range and inside the view wedge.
CREATE OR REPLACE FUNCTION cameras_seeing(p_incident_id bigint,
                                          offline_minutes integer DEFAULT 10)
RETURNS TABLE (camera_id integer, code text, name text, distance_m double precision,
               azimuth_deg double precision, health text)
LANGUAGE sql STABLE AS $$
  SELECT c.id, c.code, c.name, ST_Distance(c.geom, i.geom),
         degrees(ST_Azimuth(c.geom, i.geom)),
         camera_health(c.status, c.last_heartbeat, offline_minutes)
    FROM incident i
    JOIN camera c ON ST_DWithin(c.geom, i.geom, 2000)
   WHERE i.id = p_incident_id
     AND camera_sees(c.geom, c.heading_deg, c.fov_deg, c.range_m, i.geom)
   ORDER BY ST_Distance(c.geom, i.geom), c.id
$$;
"""

DOWNGRADE = r"""
DROP FUNCTION IF EXISTS cameras_seeing(bigint, integer);
DROP VIEW IF EXISTS camera_status;
DROP FUNCTION IF EXISTS camera_health(text, timestamptz, integer);
DROP FUNCTION IF EXISTS camera_wedge(geometry, double precision, double precision,
                                     double precision, integer);
DROP FUNCTION IF EXISTS camera_sees(geometry, double precision, double precision,
                                    double precision, geometry);
DROP FUNCTION IF EXISTS bearing_difference(double precision, double precision);
DROP TRIGGER IF EXISTS incident_event_90_notify ON incident_event;
DROP TRIGGER IF EXISTS incident_event_10_dedupe ON incident_event;
DROP TRIGGER IF EXISTS incident_90_notify_del ON incident;
DROP TRIGGER IF EXISTS incident_30_timeline ON incident;
DROP TRIGGER IF EXISTS incident_20_lifecycle ON incident;
DROP TRIGGER IF EXISTS incident_10_enrich_upd ON incident;
DROP TRIGGER IF EXISTS incident_10_enrich_ins ON incident;
DROP FUNCTION IF EXISTS incident_delete_notify(), incident_event_notify(),
  incident_event_dedupe(), incident_timeline(), incident_lifecycle(), incident_enrich(),
  incident_service_for(text, integer), incident_is_open(text) CASCADE;
DROP INDEX IF EXISTS incident_deadline_open;
DROP INDEX IF EXISTS incident_event_id_incident;
DROP INDEX IF EXISTS incident_open;
DROP TABLE IF EXISTS open311_rate, incident_transition;
"""


def upgrade() -> None:
    """Create the situation-center triggers, functions, view and tables."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Drop everything the upgrade created."""
    op.execute(DOWNGRADE)
