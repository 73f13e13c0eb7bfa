-- backfill_undo_state(p_run_id DEFAULT NULL)
--   -> per run: run_id, can_undo, reason, refused_sqlstate, message, hint
--
-- Whether CALL undo_backfill(run_id) can undo the run now, and if not, why: the
-- conditions undo_backfill checks before it starts (it raises with this row's
-- refused_sqlstate, message and hint), plus the two cases in which it does not
-- refuse but has nothing to do. One row per run (p_run_id NULL: every run, newest
-- first); for a p_run_id that does not exist, one row with reason 'missing'.
--   reason            can_undo  undo_backfill
--   NULL              true      undoes it (or resumes an undo left 'undoing')
--   'missing'         false     raises P0002 (no_data_found)
--   'busy'            false     raises 55P03: a backfill_snapshots or undo_backfill
--                               is running now (backfill_lock_holder); checked first
--   'dry_run'         false     raises 22023: a dry run changed nothing
--   'no_undo_log'     false     raises 22023: made with record_undo => false
--   'undone'          false     only reports the counts of the finished undo
--   'nothing_changed' false     finishes at once: the run changed no row
-- The one place this is decided: undo_backfill, `cowrie-db rollback backfill` and
-- `cowrie-db status` read it. From psql:  SELECT * FROM backfill_undo_state(12);
-- Locks: none (reads backfill_runs, backfill_undo and pg_stat_activity).
CREATE OR REPLACE FUNCTION backfill_undo_state(p_run_id bigint DEFAULT NULL)
RETURNS TABLE (run_id bigint, can_undo boolean, reason text, refused_sqlstate text,
               message text, hint text)
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    v_holder record;
BEGIN
    SELECT h.pid, h.activity INTO v_holder FROM backfill_lock_holder() h LIMIT 1;
    IF p_run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM backfill_runs r WHERE r.run_id = p_run_id) THEN
        RETURN QUERY SELECT p_run_id, false, 'missing'::text, 'P0002'::text,
            format('run %s does not exist', p_run_id),
            'SELECT * FROM backfill_progress lists the runs.'::text;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT s.run_id, s.reason IS NULL, s.reason,
           CASE s.reason WHEN 'dry_run' THEN '22023' WHEN 'no_undo_log' THEN '22023'
                         WHEN 'busy' THEN '55P03' END,
           CASE s.reason
                WHEN 'dry_run' THEN format('run %s is a dry run, it changed nothing', s.run_id)
                WHEN 'no_undo_log' THEN format('run %s was made with record_undo => false: it has no undo log and cannot be undone exactly', s.run_id)
                WHEN 'busy' THEN format('%s is already running (backend pid %s)', v_holder.activity, v_holder.pid)
                WHEN 'undone' THEN format('run %s is already undone', s.run_id)
                WHEN 'nothing_changed' THEN format('run %s changed no row: there is nothing to undo', s.run_id)
           END,
           CASE s.reason
                WHEN 'busy' THEN 'Only one backfill_snapshots or undo_backfill runs at a time; wait for it or stop it with pg_cancel_backend(pid).'
                WHEN 'no_undo_log' THEN 'Its rows can only be cleared by hand; runs made with record_undo => true can be undone exactly.'
                WHEN 'dry_run' THEN 'A dry run writes no snapshot; SELECT * FROM backfill_progress lists the real runs.'
           END
    FROM (
        SELECT r.run_id,
               CASE WHEN v_holder.pid IS NOT NULL THEN 'busy'
                    WHEN r.dry_run THEN 'dry_run'
                    WHEN NOT r.record_undo THEN 'no_undo_log'
                    WHEN r.undo_status = 'undone' THEN 'undone'
                    WHEN r.undo_status IS NULL
                         AND NOT EXISTS (SELECT 1 FROM backfill_undo u WHERE u.run_id = r.run_id) THEN 'nothing_changed'
               END AS reason
        FROM backfill_runs r
        WHERE p_run_id IS NULL OR r.run_id = p_run_id
    ) s
    ORDER BY s.run_id DESC;
END
$fn$;
