-- Migration 002: the upstream v16 three-tier enrichment (ADR-007).
-- asn_inventory, ip_inventory (with its STORED generated columns), ip_asn_history,
-- the snapshot columns on session_summaries, the ISO country CHECK, foreign keys
-- added NOT VALID then validated, and the indexes. schema_version goes to 16.
-- Every statement is guarded so that a database the upstream code half-migrated
-- is completed rather than failing on "already exists".
-- Locks: ACCESS EXCLUSIVE on session_summaries for ADD COLUMN / ADD CONSTRAINT
-- (metadata only, no rewrite); SHARE UPDATE EXCLUSIVE for VALIDATE CONSTRAINT;
-- SHARE for the CREATE INDEX statements (this migration runs in a transaction;
-- indexes missing on a large live table are rebuilt CONCURRENTLY by the repair step).

-- Up Migration
SET LOCAL lock_timeout = '5s';

CREATE TABLE IF NOT EXISTS asn_inventory (
    asn_number            integer PRIMARY KEY CHECK (asn_number > 0),
    organization_name     text,
    organization_country  varchar(2),
    rir_registry          varchar(10),
    asn_type              text,
    is_known_hosting      boolean NOT NULL DEFAULT false,
    is_known_vpn          boolean NOT NULL DEFAULT false,
    first_seen            timestamptz NOT NULL,
    last_seen             timestamptz NOT NULL,
    unique_ip_count       integer NOT NULL DEFAULT 0,
    total_session_count   integer NOT NULL DEFAULT 0,
    enrichment            jsonb NOT NULL DEFAULT '{}'::jsonb,
    enrichment_updated_at timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS ip_inventory (
    ip_address            varchar(45) PRIMARY KEY,
    current_asn           integer,
    asn_last_verified     timestamptz,
    first_seen            timestamptz NOT NULL,
    last_seen             timestamptz NOT NULL,
    session_count         integer NOT NULL DEFAULT 0,
    enrichment            jsonb NOT NULL DEFAULT '{}'::jsonb,
    enrichment_updated_at timestamptz,
    enrichment_version    varchar(10),
    geo_country           varchar(2) GENERATED ALWAYS AS (
        upper(COALESCE(enrichment -> 'maxmind' ->> 'country',
                       enrichment -> 'cymru' ->> 'country',
                       enrichment -> 'dshield' -> 'ip' ->> 'ascountry',
                       'XX'))) STORED,
    ip_types              text[] NOT NULL DEFAULT '{}'::text[],
    is_scanner            boolean GENERATED ALWAYS AS (
        COALESCE((enrichment -> 'greynoise' ->> 'noise')::boolean, false)) STORED,
    is_bogon              boolean GENERATED ALWAYS AS (
        COALESCE((enrichment -> 'validation' ->> 'is_bogon')::boolean, false)) STORED,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS ip_asn_history (
    ip_address  varchar(45) NOT NULL,
    asn_number  integer NOT NULL,
    observed_at timestamptz NOT NULL,
    PRIMARY KEY (ip_address, asn_number, observed_at)
);

ALTER TABLE session_summaries
    ADD COLUMN IF NOT EXISTS source_ip        varchar(45),
    ADD COLUMN IF NOT EXISTS snapshot_asn     integer,
    ADD COLUMN IF NOT EXISTS snapshot_country varchar(2),
    ADD COLUMN IF NOT EXISTS snapshot_ip_type text,
    ADD COLUMN IF NOT EXISTS enrichment_at    timestamptz;

-- Constraints have no IF NOT EXISTS: add each one only when it is missing,
-- NOT VALID first (no full-table scan under the ACCESS EXCLUSIVE lock).
DO $$
DECLARE
    wanted record;
BEGIN
    FOR wanted IN
        SELECT * FROM (VALUES
            ('session_summaries', 'ck_session_summaries_snapshot_country',
             $c$CHECK (snapshot_country IS NULL OR snapshot_country ~ '^[A-Z]{2}$')$c$),
            ('session_summaries', 'fk_session_summaries_source_ip',
             'FOREIGN KEY (source_ip) REFERENCES ip_inventory (ip_address)'),
            ('ip_inventory', 'fk_ip_inventory_current_asn',
             'FOREIGN KEY (current_asn) REFERENCES asn_inventory (asn_number)'),
            ('ip_asn_history', 'fk_ip_asn_history_ip_address',
             'FOREIGN KEY (ip_address) REFERENCES ip_inventory (ip_address)'),
            ('ip_asn_history', 'fk_ip_asn_history_asn_number',
             'FOREIGN KEY (asn_number) REFERENCES asn_inventory (asn_number)')
        ) AS t(table_name, constraint_name, definition)
    LOOP
        IF NOT EXISTS (
            SELECT 1 FROM pg_constraint
            WHERE conname = wanted.constraint_name
              AND conrelid = to_regclass(format('%I', wanted.table_name))
        ) THEN
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s NOT VALID',
                           wanted.table_name, wanted.constraint_name, wanted.definition);
        END IF;
        EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I',
                       wanted.table_name, wanted.constraint_name);
    END LOOP;
