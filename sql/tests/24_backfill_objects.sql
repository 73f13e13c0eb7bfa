-- 24_backfill_objects: the backfill's procedures, functions, view and tables exist with the
-- documented signatures; arguments are validated with clear errors before anything
-- happens; the procedures refuse to run inside a transaction block (they COMMIT);
-- the index statements for the snapshot queries.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(51);

SELECT has_table(t) FROM unnest(ARRAY['backfill_runs', 'backfill_batches', 'backfill_rejects', 'backfill_undo', 'backfill_deferred',
                                      'backfill_settled', 'backfill_monitor_checks', 'backfill_ranges', 'backfill_workers']) t;
SELECT has_function('backfill_monitor', ARRAY['numeric', 'numeric', 'interval', 'interval', 'interval', 'timestamp with time zone', 'boolean']);
SELECT has_function('backfill_rule_version');
SELECT matches(backfill_rule_version(), '^[0-9a-f]{32}$', 'backfill_rule_version: an md5');
SELECT throws_ok($$SELECT * FROM backfill_monitor(warning_pct => 90, critical_pct => 95)$$, '22023', NULL,
                 'backfill_monitor: critical above warning refused');
SELECT is((SELECT state || ' ' || exit_code FROM backfill_monitor()), 'UNKNOWN 3', 'backfill_monitor: no sessions is UNKNOWN (3)');
SELECT has_view('backfill_progress');
SELECT ok(EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'backfill_snapshots' AND prokind = 'p'), 'procedure backfill_snapshots exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'undo_backfill' AND prokind = 'p'), 'procedure undo_backfill exists');
SELECT has_function('backfill_snapshots_batch', ARRAY['bigint', 'text', 'integer', 'boolean', 'boolean', 'text', 'text', 'integer']);
SELECT has_function('undo_backfill_batch', ARRAY['bigint', 'text', 'integer']);
SELECT has_function('snapshot_index_statements');
SELECT has_function('backfill_lock_holder');
SELECT has_function('backfill_snapshot_page', ARRAY['bigint', 'text', 'integer', 'text', 'text']);
SELECT has_function('backfill_snapshots_apply_dry', ARRAY['bigint', 'text', 'integer', 'text']);
SELECT has_function('backfill_range_bounds', ARRAY['integer']);
SELECT has_function('backfill_run_workers', ARRAY['bigint']);
SELECT has_view('backfill_worker_progress');
-- one signature each: the upgrade step dropped the earlier ones
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname IN ('backfill_snapshots', 'backfill_snapshots_batch',
                 'backfill_snapshot_page', 'backfill_snapshots_apply', 'backfill_snapshots_apply_dry',
                 'backfill_snapshots_apply_safe')), 6, 'one signature of each backfill routine');
SELECT has_function('backfill_deferred_page', ARRAY['bigint', 'text', 'integer']);
-- the dry step's plan is cached once, index-driven, without JIT (see its header)
SELECT is((SELECT array_to_string(p.proconfig, ',') FROM pg_proc p WHERE p.proname = 'backfill_snapshots_apply_dry'),
          'plan_cache_mode=force_generic_plan,enable_seqscan=off,enable_bitmapscan=off,enable_hashjoin=off,enable_mergejoin=off,jit=off',
          'backfill_snapshots_apply_dry: plan settings');

-- the named arguments the runner and the docs use
SELECT is((SELECT array_to_string(p.proargnames, ',') FROM pg_proc p WHERE p.proname = 'backfill_snapshots' AND p.prokind = 'p'),
          'batch_size,max_batches,dry_run,pause_ms,target_batch_ms,restart,record_undo,quiet,progress_every,min_batch_size,max_batch_size,sweep_attempts,run_analyze,sync_commit,recheck_rejects,recheck_all,workers,throttle,throttle_replica_lag_ms,throttle_replica_lag_bytes,throttle_wal_bytes_per_sec,throttle_xmin_age_ms,throttle_on_vacuum,run_id,status',
          'backfill_snapshots: parameter names');
SELECT is((SELECT array_to_string(p.proargnames, ',') FROM pg_proc p WHERE p.proname = 'undo_backfill' AND p.prokind = 'p'),
          'run_id,batch_size,quiet,pass_attempts,restored,left_alone,missing,status', 'undo_backfill: parameter names');
SELECT columns_are('backfill_progress', ARRAY['run_id', 'status', 'dry_run', 'phase', 'batches', 'batch_size', 'rows_done',
    'rows_total_est', 'pct_done', 'rows_filled', 'rows_unchanged', 'rows_rejected', 'rows_no_inventory', 'rows_deferred',
    'rows_per_sec', 'eta', 'busy_time', 'last_batch_ms', 'last_key', 'backend_pid', 'started_at', 'updated_at',
    'finished_at', 'last_error', 'record_undo', 'undo_status', 'undo_restored', 'undo_left_alone', 'undo_missing',
    'workers_live', 'workers', 'ranges_done', 'ranges_total', 'throttle_reason', 'throttled_time']);

