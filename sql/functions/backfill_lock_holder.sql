-- backfill_lock_holder() -> (pid, run_id, activity, state)
--
-- Who is running a backfill_snapshots or undo_backfill in this database right now:
-- the run (backfill_runs) whose backend_pid, or one of whose workers
-- (backfill_run_workers), is a live backend of this database that is executing a
-- CALL of one of those procedures (pg_stat_activity state 'active'), other than the
-- calling session: one row per such backend, the most recently active run first. No row: nobody, and a run left 'running' (or
-- 'undoing') is an interrupted one -- killed backend, server restart, or a cancel
-- that landed between two batches -- which the next CALL resumes.
-- The procedures take the transaction-level advisory lock (backfill_advisory_lock_class(), 1) while they check this and claim a run, so two callers cannot both
-- claim; being transaction-level, that lock can never be left behind by an
-- interrupted CALL (a session-level one would stay with an idle session).
-- Locks: none (reads backfill_runs and pg_stat_activity).
CREATE OR REPLACE FUNCTION backfill_lock_holder()
RETURNS TABLE (pid integer, run_id bigint, activity text, state text)
LANGUAGE sql STABLE
AS $fn$
SELECT a.pid,
       r.run_id,
       CASE WHEN r.undo_status = 'undoing' THEN 'undo of run ' || r.run_id
            WHEN r.dry_run THEN 'dry run ' || r.run_id
            ELSE 'run ' || r.run_id END,
       a.state
FROM backfill_runs r
JOIN pg_stat_activity a
  ON a.pid = r.backend_pid
  OR (r.status = 'running' AND a.pid IN (SELECT lw.pid FROM backfill_run_workers(r.run_id) lw))
WHERE (r.status = 'running' OR r.undo_status = 'undoing')
  AND a.datname = current_database()
  AND a.pid <> pg_backend_pid()
  AND a.state = 'active'
  AND a.query ~* '(backfill_snapshots|undo_backfill)'
ORDER BY r.updated_at DESC, a.pid
$fn$;
