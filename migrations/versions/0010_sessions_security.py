"""Sessions that end, sign-in audit and backoff, staff two-factor, moderated public text.

* ``web_session``: one row per signed-in browser (the cookie carries a random id, the table
  its SHA-256). Sign-out, a password change and ``cadastre-gis users revoke-sessions NAME``
  end rows, so every copy of a cookie stops working on the next request (live streams
  re-check it); idle and absolute timeouts are checked against ``last_seen_at`` and
  ``created_at``. Kept on the primary.
* ``login_attempt`` gains the stage (password, code, recovery, enrol), the reason of a
  refusal and the user agent: it is the sign-in audit (every success and failure) and the
  source of the per account+address backoff (indexes for both lookups).
* ``account`` gains a TOTP secret, the time 2FA was enabled and the last TOTP step used (a
  code is accepted once); ``account_recovery_code`` keeps one-time recovery codes hashed.
* ``incident`` gains ``public_description`` (what anonymous callers see: personal data
  patterns masked by ``cadastre_redact``, or the moderator's edit) and ``moderation_status``
  (``visible``/``hidden``/``edited``); hidden incidents leave the public view.

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-03
"""

from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE web_session (
  id bigserial PRIMARY KEY,
  sid_hash text NOT NULL UNIQUE CHECK (sid_hash ~ '^[0-9a-f]{64}$'),
  account_id integer NOT NULL REFERENCES account ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  ended_reason text,
  remote_addr text,
  user_agent text,
  enrol_2fa boolean NOT NULL DEFAULT false
);
CREATE INDEX web_session_account ON web_session (account_id) WHERE ended_at IS NULL;
COMMENT ON TABLE web_session IS
  'Signed-in browser sessions (cookie id stored as SHA-256); ended rows stay for the audit';

ALTER TABLE login_attempt
  ADD COLUMN stage text NOT NULL DEFAULT 'password'
    CHECK (stage IN ('password', 'code', 'recovery', 'enrol', 'basic')),
  ADD COLUMN reason text,
  ADD COLUMN user_agent text;
CREATE INDEX login_attempt_user_addr ON login_attempt (username, remote_addr, at);
CREATE INDEX login_attempt_addr ON login_attempt (remote_addr, at) WHERE NOT ok;
COMMENT ON TABLE login_attempt IS 'Sign-in audit: every attempt, success or failure, by stage';

ALTER TABLE account
  ADD COLUMN totp_secret text,
  ADD COLUMN totp_enabled_at timestamptz,
  ADD COLUMN totp_last_step bigint;

CREATE TABLE account_recovery_code (
  id serial PRIMARY KEY,
  account_id integer NOT NULL REFERENCES account ON DELETE CASCADE,
  code_hash text NOT NULL CHECK (code_hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  used_at timestamptz,
  UNIQUE (account_id, code_hash)
);

-- Personal data patterns masked in public text; cadastre_gis/redaction.py holds the same
-- patterns (a test keeps both in step).
CREATE OR REPLACE FUNCTION cadastre_redact(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(t,
    '[[:alnum:]_.+-]+@[[:alnum:]_-]+(\.[[:alnum:]_-]+)+', '[…]', 'g'),
    '(?<![\d+])(\+?998[\s().-]*)?\(?\d{2}\)?[\s.-]*\d{3}[\s.-]*\d{2}[\s.-]*\d{2}(?!\d)',
    '[…]', 'g'),
    '(?<!\d)\d{14}(?!\d)', '[…]', 'g'),
    '(?<!\d)\d{9}(?!\d)', '[…]', 'g')
$$;

ALTER TABLE incident
  ADD COLUMN public_description text,
  ADD COLUMN moderation_status text NOT NULL DEFAULT 'visible'
    CHECK (moderation_status IN ('visible', 'hidden', 'edited')),
  ADD COLUMN moderated_by text,
  ADD COLUMN moderated_at timestamptz;

-- The public text follows the description unless a moderator wrote it by hand.
CREATE OR REPLACE FUNCTION incident_public_text() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.moderation_status <> 'edited' AND (TG_OP = 'INSERT'
      OR NEW.description IS DISTINCT FROM OLD.description
      OR NEW.moderation_status IS DISTINCT FROM OLD.moderation_status) THEN
    NEW.public_description := cadastre_redact(NEW.description);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER incident_public_text BEFORE INSERT OR UPDATE ON incident
  FOR EACH ROW EXECUTE FUNCTION incident_public_text();
UPDATE incident SET public_description = cadastre_redact(description)
 WHERE description IS NOT NULL;

CREATE OR REPLACE VIEW ogc_public_incident AS
SELECT i.id, i.category, i.status, i.priority, i.district_id, i.reported_at, i.deadline,
       i.resolved_at, i.closed_at, i.version,
       (i.deadline IS NOT NULL AND i.deadline < cadastre_now()
        AND i.status NOT IN ('resolved', 'closed', 'duplicate', 'rejected')) AS overdue,
       i.geom
  FROM incident i
  JOIN incident_category c ON c.code = i.category
 WHERE i.visibility = 'public' AND c.public AND i.moderation_status <> 'hidden';
"""

DOWNGRADE = r"""
CREATE OR REPLACE VIEW ogc_public_incident AS
SELECT i.id, i.category, i.status, i.priority, i.district_id, i.reported_at, i.deadline,
       i.resolved_at, i.closed_at, i.version,
       (i.deadline IS NOT NULL AND i.deadline < cadastre_now()
        AND i.status NOT IN ('resolved', 'closed', 'duplicate', 'rejected')) AS overdue,
       i.geom
  FROM incident i
  JOIN incident_category c ON c.code = i.category
 WHERE i.visibility = 'public' AND c.public;
DROP TRIGGER IF EXISTS incident_public_text ON incident;
DROP FUNCTION IF EXISTS incident_public_text();
ALTER TABLE incident DROP COLUMN IF EXISTS public_description,
  DROP COLUMN IF EXISTS moderation_status, DROP COLUMN IF EXISTS moderated_by,
  DROP COLUMN IF EXISTS moderated_at;
DROP FUNCTION IF EXISTS cadastre_redact(text);
DROP TABLE IF EXISTS account_recovery_code;
ALTER TABLE account DROP COLUMN IF EXISTS totp_secret, DROP COLUMN IF EXISTS totp_enabled_at,
  DROP COLUMN IF EXISTS totp_last_step;
DROP INDEX IF EXISTS login_attempt_addr;
DROP INDEX IF EXISTS login_attempt_user_addr;
ALTER TABLE login_attempt DROP COLUMN IF EXISTS stage, DROP COLUMN IF EXISTS reason,
  DROP COLUMN IF EXISTS user_agent;
DROP TABLE IF EXISTS web_session;
"""


def upgrade() -> None:
    """Create session, 2FA and moderation structures."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Drop them."""
    op.execute(DOWNGRADE)
