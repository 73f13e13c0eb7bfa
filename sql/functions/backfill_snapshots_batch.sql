-- backfill_snapshots_batch(run_id, after_key, batch_size, dry_run, record_undo, phase,
--                          until_key, range_no)
--   -> one row: last_key, done, rows_scanned, rows_locked, rows_filled, rows_unchanged,
--      rows_rejected, rows_no_inventory, rows_deferred, rows_errors, duration_ms
--
-- One batch of a backfill run, without COMMIT: the procedure backfill_snapshots
-- calls it in a loop and commits after each call; pgTAP tests call it directly.
-- p_after_key is the keyset position (NULL = from the first session) and p_until_key
-- the last key of the worker's range (NULL = to the last session); the batch takes
-- the next p_batch_size sessions in between that have a NULL snapshot column
-- ('scan'), or the next p_batch_size entries of the run's deferred list ('sweep'),
-- applies backfill_snapshots_apply to them, and writes, in the caller's transaction:
-- the run's counters (added by the step itself), batches, elapsed_ms and
-- last_batch_ms; the range's checkpoint (backfill_ranges: last_key, done, counters)
-- when p_range_no names one; the calling worker's counters (backfill_workers, when
-- it is registered there); a backfill_batches row (with duration_ms, and lock_ms:
-- from the batch's first row lock to just before the caller's COMMIT). The returned
-- counts are this batch's.
-- done = true: the pass (over the range, or the deferred list) found nothing left
-- after p_after_key.
--
-- The run's row is updated once, at the end of the batch, so parallel workers
-- of a run wait for each other only for the few statements between that update and
-- their COMMIT, never for a whole batch.
--
-- Row errors never abort the batch. The parsing is set-based and cannot raise
-- (backfill_parse_*), so bad values become rejects; if the statement still fails
-- on some row with a data or constraint error, the batch is retried in halves
-- (each half in its own subtransaction) down to the single failing row, which is
-- recorded as a 'row_error' reject with the SQLSTATE and message, and skipped.
-- Any other error (lock timeout, cancel, ...) propagates to the caller.
-- Locks: those of backfill_snapshots_apply (row locks on at most p_batch_size rows
--   of session_summaries, never waited for), plus the run's row in backfill_runs, the
--   range's row in backfill_ranges and the worker's row in backfill_workers.
CREATE OR REPLACE FUNCTION backfill_snapshots_batch(
    p_run_id      bigint,
    p_after_key   text,
    p_batch_size  integer,
    p_dry_run     boolean DEFAULT false,
    p_record_undo boolean DEFAULT true,
    p_phase       text    DEFAULT 'scan',
    p_until_key   text    DEFAULT NULL,
    p_range_no    integer DEFAULT NULL)
RETURNS TABLE (
    last_key          text,
    done              boolean,
    rows_scanned      integer,
    rows_locked       integer,
    rows_filled       integer,
    rows_unchanged    integer,
    rows_rejected     integer,
    rows_no_inventory integer,
    rows_deferred     integer,
    rows_errors       integer,
    duration_ms       double precision)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_t0       timestamptz := clock_timestamp();
    v_dry      boolean;
    v_res      record;
    v_batch_no integer;
    v_ms       double precision;
BEGIN
    IF p_batch_size IS NULL OR p_batch_size NOT BETWEEN 1 AND 1000000 THEN
        RAISE EXCEPTION 'backfill_snapshots_batch: batch_size must be between 1 and 1000000 (got %)', p_batch_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_phase IS NULL OR p_phase NOT IN ('scan', 'sweep') THEN
        RAISE EXCEPTION 'backfill_snapshots_batch: phase must be ''scan'' or ''sweep'' (got %)', p_phase
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_dry_run AND p_phase = 'sweep' THEN
        RAISE EXCEPTION 'backfill_snapshots_batch: a dry run has no sweep phase (it locks nothing)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT r.dry_run INTO v_dry FROM backfill_runs r WHERE r.run_id = p_run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'backfill_snapshots_batch: run % does not exist in backfill_runs', p_run_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF v_dry IS DISTINCT FROM COALESCE(p_dry_run, false) THEN
        RAISE EXCEPTION 'backfill_snapshots_batch: run % is a % run, called with dry_run = %',
            p_run_id, CASE WHEN v_dry THEN 'dry' ELSE 'real' END, p_dry_run
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT x.* INTO v_res
    FROM backfill_snapshots_apply_safe(p_run_id, p_after_key, p_batch_size,
                                       COALESCE(p_dry_run, false), COALESCE(p_record_undo, true),
                                       p_phase, p_until_key) x;

    v_ms := extract(epoch FROM clock_timestamp() - v_t0) * 1000;

    UPDATE backfill_runs r
    SET batches = r.batches + CASE WHEN v_res.done AND v_res.last_key IS NULL THEN 0 ELSE 1 END,
        elapsed_ms = r.elapsed_ms + v_ms,
        last_batch_ms = v_ms,
        updated_at = clock_timestamp()
    WHERE r.run_id = p_run_id
    RETURNING r.batches INTO v_batch_no;

    IF p_range_no IS NOT NULL AND p_phase = 'scan' THEN
        UPDATE backfill_ranges g
        SET last_key = COALESCE(v_res.last_key, g.last_key),
            done = v_res.done,
            finished_at = CASE WHEN v_res.done THEN clock_timestamp() END,
            batches = g.batches + CASE WHEN v_res.last_key IS NULL THEN 0 ELSE 1 END,
            rows_scanned = g.rows_scanned + v_res.n_scanned,
            elapsed_ms = g.elapsed_ms + v_ms
        WHERE g.run_id = p_run_id AND g.range_no = p_range_no;
    END IF;
    UPDATE backfill_workers w
    SET batches = w.batches + CASE WHEN v_res.last_key IS NULL THEN 0 ELSE 1 END,
        rows_scanned = w.rows_scanned + v_res.n_scanned,
        elapsed_ms = w.elapsed_ms + v_ms,
        updated_at = clock_timestamp()
    WHERE w.run_id = p_run_id AND w.pid = pg_backend_pid() AND w.left_at IS NULL;

    IF v_res.last_key IS NOT NULL THEN
        INSERT INTO backfill_batches (run_id, batch_no, phase, first_key, last_key, batch_size,
                                      rows_scanned, rows_filled, rows_rejected, rows_deferred,
                                      started_at, duration_ms, lock_ms)
        VALUES (p_run_id, v_batch_no, p_phase, v_res.first_key, v_res.last_key, p_batch_size,
                v_res.n_scanned, v_res.n_filled, v_res.n_rejected, v_res.n_deferred,
                v_t0, v_ms, extract(epoch FROM clock_timestamp() - v_res.locked_at) * 1000)
        ON CONFLICT (run_id, batch_no) DO NOTHING;
    END IF;

    last_key          := v_res.last_key;
    done              := v_res.done;
    rows_scanned      := v_res.n_scanned;
    rows_filled       := v_res.n_filled;
    rows_unchanged    := v_res.n_unchanged;
    rows_rejected     := v_res.n_rejected;
    rows_no_inventory := v_res.n_no_inventory;
    rows_deferred     := v_res.n_deferred;
    rows_locked       := rows_filled + rows_unchanged + rows_rejected;
    rows_errors       := v_res.errors;
    duration_ms       := v_ms;
    RETURN NEXT;
END
$fn$;
