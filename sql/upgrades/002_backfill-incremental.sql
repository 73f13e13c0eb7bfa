-- Upgrade step 002, run before sql/functions is installed (see sql/upgrades/README.md):
-- incremental backfill runs (migration 007, backfill_settled).
--   backfill_snapshot_page(...)   gained the row_xmin column (a changed result type
--                                 cannot be replaced in place): dropped when it lacks
--                                 it, and created again by sql/functions
--   backfill_snapshots(...)       gained recheck_rejects and recheck_all (before the
--                                 INOUT run_id and status): the previous signature is
--                                 dropped, or CALLs by name would be ambiguous
-- Nothing else depends on either in the catalog (PL/pgSQL callers resolve them when
-- they run). Re-runnable: does nothing on a current install.
-- Locks: ACCESS EXCLUSIVE on the two routines' catalog rows only (no table).
DO $upgrade$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc
               WHERE oid = to_regprocedure('backfill_snapshot_page(bigint,text,integer,text)')
                 AND NOT ('row_xmin' = ANY (proargnames))) THEN
        DROP FUNCTION backfill_snapshot_page(bigint, text, integer, text);
    END IF;
    IF to_regprocedure('backfill_snapshots(integer,integer,boolean,integer,integer,boolean,boolean,'
                       'boolean,integer,integer,integer,integer,boolean,boolean,bigint,text)') IS NOT NULL THEN
        DROP PROCEDURE backfill_snapshots(integer, integer, boolean, integer, integer, boolean, boolean,
                                          boolean, integer, integer, integer, integer, boolean, boolean,
                                          bigint, text);
    END IF;
END
$upgrade$;
