-- undo_backfill(run_id, batch_size, quiet, pass_attempts,
--               INOUT restored, INOUT left_alone, INOUT missing, INOUT status)
--
-- Exact undo of one backfill run, from psql:   CALL undo_backfill(12);
-- (CALL it alone, not inside BEGIN ... COMMIT: it commits after every batch.)
-- Restores the previous values of exactly the rows that run changed, from its undo
-- log (backfill_undo): a row is restored only if its five snapshot columns still
-- hold exactly what the run wrote; rows changed since by someone else are left
-- alone and counted, rows deleted since are counted as missing. Rows locked by other
-- transactions are retried in later passes (up to pass_attempts per call, with
-- back-off); if some are still locked the undo stays 'undoing' and the next call
-- finishes it. Interrupted (cancel, killed backend), it resumes where it stopped.
-- The run gets undo_status 'undone' (it can no longer be resumed); a run started
-- with record_undo => false, or a dry run, cannot be undone; backfill_undo_state(run_id)
-- decides whether it can start (and says why not). Calling it again on an undone run
-- only reports the counts.
-- Result (INOUT, also in backfill_runs.undo_* and backfill_progress): restored,
-- left_alone, missing, status ('undone', or 'undoing' when rows stayed locked).
-- Locks: the advisory lock (backfill_advisory_lock_class(), 1) while it claims the run (no
--   backfill_snapshots and no other undo runs meanwhile, see backfill_lock_holder); per batch FOR NO KEY UPDATE row locks on at most batch_size rows of
--   session_summaries (never waited for), ROW EXCLUSIVE on it and on backfill_undo.
CREATE OR REPLACE PROCEDURE undo_backfill(
    run_id        bigint,
    batch_size    integer DEFAULT 5000,
    quiet         boolean DEFAULT false,
    pass_attempts integer DEFAULT 10,
    INOUT restored   bigint DEFAULT NULL,
    INOUT left_alone bigint DEFAULT NULL,
    INOUT missing    bigint DEFAULT NULL,
    INOUT status     text   DEFAULT NULL)
LANGUAGE plpgsql
AS $proc$
DECLARE
    v_id       bigint  := undo_backfill.run_id;
    v_size     integer := undo_backfill.batch_size;
    v_quiet    boolean := COALESCE(undo_backfill.quiet, false);
    v_attempts integer := COALESCE(undo_backfill.pass_attempts, 10);
    v_run      record;
    v_res      record;
    v_state_row record;
    v_key      text;
    v_passes   integer := 0;
    v_batches  integer := 0;
    v_pending  boolean;
    v_err      text;
    v_state    text;
    v_msg      text;
    v_detail   text;
