-- backfill_progress: every backfill run (newest first), readable from any session
-- while a run works (each batch commits its counters with its data).
--   status         running | paused | completed | failed | abandoned, or
--                  'throttled': running, and every live worker is waiting for a
--                  database-health signal to clear (throttle_reason says which), or
--                  'interrupted': marked running but no backend is executing a CALL
--                  of it any more (killed backends, server restart); the next
--                  CALL backfill_snapshots() resumes it.
--   rows_done      sessions examined so far (the keyset pass); rows_total_est is the
--                  estimate made at the start (statistics), raised to rows_done when
--                  the estimate was too low.
--   rows_per_sec   rows_done / busy time (the time spent in batches, all calls and
--                  workers), times the live workers (at least 1): the run's rate now.
--   eta            estimated time left at that rate.
--   workers_live   CALLs working the run now (backfill_run_workers); workers: how
--                  many the latest call allowed (workers => N).
--   ranges_done / ranges_total   key ranges walked / cut (backfill_ranges).
--   throttle_reason, throttled_time   the signal holding a live worker back now (if
--                  any), and the time the workers have lost to throttling in all.
-- Per worker: backfill_worker_progress.
-- Locks: none (reads backfill_runs and pg_stat_activity).
CREATE OR REPLACE VIEW backfill_progress AS
SELECT r.run_id,
       CASE WHEN r.status = 'running' AND w.live = 0
                 AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                 WHERE a.pid = r.backend_pid AND a.state = 'active'
                                   AND a.query ~* '(backfill_snapshots|undo_backfill)')
            THEN 'interrupted'
            WHEN r.status = 'running' AND w.live > 0 AND w.throttled = w.live THEN 'throttled'
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
       round(r.rows_scanned / nullif(r.elapsed_ms / 1000.0, 0) * greatest(w.live, 1))::bigint AS rows_per_sec,
       CASE WHEN r.status IN ('running', 'paused', 'failed') AND r.rows_scanned > 0 AND r.elapsed_ms > 0
            THEN make_interval(secs => round(
                     greatest(COALESCE(r.rows_total_est, 0) - r.rows_scanned, 0)
                     * (r.elapsed_ms / 1000.0) / r.rows_scanned / greatest(w.live, 1)))
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
       r.undo_missing,
       w.live                                                              AS workers_live,
       r.workers,
       g.done                                                              AS ranges_done,
       g.total                                                             AS ranges_total,
       w.reason                                                            AS throttle_reason,
       make_interval(secs => round(((r.throttled_ms + w.throttling_ms) / 1000.0)::numeric, 1)::double precision)
                                                                           AS throttled_time
FROM backfill_runs r
CROSS JOIN LATERAL (
    SELECT count(*)::integer AS live,
           count(*) FILTER (WHERE x.throttle_reason IS NOT NULL)::integer AS throttled,
           min(x.throttle_reason) AS reason,
           COALESCE(sum(extract(epoch FROM clock_timestamp() - x.throttled_since) * 1000), 0) AS throttling_ms
    FROM backfill_run_workers(r.run_id) lw
    JOIN backfill_workers x ON x.run_id = r.run_id AND x.pid = lw.pid AND x.backend_start = lw.backend_start
    WHERE r.status = 'running'   -- only a running run has live workers: no pg_stat_activity read for the others
) w
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE rg.done)::integer AS done, count(*)::integer AS total
    FROM backfill_ranges rg WHERE rg.run_id = r.run_id
) g
ORDER BY r.run_id DESC;
