-- backfill_run_workers(run_id) -> (pid, backend_start, range_no)
--
-- The live workers of a backfill run: its backfill_workers rows that have not left
-- and whose backend (the same pid AND backend_start: a reused pid is another
-- backend) is executing a CALL of backfill_snapshots in this database now
-- (pg_stat_activity state 'active'). A worker killed, or lost in a server restart, is
-- not live; the ranges it held are taken over by the next worker from their
-- checkpoints. Without the privilege to see other roles' sessions
-- (pg_read_all_stats), workers of other roles look dead: run every worker as the
-- same role.
-- Locks: none (reads backfill_workers and pg_stat_activity).
CREATE OR REPLACE FUNCTION backfill_run_workers(p_run_id bigint)
RETURNS TABLE (pid integer, backend_start timestamptz, range_no integer)
LANGUAGE sql STABLE
AS $fn$
SELECT w.pid, w.backend_start, w.range_no
FROM backfill_workers w
JOIN pg_stat_activity a ON a.pid = w.pid AND a.backend_start = w.backend_start
WHERE w.run_id = p_run_id
  AND w.left_at IS NULL
  AND a.datname = current_database()
  AND a.state = 'active'
  AND a.query ~* 'backfill_snapshots'
$fn$;