BEGIN
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'undo_backfill: run_id is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_size IS NULL OR v_size NOT BETWEEN 1 AND 1000000 THEN
        RAISE EXCEPTION 'undo_backfill: batch_size must be between 1 and 1000000 (got %)', v_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'undo_backfill: pass_attempts must be between 1 and 1000 (got %)', v_attempts
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    COMMIT;   -- fails at once when CALLed inside a transaction block

    PERFORM set_config('lock_timeout', '30s', true);
    PERFORM pg_advisory_xact_lock(backfill_advisory_lock_class(), 1);   -- serializes claims; released by COMMIT
    -- Whether it can start is decided by backfill_undo_state (status and rollback read it too).
    SELECT * INTO v_state_row FROM backfill_undo_state(v_id) u LIMIT 1;
    IF v_state_row.refused_sqlstate IS NOT NULL THEN
        RAISE EXCEPTION 'undo_backfill: %', v_state_row.message
            USING ERRCODE = v_state_row.refused_sqlstate,
                  DETAIL = format('backfill_undo_state(%s) says: %s', v_id, v_state_row.reason),
                  HINT = COALESCE(v_state_row.hint, format('SELECT * FROM backfill_undo_state(%s) says why.', v_id));
    END IF;

    BEGIN
        SELECT * INTO v_run FROM backfill_runs r WHERE r.run_id = v_id;
        IF v_run.undo_status IS DISTINCT FROM 'undone' THEN
            UPDATE backfill_runs r
            SET undo_status = 'undoing', undo_started_at = COALESCE(r.undo_started_at, clock_timestamp()),
                backend_pid = pg_backend_pid(), last_error = NULL,
                status = CASE WHEN r.status = 'running' THEN 'paused' ELSE r.status END,
                updated_at = clock_timestamp()
            WHERE r.run_id = v_id;
            IF NOT v_quiet THEN
                RAISE NOTICE 'undo of backfill run %: %', v_id,
                    CASE WHEN v_run.undo_status = 'undoing' THEN 'resuming' ELSE 'started' END;
            END IF;
        END IF;
    END;
    COMMIT;

    IF v_run.undo_status IS DISTINCT FROM 'undone' THEN
        v_key := NULL;
        LOOP
            v_err := NULL;
            BEGIN
                PERFORM set_config('lock_timeout', '1s', true);
                SELECT * INTO v_res FROM undo_backfill_batch(v_id, v_key, v_size);
                IF v_res.done THEN
                    v_passes := v_passes + 1;
                    v_key := NULL;
                    v_pending := EXISTS (SELECT 1 FROM backfill_undo b
                                         WHERE b.run_id = v_id AND b.undo_state IS NULL);
                    IF NOT v_pending THEN
                        UPDATE backfill_runs r
                        SET undo_status = 'undone', undone_at = clock_timestamp(), backend_pid = NULL,
                            updated_at = clock_timestamp()
                        WHERE r.run_id = v_id;
                    ELSIF v_passes < v_attempts THEN
                        PERFORM pg_sleep(least(2.0, 0.05 * power(2, least(v_passes, 6))));
                    END IF;
                ELSE
                    v_key := v_res.last_key;
                    v_batches := v_batches + 1;
                    IF NOT v_quiet AND v_batches % 10 = 0 THEN
                        SELECT * INTO v_run FROM backfill_runs r WHERE r.run_id = v_id;
                        RAISE NOTICE 'undo of backfill run %: % restored, % left alone, % missing so far',
                            v_id, v_run.undo_restored, v_run.undo_left_alone, v_run.undo_missing;
                    END IF;
                END IF;
            EXCEPTION
                WHEN query_canceled THEN
                    v_err := 'cancel';
                    GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
                WHEN OTHERS THEN
                    v_err := 'fail';
                    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT,
                                            v_detail = PG_EXCEPTION_CONTEXT;
            END;
            IF v_err IS NOT NULL THEN
                UPDATE backfill_runs r
                SET backend_pid = NULL, last_error = 'undo ' || CASE WHEN v_err = 'cancel' THEN 'canceled' ELSE 'failed' END || ': ' || v_msg,
                    updated_at = clock_timestamp()
                WHERE r.run_id = v_id;
                COMMIT;
                IF v_err = 'cancel' THEN
                    RAISE EXCEPTION '%', v_msg USING ERRCODE = 'query_canceled',
                        HINT = format('The undo of run %s stopped at its last committed batch; CALL undo_backfill(%s) again to finish it.', v_id, v_id);
                END IF;
                RAISE EXCEPTION 'undo of backfill run % failed: %', v_id, v_msg
                    USING ERRCODE = v_state, DETAIL = COALESCE(v_detail, ''),
                          HINT = format('CALL undo_backfill(%s) again to resume it once the cause is fixed.', v_id);
            END IF;
            COMMIT;
            EXIT WHEN v_res.done AND (NOT v_pending OR v_passes >= v_attempts);
        END LOOP;
    END IF;

    SELECT * INTO v_run FROM backfill_runs r WHERE r.run_id = v_id;
    IF v_run.undo_status = 'undoing' THEN
        UPDATE backfill_runs r SET backend_pid = NULL, updated_at = clock_timestamp(),
               last_error = 'undo: some rows are still locked by other transactions'
        WHERE r.run_id = v_id;
        COMMIT;
        RAISE WARNING 'undo of backfill run %: some rows are still locked by other transactions after % passes; CALL undo_backfill(%) again to finish',
            v_id, v_passes, v_id;
    ELSIF NOT v_quiet THEN
        RAISE NOTICE 'undo of backfill run %: undone, % rows restored, % left alone (changed since by others), % missing (deleted since)',
            v_id, v_run.undo_restored, v_run.undo_left_alone, v_run.undo_missing;
    END IF;
    restored := v_run.undo_restored;
    left_alone := v_run.undo_left_alone;
    missing := v_run.undo_missing;
    status := v_run.undo_status;
END
$proc$;
