-- Undo one backfill run from psql (exact: see undo_backfill in sql/functions):
--   psql -v run_id=12 -f sql/rollback/undo_backfill.sql
-- Restores the previous values of exactly the rows run 12 changed; rows changed since
-- by someone else are left alone and counted. Re-runnable: an interrupted undo resumes.
-- Ends with a verify step that raises when the run is not fully undone.
\set ON_ERROR_STOP on
SELECT set_config('cowrie_db.undo_run', :'run_id', false);
CALL undo_backfill(:run_id);

DO $verify$
DECLARE
    v_run     bigint := current_setting('cowrie_db.undo_run')::bigint;
    v_status  text;
    v_pending bigint;
BEGIN
    SELECT r.undo_status INTO v_status FROM backfill_runs r WHERE r.run_id = v_run;
    SELECT count(*) INTO v_pending FROM backfill_undo b WHERE b.run_id = v_run AND b.undo_state IS NULL;
    IF v_status IS DISTINCT FROM 'undone' OR v_pending > 0 THEN
        RAISE EXCEPTION 'verify: run % is not fully undone (undo_status %, % rows without outcome); run this script again',
            v_run, COALESCE(v_status, 'NULL'), v_pending;
    END IF;
    RAISE NOTICE 'verify: run % undone (% restored, % left alone, % missing)', v_run,
        (SELECT undo_restored FROM backfill_runs WHERE run_id = v_run),
        (SELECT undo_left_alone FROM backfill_runs WHERE run_id = v_run),
        (SELECT undo_missing FROM backfill_runs WHERE run_id = v_run);
END
$verify$;