END
$$;

CREATE INDEX IF NOT EXISTS ix_session_summaries_source_ip
    ON session_summaries (source_ip);
CREATE INDEX IF NOT EXISTS ix_session_summaries_first_event_brin
    ON session_summaries USING brin (first_event_at);
CREATE INDEX IF NOT EXISTS ix_session_summaries_last_event_brin
    ON session_summaries USING brin (last_event_at);
CREATE INDEX IF NOT EXISTS ix_session_summaries_snapshot_asn
    ON session_summaries (snapshot_asn);
CREATE INDEX IF NOT EXISTS ix_session_summaries_snapshot_country
    ON session_summaries (snapshot_country);
CREATE INDEX IF NOT EXISTS ix_ip_inventory_current_asn ON ip_inventory (current_asn);
CREATE INDEX IF NOT EXISTS ix_ip_inventory_geo_country ON ip_inventory (geo_country);
CREATE INDEX IF NOT EXISTS ix_ip_inventory_is_scanner ON ip_inventory (is_scanner);
CREATE INDEX IF NOT EXISTS ix_ip_inventory_ip_types ON ip_inventory USING gin (ip_types);
CREATE INDEX IF NOT EXISTS ix_ip_asn_history_ip_observed
    ON ip_asn_history (ip_address, observed_at DESC);
CREATE INDEX IF NOT EXISTS ix_asn_inventory_country ON asn_inventory (organization_country);

UPDATE schema_state SET value = '16'
WHERE key = 'schema_version' AND value ~ '^[0-9]+$' AND value::int < 16;

-- Down Migration
SET LOCAL lock_timeout = '5s';
ALTER TABLE session_summaries
    DROP CONSTRAINT IF EXISTS fk_session_summaries_source_ip,
    DROP CONSTRAINT IF EXISTS ck_session_summaries_snapshot_country;
DROP INDEX IF EXISTS ix_session_summaries_source_ip;
DROP INDEX IF EXISTS ix_session_summaries_first_event_brin;
DROP INDEX IF EXISTS ix_session_summaries_last_event_brin;
DROP INDEX IF EXISTS ix_session_summaries_snapshot_asn;
DROP INDEX IF EXISTS ix_session_summaries_snapshot_country;
ALTER TABLE session_summaries
    DROP COLUMN IF EXISTS source_ip,
    DROP COLUMN IF EXISTS snapshot_asn,
    DROP COLUMN IF EXISTS snapshot_country,
    DROP COLUMN IF EXISTS snapshot_ip_type,
    DROP COLUMN IF EXISTS snapshot_ip_types,
    DROP COLUMN IF EXISTS enrichment_at;
DROP TABLE IF EXISTS ip_asn_history;
DROP TABLE IF EXISTS ip_inventory;
DROP TABLE IF EXISTS asn_inventory;
UPDATE schema_state SET value = '15' WHERE key = 'schema_version';
