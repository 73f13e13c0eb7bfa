-- backfill_snapshots_stopped(run_id, reason, status) -> integer: the run's other live workers
--
-- What a worker of backfill_snapshots does when its CALL stops before the run is
-- complete (max_batches, a cancel, an error, rows still locked, nothing left for
-- it): it leaves the run (backfill_worker_leave) and, when it was the run's last live
-- worker, marks the run p_status ('paused' or 'failed') with p_reason as last_error
-- (NULL clears it) and no backend. While other workers are live, the run stays
-- theirs ('running'); an error or cancel is only recorded in last_error.
-- Runs in the caller's transaction (the procedure commits it).
-- Locks: the run's row in backfill_runs, the caller's backfill_workers row.
CREATE OR REPLACE FUNCTION backfill_snapshots_stopped(p_run_id bigint, p_reason text, p_status text)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_others integer;
BEGIN
    IF p_status IS NULL OR p_status NOT IN ('paused', 'failed') THEN
        RAISE EXCEPTION 'backfill_snapshots_stopped: status must be paused or failed (got %)', p_status
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_others := backfill_worker_leave(p_run_id);
    IF v_others = 0 THEN
        UPDATE backfill_runs r
        SET status = p_status, backend_pid = NULL, last_error = p_reason, updated_at = clock_timestamp()
        WHERE r.run_id = p_run_id;
    ELSIF p_reason IS NOT NULL THEN
        UPDATE backfill_runs r
        SET last_error = format('worker %s: %s', pg_backend_pid(), p_reason), updated_at = clock_timestamp()
        WHERE r.run_id = p_run_id;
    END IF;
    RETURN v_others;
END
$fn$;
