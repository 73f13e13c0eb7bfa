-- backfill_worker_progress: every worker of every backfill run (a CALL of
-- backfill_snapshots on its own connection; newest run first), readable from any
-- session while the run works.
--   live           its backend is executing the CALL now (backfill_run_workers)
--   range_no       the key range it walks now (backfill_ranges), NULL between ranges
--   rows_done      sessions it examined; rows_per_sec over its own busy time
--   throttle_reason, throttled_since   the health signal it is waiting for now
--   throttled_time time it lost to throttling in all (the current spell included)
-- Locks: none (reads backfill_workers and pg_stat_activity).
CREATE OR REPLACE VIEW backfill_worker_progress AS
SELECT w.run_id,
       w.pid,
       (lw.pid IS NOT NULL)                                                AS live,
       w.range_no,
       w.batches,
       w.rows_scanned                                                      AS rows_done,
       round(w.rows_scanned / nullif(w.elapsed_ms / 1000.0, 0))::bigint    AS rows_per_sec,
       w.throttle_reason,
       w.throttled_since,
       make_interval(secs => round(((w.throttled_ms
             + COALESCE(extract(epoch FROM clock_timestamp() - w.throttled_since) * 1000, 0)) / 1000.0)::numeric, 1)::double precision)
                                                                           AS throttled_time,
       w.backend_start,
       w.joined_at,
       w.updated_at,
       w.left_at
FROM backfill_workers w
LEFT JOIN LATERAL (SELECT l.pid FROM backfill_run_workers(w.run_id) l
                   WHERE l.pid = w.pid AND l.backend_start = w.backend_start) lw ON true
ORDER BY w.run_id DESC, w.joined_at;
