-- Migration 002: the upstream v16 three-tier enrichment (ADR-007).
-- asn_inventory, ip_inventory (with its STORED generated columns), ip_asn_history,
-- the snapshot columns on session_summaries, the ISO country CHECK, foreign keys
-- added NOT VALID then validated, and the indexes. schema_version goes to 16.
-- Every statement is guarded so that a database the upstream code half-migrated
-- is completed rather than failing on "already exists".
-- Locks (each taken with lock_timeout and bounded retries by lock_table_with_retry()):
-- ACCESS EXCLUSIVE on session_summaries for ADD COLUMN / ADD CONSTRAINT
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

-- ip_inventory. Its derived columns (the STORED generated geo_country, is_scanner, is_bogon
-- and the plain ip_types) are defined in ONE place, sql/functions/expected_derived_columns.sql,
-- used here, by the repair step and by the tests. Column order is the upstream one.
DO $$
BEGIN
    IF to_regclass('ip_inventory') IS NULL THEN
        EXECUTE format($ddl$
            CREATE TABLE ip_inventory (
                ip_address            varchar(45) PRIMARY KEY,
                current_asn           integer,
                asn_last_verified     timestamptz,
                first_seen            timestamptz NOT NULL,
                last_seen             timestamptz NOT NULL,
                session_count         integer NOT NULL DEFAULT 0,
                enrichment            jsonb NOT NULL DEFAULT '{}'::jsonb,
                enrichment_updated_at timestamptz,
                enrichment_version    varchar(10),
                %s,
                created_at            timestamptz NOT NULL DEFAULT now(),
                updated_at            timestamptz NOT NULL DEFAULT now()
            )$ddl$,
            (SELECT string_agg(column_ddl, E',\n                ' ORDER BY ordinal)
               FROM expected_derived_columns() WHERE table_name = 'ip_inventory'));
    END IF;
END
$$;

-- Completeness guard: an ip_inventory left by a migration that died half-way (table present,
-- generated columns missing, wrong or plain) is completed in place -- ADD COLUMN ... GENERATED
-- ALWAYS AS (...) STORED works on an existing table -- before anything relies on it.
SELECT c.* FROM expected_derived_columns() d,
       LATERAL ensure_derived_column(d.table_name, d.column_name) c
 ORDER BY d.ordinal;

CREATE TABLE IF NOT EXISTS ip_asn_history (
    ip_address  varchar(45) NOT NULL,
    asn_number  integer NOT NULL,
    observed_at timestamptz NOT NULL,
    PRIMARY KEY (ip_address, asn_number, observed_at)
);

-- Drift guard: a database created by the upstream code may carry the snapshot type column as
-- snapshot_ip_types (text or text[]); align it (rename/convert/merge) before adding columns, so
-- that the ADD COLUMN below does not create a second, empty snapshot_ip_type next to it.
SELECT * FROM align_snapshot_ip_type();

ALTER TABLE session_summaries
    ADD COLUMN IF NOT EXISTS source_ip        varchar(45),
    ADD COLUMN IF NOT EXISTS snapshot_asn     integer,
    ADD COLUMN IF NOT EXISTS snapshot_country varchar(2),
    ADD COLUMN IF NOT EXISTS snapshot_ip_type text,
    ADD COLUMN IF NOT EXISTS enrichment_at    timestamptz;

-- Constraints (sql/functions/expected_constraints.sql) are added only when missing, NOT VALID
-- first (no full-table scan under the ACCESS EXCLUSIVE lock), then validated; rows that violate
-- one stop the migration with one error: the statement, the rows counted and the fix.
SELECT c.* FROM expected_constraints() x,
       LATERAL ensure_constraint(x.table_name, x.constraint_name) c
 ORDER BY x.ordinal;

-- Indexes (sql/functions/expected_indexes.sql): created when missing, renamed when the upstream
-- code created the same index under another name, rebuilt when INVALID or different.
SELECT c.* FROM expected_indexes() x,
       LATERAL ensure_index(x.table_name, x.index_name) c
 ORDER BY x.ordinal;

UPDATE schema_state SET value = '16'
WHERE key = 'schema_version' AND value ~ '^[0-9]+$' AND value::int < 16;

-- Down Migration
SET LOCAL lock_timeout = '5s';
-- The same code as sql/rollback/v16_to_v15.sql: drops the v16 columns (snapshot type column in
-- both spellings), constraints, indexes and tables, sets schema_version to 15, and verifies.
SELECT * FROM rollback_v16_to_v15(p_verify_data => false);
