-- Migration 006: two counters of backfill_runs for the snapshot rule that reads both
-- enrichment shapes (sql/functions/backfill_snapshot_source.sql):
--   enrichment_at_from_session  enrichment_at written from the session row's created_at
--                               (the values came from the session's own capture, which
--                               carries no enriched_at: the upstream loader's shape)
--   rows_multi_ip               sessions decided whose enrichment names more than one
--                               source IP under "session" (the first one is used)
-- Locks: ACCESS EXCLUSIVE on backfill_runs for a catalog-only change (constant
-- defaults: no rewrite).

-- Up Migration
ALTER TABLE backfill_runs
    ADD COLUMN IF NOT EXISTS enrichment_at_from_session bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS rows_multi_ip bigint NOT NULL DEFAULT 0;

-- Down Migration
-- The view over backfill_runs reads the columns: it goes first, and `migrate` installs it again.
DROP VIEW IF EXISTS backfill_progress;
ALTER TABLE backfill_runs
    DROP COLUMN IF EXISTS rows_multi_ip,
    DROP COLUMN IF EXISTS enrichment_at_from_session;
