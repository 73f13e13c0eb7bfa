-- backfill_snapshots_batch(run_id, after_key, batch_size, dry_run, record_undo, phase)
--   -> one row: last_key, done, rows_scanned, rows_locked, rows_filled, rows_unchanged,
--      rows_rejected, rows_no_inventory, rows_deferred, rows_errors, duration_ms
--
-- One batch of a backfill run, without COMMIT: the procedure backfill_snapshots
-- calls it in a loop and commits after each call; pgTAP tests call it directly.
-- p_after_key is the keyset position (NULL = from the first session); the batch
-- takes the next p_batch_size sessions that have a NULL snapshot column ('scan'),
-- or the next p_batch_size entries of the run's deferred list ('sweep'), applies
-- backfill_snapshots_apply to them, writes the checkpoint (backfill_runs.last_key
-- or sweep_key, counters, batches, elapsed_ms, last_batch_ms) and a backfill_batches
-- row (with duration_ms, and lock_ms: from the batch's first row lock to just
-- before the caller's COMMIT), all in the caller's transaction. The returned counts
-- are this batch's.
-- done = true: the pass found nothing left after p_after_key.
--
-- Row errors never abort the batch. The parsing is set-based and cannot raise
-- (backfill_parse_*), so bad values become rejects; if the statement still fails
-- on some row with a data or constraint error (for example JSON that cannot be
-- converted to jsonb because of a \u0000 escape), the batch is retried in halves
-- (each half in its own subtransaction) down to the single failing row, which is
-- recorded as a 'row_error' reject with the SQLSTATE and message, and skipped.
-- Any other error (lock timeout, cancel, ...) propagates to the caller.
-- Locks: those of backfill_snapshots_apply (row locks on at most p_batch_size rows
--   of session_summaries, never waited for), plus the backfill_runs row of the run.
CREATE OR REPLACE FUNCTION backfill_snapshots_batch(
    p_run_id      bigint,
    p_after_key   text,
    p_batch_size  integer,
    p_dry_run     boolean DEFAULT false,
    p_record_undo boolean DEFAULT true,
    p_phase       text    DEFAULT 'scan')
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
    v_t0     timestamptz := clock_timestamp();
    v_run    record;
    v_before record;
    v_after  record;
    v_res    record;
    v_first  text;
    v_ms     double precision;
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

    SELECT r.run_id, r.dry_run, r.batches, r.rows_scanned, r.rows_filled, r.rows_unchanged,
           r.rows_rejected, r.rows_no_inventory, r.rows_deferred, r.rows_resolved_elsewhere
    INTO v_before
    FROM backfill_runs r
    WHERE r.run_id = p_run_id
    FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'backfill_snapshots_batch: run % does not exist in backfill_runs', p_run_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF v_before.dry_run IS DISTINCT FROM COALESCE(p_dry_run, false) THEN
        RAISE EXCEPTION 'backfill_snapshots_batch: run % is a % run, called with dry_run = %',
            p_run_id, CASE WHEN v_before.dry_run THEN 'dry' ELSE 'real' END, p_dry_run
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT x.last_key, x.done, x.errors, x.first_key, x.locked_at
    INTO v_res
    FROM backfill_snapshots_apply_safe(p_run_id, p_after_key, p_batch_size,
                                       COALESCE(p_dry_run, false), COALESCE(p_record_undo, true),
                                       p_phase) x;

    v_ms := extract(epoch FROM clock_timestamp() - v_t0) * 1000;

    UPDATE backfill_runs r
    SET batches = r.batches + CASE WHEN v_res.done AND v_res.last_key IS NULL THEN 0 ELSE 1 END,
        elapsed_ms = r.elapsed_ms + v_ms,
        last_batch_ms = v_ms,
        updated_at = clock_timestamp()
    WHERE r.run_id = p_run_id
    RETURNING r.batches, r.rows_scanned, r.rows_filled, r.rows_unchanged, r.rows_rejected,
              r.rows_no_inventory, r.rows_deferred, r.rows_resolved_elsewhere
    INTO v_after;

    IF v_res.last_key IS NOT NULL THEN
        INSERT INTO backfill_batches (run_id, batch_no, phase, first_key, last_key, batch_size,
                                      rows_scanned, rows_filled, rows_rejected, rows_deferred,
                                      started_at, duration_ms, lock_ms)
        VALUES (p_run_id, v_after.batches, p_phase, v_res.first_key, v_res.last_key, p_batch_size,
                v_after.rows_scanned - v_before.rows_scanned,
                v_after.rows_filled - v_before.rows_filled,
                v_after.rows_rejected - v_before.rows_rejected,
                v_after.rows_deferred - v_before.rows_deferred,
                v_t0, v_ms, extract(epoch FROM clock_timestamp() - v_res.locked_at) * 1000)
        ON CONFLICT (run_id, batch_no) DO NOTHING;
    END IF;

    last_key          := v_res.last_key;
    done              := v_res.done;
    rows_scanned      := v_after.rows_scanned - v_before.rows_scanned;
    rows_filled       := v_after.rows_filled - v_before.rows_filled;
    rows_unchanged    := v_after.rows_unchanged - v_before.rows_unchanged;
    rows_rejected     := v_after.rows_rejected - v_before.rows_rejected;
    rows_no_inventory := v_after.rows_no_inventory - v_before.rows_no_inventory;
    rows_deferred     := v_after.rows_deferred - v_before.rows_deferred;
    rows_locked       := rows_filled + rows_unchanged + rows_rejected;
    rows_errors       := v_res.errors;
    duration_ms       := v_ms;
    RETURN NEXT;
END
$fn$;
