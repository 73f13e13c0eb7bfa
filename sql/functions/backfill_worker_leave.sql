-- backfill_worker_leave(run_id) -> integer: the run's other live workers
--
-- The calling backend stops working run_id (its CALL of backfill_snapshots is
-- returning, or raising): its backfill_workers row gets left_at, the time it was
-- throttled until now is added to its throttled_ms and to the run's, and it no longer
-- holds a range (the range keeps its checkpoint; any worker may take it over). Returns
-- how many other workers are still live (backfill_run_workers): 0 means the caller
-- was the last one, and it decides the run's status.
-- Runs in the caller's transaction (the procedure commits it).
-- Locks: the caller's backfill_workers row; the run's row in backfill_runs when it
--   was throttled.
CREATE OR REPLACE FUNCTION backfill_worker_leave(p_run_id bigint)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_lost double precision;
BEGIN
    SELECT extract(epoch FROM clock_timestamp() - w.throttled_since) * 1000 INTO v_lost
    FROM backfill_workers w
    WHERE w.run_id = p_run_id AND w.pid = pg_backend_pid() AND w.left_at IS NULL;
    UPDATE backfill_workers w
    SET left_at = clock_timestamp(), updated_at = clock_timestamp(), range_no = NULL,
        throttled_ms = w.throttled_ms + COALESCE(v_lost, 0),
        throttle_reason = NULL, throttled_since = NULL
    WHERE w.run_id = p_run_id AND w.pid = pg_backend_pid() AND w.left_at IS NULL;
    IF COALESCE(v_lost, 0) > 0 THEN
        UPDATE backfill_runs r SET throttled_ms = r.throttled_ms + v_lost WHERE r.run_id = p_run_id;
    END IF;
    RETURN (SELECT count(*)::integer FROM backfill_run_workers(p_run_id) lw WHERE lw.pid <> pg_backend_pid());
END
$fn$;
