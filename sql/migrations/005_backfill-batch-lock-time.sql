-- Migration 005: backfill_batches.lock_ms, how long each batch held its row locks on
-- session_summaries (from the first FOR NO KEY UPDATE to the end of the batch, just
-- before its COMMIT). The values are computed before the locks are taken, so this is
-- shorter than duration_ms; NULL for dry runs and batches that locked nothing.
-- Locks: ACCESS EXCLUSIVE on backfill_batches for a catalog-only change (no rewrite).

-- Up Migration
ALTER TABLE backfill_batches ADD COLUMN IF NOT EXISTS lock_ms double precision;

-- Down Migration
ALTER TABLE backfill_batches DROP COLUMN IF EXISTS lock_ms;
