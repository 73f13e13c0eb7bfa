-- backfill_snapshots_apply_safe(run_id, after_key, limit, dry_run, record_undo, phase, until_key)
--   -> one row: last_key, done, errors, first_key, locked_at, and the step's counts
--      (n_scanned, n_filled, n_unchanged, n_rejected, n_no_inventory, n_deferred)
--
-- backfill_snapshots_apply with error isolation (internal; backfill_snapshots_batch
-- calls it). The step runs in a subtransaction; if it fails with a data exception
-- (SQLSTATE class 22), an integrity constraint violation (class 23) or a program
-- limit (class 54), nothing of it is kept and it is retried as two halves, each
-- isolated the same way, down to the single row that fails: that row is recorded
-- in backfill_rejects as 'row_error' with the SQLSTATE and message, counted as
-- rejected, and skipped (the checkpoint moves past it). One bad row therefore costs
-- about 2*log2(batch size) extra statements and never aborts the batch or the run.
-- Other errors (cancel, lock timeout, deadlock, out of memory...) propagate.
-- locked_at: when the step first took row locks (NULL when it took none). The counts
-- are those the step added to the run's counters (summed over the halves).
-- Locks: those of backfill_snapshots_apply.
CREATE OR REPLACE FUNCTION backfill_snapshots_apply_safe(
    p_run_id      bigint,
    p_after_key   text,
    p_limit       integer,
    p_dry_run     boolean,
    p_record_undo boolean,
    p_phase       text,
    p_until_key   text DEFAULT NULL)
RETURNS TABLE (last_key text, done boolean, errors integer, first_key text, locked_at timestamptz,
               n_scanned integer, n_filled integer, n_unchanged integer, n_rejected integer,
               n_no_inventory integer, n_deferred integer)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_state text;
    v_msg   text;
    v_key   text;
    v_half  integer;
    r1      record;
    r2      record;
BEGIN
    BEGIN
        SELECT a.last_key, a.done, 0 AS errors, a.first_key, a.locked_at, a.n_scanned, a.n_filled,
               a.n_unchanged, a.n_rejected, a.n_no_inventory, a.n_deferred
        INTO r1
        FROM backfill_snapshots_apply(p_run_id, p_after_key, p_limit, p_dry_run, p_record_undo, p_phase,
                                      p_until_key) a;
        RETURN QUERY SELECT r1.last_key, r1.done, r1.errors, r1.first_key, r1.locked_at, r1.n_scanned,
                            r1.n_filled, r1.n_unchanged, r1.n_rejected, r1.n_no_inventory, r1.n_deferred;
        RETURN;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
    END;

    IF p_limit <= 1 THEN
        -- isolate the failing row: the next candidate of this pass
        IF p_phase = 'scan' THEN
            SELECT s.session_id INTO v_key
            FROM session_summaries s
            WHERE (p_after_key IS NULL OR s.session_id > p_after_key)
              AND (p_until_key IS NULL OR s.session_id <= p_until_key)
              AND (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
                   OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL)
            ORDER BY s.session_id
            LIMIT 1;
        ELSE
            SELECT d.session_id INTO v_key
            FROM backfill_deferred d
            WHERE d.run_id = p_run_id
              AND (p_after_key IS NULL OR d.session_id > p_after_key)
            ORDER BY d.session_id
            LIMIT 1;
        END IF;
        IF v_key IS NULL THEN
            RAISE EXCEPTION 'backfill: a batch failed (% %) but no row could be isolated', v_state, v_msg
                USING ERRCODE = 'internal_error';
        END IF;
        INSERT INTO backfill_rejects AS r (run_id, session_id, reason, detail)
        VALUES (p_run_id, v_key, 'row_error', left(v_state || ': ' || v_msg, 500))
        ON CONFLICT (run_id, session_id) DO UPDATE
            SET reason = EXCLUDED.reason, detail = EXCLUDED.detail, rejected_at = now();
        IF p_phase = 'sweep' THEN
            DELETE FROM backfill_deferred d WHERE d.run_id = p_run_id AND d.session_id = v_key;
        END IF;
        UPDATE backfill_runs r
        SET rows_rejected = r.rows_rejected + 1,
            rows_scanned = r.rows_scanned + CASE WHEN p_phase = 'scan' THEN 1 ELSE 0 END,
            rows_deferred = r.rows_deferred - CASE WHEN p_phase = 'sweep' THEN 1 ELSE 0 END,
            last_key = CASE WHEN p_phase = 'scan' THEN v_key ELSE r.last_key END,
            sweep_key = CASE WHEN p_phase = 'sweep' THEN v_key ELSE r.sweep_key END,
            updated_at = clock_timestamp()
        WHERE r.run_id = p_run_id;
        RETURN QUERY SELECT v_key, false, 1, v_key, NULL::timestamptz,
                            CASE WHEN p_phase = 'scan' THEN 1 ELSE 0 END, 0, 0, 1, 0,
                            CASE WHEN p_phase = 'sweep' THEN -1 ELSE 0 END;
        RETURN;
    END IF;

    v_half := p_limit / 2;
    SELECT * INTO r1
    FROM backfill_snapshots_apply_safe(p_run_id, p_after_key, v_half, p_dry_run, p_record_undo, p_phase,
                                       p_until_key);
    IF r1.last_key IS NULL THEN
        RETURN QUERY SELECT NULL::text, true, r1.errors, NULL::text, r1.locked_at, r1.n_scanned, r1.n_filled,
                            r1.n_unchanged, r1.n_rejected, r1.n_no_inventory, r1.n_deferred;
        RETURN;
    END IF;
    SELECT * INTO r2
    FROM backfill_snapshots_apply_safe(p_run_id, r1.last_key, p_limit - v_half, p_dry_run, p_record_undo,
                                       p_phase, p_until_key);
    RETURN QUERY SELECT COALESCE(r2.last_key, r1.last_key), false, r1.errors + r2.errors, r1.first_key,
                        least(r1.locked_at, r2.locked_at), r1.n_scanned + r2.n_scanned,
                        r1.n_filled + r2.n_filled, r1.n_unchanged + r2.n_unchanged,
                        r1.n_rejected + r2.n_rejected, r1.n_no_inventory + r2.n_no_inventory,
                        r1.n_deferred + r2.n_deferred;
END
$fn$;
