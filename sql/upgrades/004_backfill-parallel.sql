-- Upgrade step 004, run before sql/functions is installed (see sql/upgrades/README.md):
-- parallel workers over key ranges (migration 008) and throttling.
--   backfill_snapshot_page(bigint,text,integer,text)          gained until_key
--   backfill_snapshots_apply(bigint,text,integer,boolean,boolean,text)
--   backfill_snapshots_apply_dry(bigint,text,integer)
--   backfill_snapshots_apply_safe(bigint,text,integer,boolean,boolean,text)
--                                                              gained until_key and
--                                                              return the step's counts
--   backfill_snapshots_batch(bigint,text,integer,boolean,boolean,text)
--                                                              gained until_key, range_no
--   backfill_snapshots(...)   gained workers and the throttle_* parameters (before the
--                             INOUT run_id and status); the two previous signatures
--                             (before and after recheck_rejects/recheck_all) are dropped,
--                             or CALLs by name would be ambiguous
-- Each old signature is dropped when present, and created anew by sql/functions.
-- Nothing else depends on them in the catalog (PL/pgSQL callers resolve them when
-- they run). Re-runnable: does nothing on a current install.
-- Locks: ACCESS EXCLUSIVE on those routines' catalog rows only (no table).
DROP FUNCTION IF EXISTS backfill_snapshot_page(bigint, text, integer, text);
DROP FUNCTION IF EXISTS backfill_snapshots_apply(bigint, text, integer, boolean, boolean, text);
DROP FUNCTION IF EXISTS backfill_snapshots_apply_dry(bigint, text, integer);
DROP FUNCTION IF EXISTS backfill_snapshots_apply_safe(bigint, text, integer, boolean, boolean, text);
DROP FUNCTION IF EXISTS backfill_snapshots_batch(bigint, text, integer, boolean, boolean, text);
DROP PROCEDURE IF EXISTS backfill_snapshots(integer, integer, boolean, integer, integer, boolean, boolean,
                                            boolean, integer, integer, integer, integer, boolean, bigint, text);
DROP PROCEDURE IF EXISTS backfill_snapshots(integer, integer, boolean, integer, integer, boolean, boolean,
                                            boolean, integer, integer, integer, integer, boolean, boolean,
                                            boolean, boolean, bigint, text);
