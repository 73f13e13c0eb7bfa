-- undo_backfill_batch(run_id, after_key, batch_size)
--   -> one row: last_key, done, restored, left_alone, missing, skipped
--
-- One batch of the exact undo of a backfill run, without COMMIT (the procedure
-- undo_backfill loops over it and commits; pgTAP calls it directly). Takes the next
-- batch_size entries of the run's undo log (backfill_undo, keyset on session_id)
-- that have no outcome yet, locks their session rows FOR NO KEY UPDATE SKIP LOCKED
-- and, for each:
--   restored    the row still holds exactly the values the run wrote (all five
--               snapshot columns equal new_*): they are set back to old_*;
--   left_alone  the row changed since (someone else wrote one of the five columns):
--               it is not touched;
--   missing     the session row no longer exists;
--   skipped     the row is locked by another transaction right now, or was updated
--               since this batch's snapshot: no outcome is recorded, a later pass
--               (after_key NULL) retries it.
-- The outcome is stored in backfill_undo.undo_state and added to the run's
-- undo_restored / undo_left_alone / undo_missing counters, with the checkpoint
-- (undo_last_key), in the caller's transaction. done = nothing left after after_key.
-- Locks: FOR NO KEY UPDATE row locks (never waited for) on at most batch_size rows
--   of session_summaries; ROW EXCLUSIVE on session_summaries, backfill_undo and
--   backfill_runs.
CREATE OR REPLACE FUNCTION undo_backfill_batch(
    p_run_id     bigint,
    p_after_key  text,
    p_batch_size integer DEFAULT 5000)
RETURNS TABLE (last_key text, done boolean, restored integer, left_alone integer,
               missing integer, skipped integer)
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF p_batch_size IS NULL OR p_batch_size NOT BETWEEN 1 AND 1000000 THEN
        RAISE EXCEPTION 'undo_backfill_batch: batch_size must be between 1 and 1000000 (got %)', p_batch_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH u AS MATERIALIZED (
        SELECT b.session_id,
               b.old_source_ip, b.old_snapshot_asn, b.old_snapshot_country, b.old_snapshot_ip_type, b.old_enrichment_at,
               b.new_source_ip, b.new_snapshot_asn, b.new_snapshot_country, b.new_snapshot_ip_type, b.new_enrichment_at
        FROM backfill_undo b
        WHERE b.run_id = p_run_id
          AND b.undo_state IS NULL
          AND (p_after_key IS NULL OR b.session_id > p_after_key)
        ORDER BY b.session_id
        LIMIT p_batch_size
    ),
    cur AS MATERIALIZED (
        SELECT s.session_id, s.ctid AS tid
        FROM session_summaries s
        WHERE s.session_id IN (SELECT u.session_id FROM u)
    ),
    lock_attempt AS MATERIALIZED (
        SELECT s.session_id, s.ctid AS tid, s.source_ip, s.snapshot_asn, s.snapshot_country,
               s.snapshot_ip_type, s.enrichment_at
        FROM session_summaries s
        WHERE s.ctid = ANY (ARRAY(SELECT c.tid FROM cur c))
        FOR NO KEY UPDATE OF s SKIP LOCKED
    ),
    -- A row updated by a transaction that committed after this statement's snapshot
    -- is locked in its newest version, at a ctid the UPDATE below cannot see: only
    -- rows still at the ctid found by cur count as locked; a moved row is skipped
    -- (no outcome recorded) and retried by the next pass.
    locked AS MATERIALIZED (
        SELECT l.*
        FROM lock_attempt l
        JOIN cur c ON c.tid = l.tid
    ),
    dec AS MATERIALIZED (
        SELECT u.*, l.tid,
               l.session_id IS NOT NULL AS is_locked,
               c.session_id IS NOT NULL AS is_present,
               (l.session_id IS NOT NULL
                AND l.source_ip IS NOT DISTINCT FROM u.new_source_ip
                AND l.snapshot_asn IS NOT DISTINCT FROM u.new_snapshot_asn
                AND l.snapshot_country IS NOT DISTINCT FROM u.new_snapshot_country
                AND l.snapshot_ip_type IS NOT DISTINCT FROM u.new_snapshot_ip_type
                AND l.enrichment_at IS NOT DISTINCT FROM u.new_enrichment_at) AS unchanged
        FROM u
        LEFT JOIN cur c ON c.session_id = u.session_id
        LEFT JOIN locked l ON l.session_id = u.session_id
    ),
    rest AS (
        UPDATE session_summaries s
        SET source_ip        = d.old_source_ip,
            snapshot_asn     = d.old_snapshot_asn,
            snapshot_country = d.old_snapshot_country,
            snapshot_ip_type = d.old_snapshot_ip_type,
            enrichment_at    = d.old_enrichment_at
        FROM dec d
        WHERE s.ctid = d.tid AND d.unchanged
        RETURNING s.session_id
    ),
    mark AS (
        UPDATE backfill_undo b
        SET undo_state = CASE WHEN d.unchanged THEN 'restored'
                              WHEN d.is_locked THEN 'left_alone'
                              ELSE 'missing' END
        FROM dec d
        WHERE b.run_id = p_run_id
          AND b.session_id = d.session_id
          AND (d.is_locked OR NOT d.is_present)
        RETURNING b.undo_state
    ),
    agg AS MATERIALIZED (
        SELECT (SELECT max(d.session_id) FROM dec d)::text AS kmax,
               (SELECT count(*) FROM rest)::integer AS n_rest,
               (SELECT count(*) FROM mark m WHERE m.undo_state = 'left_alone')::integer AS n_left,
               (SELECT count(*) FROM mark m WHERE m.undo_state = 'missing')::integer AS n_missing,
               (SELECT count(*) FROM dec d WHERE d.is_present AND NOT d.is_locked)::integer AS n_skipped
    ),
    upd_run AS (
        UPDATE backfill_runs r
        SET undo_restored = r.undo_restored + a.n_rest,
            undo_left_alone = r.undo_left_alone + a.n_left,
            undo_missing = r.undo_missing + a.n_missing,
            undo_last_key = COALESCE(a.kmax, r.undo_last_key),
            updated_at = clock_timestamp()
        FROM agg a
        WHERE r.run_id = p_run_id
        RETURNING r.run_id
    )
    SELECT a.kmax, a.kmax IS NULL, a.n_rest, a.n_left, a.n_missing, a.n_skipped
    FROM agg a;
END
$fn$;