-- argument validation happens first, with SQLSTATE 22023
SELECT throws_like($$CALL backfill_snapshots(0)$$, '%batch_size must be between 1 and 1000000 (got 0)%', 'batch_size 0 refused');
SELECT throws_ok($$CALL backfill_snapshots(1000001)$$, '22023', NULL, 'batch_size above 1000000 refused');
SELECT throws_ok($$CALL backfill_snapshots(max_batches => 0)$$, '22023', NULL, 'max_batches 0 refused');
SELECT throws_ok($$CALL backfill_snapshots(pause_ms => -1)$$, '22023', NULL, 'negative pause refused');
SELECT throws_ok($$CALL backfill_snapshots(target_batch_ms => 100, batch_size => 10, min_batch_size => 100)$$, '22023', NULL,
                 'adaptive batch size outside its bounds refused');
SELECT throws_ok($$CALL backfill_snapshots(run_id => 1, restart => true)$$, '22023', NULL, 'run_id with restart refused');
SELECT throws_ok($$CALL backfill_snapshots(workers => 0)$$, '22023', NULL, 'workers 0 refused');
SELECT throws_ok($$CALL backfill_snapshots(workers => 65)$$, '22023', NULL, 'workers above 64 refused');
SELECT throws_ok($$CALL backfill_snapshots(throttle_xmin_age_ms => -1)$$, '22023', NULL, 'a negative throttle threshold refused');
SELECT throws_ok($$CALL undo_backfill(1, batch_size => 0)$$, '22023', NULL, 'undo batch_size 0 refused');
-- the internal step function refuses what the batch function never passes
SELECT throws_ok($$SELECT * FROM backfill_snapshots_apply(1, NULL, 10, true, true, 'sweep')$$, '22023', NULL,
                 'backfill_snapshots_apply: a dry sweep refused');
SELECT throws_ok($$SELECT * FROM backfill_snapshots_apply(1, NULL, 10, NULL, true, 'scan')$$, '22023', NULL,
                 'backfill_snapshots_apply: dry_run NULL refused');
-- valid arguments inside a transaction block: the first COMMIT fails, before any lock is taken
SELECT throws_ok($$CALL backfill_snapshots(5000)$$, '2D000', NULL, 'backfill_snapshots refuses to run inside a transaction block');
SELECT throws_ok($$CALL undo_backfill(1)$$, '2D000', NULL, 'undo_backfill refuses to run inside a transaction block');
SELECT is((SELECT count(*)::int FROM backfill_lock_holder()), 0, 'and no backfill lock is left behind');

-- indexes for the snapshot queries: created CONCURRENTLY by the caller
SELECT is((SELECT statement FROM snapshot_index_statements() WHERE index_name = 'ix_session_summaries_snapshot_ip_type'),
          format('CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_session_summaries_snapshot_ip_type ON %I.session_summaries (snapshot_ip_type)',
                 (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = 'session_summaries'::regclass)),
          'snapshot_index_statements: the snapshot_ip_type index is missing after migrate');
SELECT is((SELECT array_agg(index_name ORDER BY seq) FROM snapshot_index_statements()),
          ARRAY['ix_session_summaries_snapshot_ip_type', 'ix_session_summaries_snapshot_country_type', 'ix_session_summaries_snapshot_asn_country',
                'ix_session_summaries_snapshot_open'],
          'snapshot_index_statements: the type index, the two covering indexes of the runbook queries, the open sessions'' partial index');
CREATE INDEX ix_session_summaries_snapshot_ip_type ON session_summaries (snapshot_ip_type);
SELECT is((SELECT count(*)::int FROM snapshot_index_statements()), 3, 'snapshot_index_statements: the covering indexes and the partial index are still missing');
CREATE INDEX ix_session_summaries_snapshot_country_type ON session_summaries (snapshot_country, snapshot_ip_type, snapshot_asn) INCLUDE (source_ip);
CREATE INDEX ix_session_summaries_snapshot_asn_country ON session_summaries (snapshot_asn, snapshot_country);
CREATE INDEX ix_session_summaries_snapshot_open ON session_summaries (session_id)
    WHERE (source_ip IS NULL OR snapshot_asn IS NULL OR snapshot_country IS NULL OR snapshot_ip_type IS NULL OR enrichment_at IS NULL);
SELECT is((SELECT count(*)::int FROM snapshot_index_statements()), 0, 'snapshot_index_statements: nothing once all the snapshot indexes exist');

SELECT * FROM finish();
ROLLBACK;
