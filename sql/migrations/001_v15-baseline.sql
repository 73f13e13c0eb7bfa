-- Migration 001: the upstream v15 baseline (schema_state, session_summaries).
-- Guarded with IF NOT EXISTS so that it is a no-op on a production database that
-- the upstream Python code created before cowrie-db existed.
-- Locks: none on an existing database; CREATE TABLE on an empty one.

-- Up Migration
SET LOCAL lock_timeout = '5s';

CREATE TABLE IF NOT EXISTS schema_state (
    key   varchar(128) PRIMARY KEY,
    value varchar(256) NOT NULL
);

CREATE TABLE IF NOT EXISTS session_summaries (
    session_id         varchar(64) PRIMARY KEY,
    first_event_at     timestamptz,
    last_event_at      timestamptz,
    event_count        integer NOT NULL DEFAULT 0,
    command_count      integer NOT NULL DEFAULT 0,
    file_downloads     integer NOT NULL DEFAULT 0,
    login_attempts     integer NOT NULL DEFAULT 0,
    ssh_key_injections integer NOT NULL DEFAULT 0,
    unique_ssh_keys    integer NOT NULL DEFAULT 0,
    vt_flagged         boolean DEFAULT false,
    dshield_flagged    boolean DEFAULT false,
    risk_score         integer,
    matcher            varchar(32),
    source_files       json,
    enrichment         json,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

INSERT INTO schema_state (key, value) VALUES ('schema_version', '15')
ON CONFLICT (key) DO NOTHING;

-- Down Migration
SET LOCAL lock_timeout = '5s';
DROP TABLE IF EXISTS session_summaries;
DROP TABLE IF EXISTS schema_state;
