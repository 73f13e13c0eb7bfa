-- backfill_resumable_run(p_dry_run) -> bigint
--
-- The run that CALL backfill_snapshots(dry_run => p_dry_run), without run_id and
-- without restart, resumes: the latest run of that kind (dry or real), when it is
-- unfinished (backfill_runs.status running, paused or failed; 'running' includes
-- what backfill_progress shows as 'interrupted') and has not been undone (its
-- undo_status is NULL). NULL: that CALL starts a new run.
-- The one place this is decided: the procedure, `cowrie-db backfill`, `cowrie-db status`
-- and `cowrie-db validate` read it. From psql:  SELECT backfill_resumable_run(false);
-- Locks: none (reads backfill_runs).
CREATE OR REPLACE FUNCTION backfill_resumable_run(p_dry_run boolean)
RETURNS bigint
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    v_run record;
BEGIN
    IF p_dry_run IS NULL THEN
        RAISE EXCEPTION 'backfill_resumable_run: p_dry_run must be true or false, not NULL'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Dry runs and real runs are resumed separately.',
                  HINT = 'SELECT backfill_resumable_run(false) for the real run, (true) for the dry run.';
    END IF;
    SELECT r.run_id, r.status, r.undo_status INTO v_run
    FROM backfill_runs r WHERE r.dry_run = p_dry_run
    ORDER BY r.run_id DESC LIMIT 1;
    IF FOUND AND v_run.status IN ('running', 'paused', 'failed') AND v_run.undo_status IS NULL THEN
        RETURN v_run.run_id;
    END IF;
    RETURN NULL;
END
$fn$;
