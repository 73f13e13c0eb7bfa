-- backfill_advisory_lock_class() -> integer: the first key of every advisory lock of the
-- backfill, 1668249458 ('cowr' in ASCII). The second key says which lock:
--   1  transaction-level, held by backfill_snapshots and undo_backfill while they
--      check who runs and claim a run (see backfill_lock_holder)
--   2  session-level, held by a `cowrie-db backfill` process for its lifetime, so that
--      two such processes never drive the database at once
-- The one place the number is written.
-- Locks: none.
CREATE OR REPLACE FUNCTION backfill_advisory_lock_class()
RETURNS integer
LANGUAGE sql IMMUTABLE
AS $fn$ SELECT 1668249458 $fn$;
