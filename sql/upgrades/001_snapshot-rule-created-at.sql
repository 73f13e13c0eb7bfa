-- Upgrade step 001, run before sql/functions is installed (see sql/upgrades/README.md):
-- the snapshot rule reads both enrichment shapes and takes the session's created_at.
--   backfill_snapshot_source(json, timestamptz)   replaced by (json, timestamptz, timestamptz):
--                                                 the old signature is dropped (and a
--                                                 three-argument one without the shape
--                                                 column, from a development build)
--   backfill_snapshot_page(...)                   gained the ip_keys and shape columns (a
--                                                 changed result type cannot be replaced
--                                                 in place): dropped when it lacks it, and
--                                                 created again by sql/functions
-- Nothing else depends on either function in the catalog (LANGUAGE sql/plpgsql callers
-- resolve them when they run). Re-runnable: does nothing on a current install.
-- Locks: ACCESS EXCLUSIVE on the two functions' catalog rows only (no table).
DO $upgrade$
BEGIN
    IF to_regprocedure('backfill_snapshot_source(json,timestamptz)') IS NOT NULL THEN
        DROP FUNCTION backfill_snapshot_source(json, timestamptz);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_proc
               WHERE oid = to_regprocedure('backfill_snapshot_source(json,timestamptz,timestamptz)')
                 AND NOT ('shape' = ANY (proargnames))) THEN
        DROP FUNCTION backfill_snapshot_source(json, timestamptz, timestamptz);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_proc
               WHERE oid = to_regprocedure('backfill_snapshot_page(bigint,text,integer,text)')
                 AND NOT ('shape' = ANY (proargnames))) THEN
        DROP FUNCTION backfill_snapshot_page(bigint, text, integer, text);
    END IF;
END
$upgrade$;
