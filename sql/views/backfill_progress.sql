-- backfill_progress: every backfill run (newest first), readable from any session
-- while a run works (each batch commits its counters with its data).
--   status         running | paused | completed | failed | abandoned, or
--                  'interrupted': marked running but its backend is no longer
--                  executing the CALL (killed backend, server restart); the next
--                  CALL backfill_snapshots() resumes it.
--   rows_done      sessions examined so far (the keyset pass); rows_total_est is the
--                  estimate made at the start (statistics), raised to rows_done when
--                  the estimate was too low.
--   rows_per_sec   rows_done / busy time (the time spent in batches, all calls).
--   eta            estimated busy time left at that rate.
-- Locks: none (reads backfill_runs and pg_stat_activity).
CREATE OR REPLACE VIEW backfill_progress AS
SELECT r.run_id,
       CASE WHEN r.status = 'running'
                 AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                 WHERE a.pid = r.backend_pid AND a.state = 'active'
                                   AND a.query ~* '(backfill_snapshots|undo_backfill)')
            THEN 'interrupted'
            ELSE r.status END                                              AS status,
       r.dry_run,
       r.phase,
       r.batches,
       r.batch_size,
       r.rows_scanned                                                      AS rows_done,
       greatest(r.rows_total_est, r.rows_scanned)                          AS rows_total_est,
       round(100.0 * r.rows_scanned
             / nullif(greatest(r.rows_total_est, r.rows_scanned), 0), 1)   AS pct_done,
       r.rows_filled,
       r.rows_unchanged,
       r.rows_rejected,
       r.rows_no_inventory,
       r.rows_deferred,
       round(r.rows_scanned / nullif(r.elapsed_ms / 1000.0, 0))::bigint    AS rows_per_sec,
       CASE WHEN r.status IN ('running', 'paused', 'failed') AND r.rows_scanned > 0 AND r.elapsed_ms > 0
            THEN make_interval(secs => round(
                     greatest(COALESCE(r.rows_total_est, 0) - r.rows_scanned, 0)
                     * (r.elapsed_ms / 1000.0) / r.rows_scanned))
            WHEN r.status = 'completed' THEN interval '0'
       END                                                                 AS eta,
       make_interval(secs => round((r.elapsed_ms / 1000.0)::numeric, 1)::double precision) AS busy_time,
       round(r.last_batch_ms::numeric, 1)                                  AS last_batch_ms,
       r.last_key,
       r.backend_pid,
       r.started_at,
       r.updated_at,
       r.finished_at,
       r.last_error,
       r.record_undo,
       r.undo_status,
       r.undo_restored,
       r.undo_left_alone,
       r.undo_missing
FROM backfill_runs r
ORDER BY r.run_id DESC;
