-- backfill_snapshots(batch_size, max_batches, dry_run, pause_ms, target_batch_ms,
--                    restart, record_undo, quiet, progress_every, min_batch_size,
--                    max_batch_size, sweep_attempts, run_analyze, sync_commit,
--                    recheck_rejects, recheck_all, workers, throttle,
--                    throttle_replica_lag_ms, throttle_replica_lag_bytes,
--                    throttle_wal_bytes_per_sec, throttle_xmin_age_ms,
--                    throttle_on_vacuum, INOUT run_id, INOUT status)
--
-- The backfill of the ADR-007 snapshot columns (source_ip, snapshot_asn,
-- snapshot_country, snapshot_ip_type, enrichment_at) of session_summaries, as a
-- procedure a DBA runs from psql:   CALL backfill_snapshots();  (or (5000) for bigger
-- batches). The default batch size, 2500, keeps each batch's row locks well under the
-- 250 ms target at the production size (figures: docs/benchmarks.md).
-- It must be CALLed alone (not inside BEGIN ... COMMIT, not from a function): it
-- COMMITs after every batch.
--
-- * Key ranges and keyset pagination on the primary key (no OFFSET): a run walks key
--   ranges (backfill_ranges): one, or with workers => N many more than N, cut from
--   the key histogram (backfill_split_ranges) when the run starts or resumes. A
--   worker claims a range no live worker holds, and each batch takes the next
--   batch_size sessions of it after the range's checkpoint that have a NULL snapshot
--   column, fills what is NULL (never overwrites a value), and COMMITs together with
--   the checkpoint. An interruption of any kind -- cancel, killed backend, server
--   restart -- loses at most the batch in flight.
-- * Parallel workers: workers => N lets up to N CALLs, each on its own connection
--   (N psql sessions, or cowrie-db backfill --workers N), work the same run: a CALL
--   made while the run is being worked by fewer than N live workers joins it
--   (backfill_run_workers) instead of failing as a second run. Each claims ranges of
--   its own (FOR UPDATE SKIP LOCKED), so the result is the same whatever N; the
--   worker that finds every range done does the sweep and completes the run, the
--   others return status 'running' (the run goes on without them). Killed workers'
--   ranges are taken over from their checkpoints by whoever works the run next.
-- * Throttling (throttle => true, the default): about once a second each worker
--   reads the database's health (backfill_throttle_signal): replication lag of a
--   standby, WAL generated per second, a transaction holding back the xmin horizon,
--   a VACUUM of session_summaries. On a signal it sleeps with back-off (0.5 s
--   doubling up to 30 s) until the signal clears; backfill_workers and the progress
--   view show 'throttled', the reason and the time lost. Throttling never fails a
--   run. The thresholds (throttle_*; NULL: the default of backfill_throttle_defaults(),
--   0 or false: that signal off) are described in docs/throttling.md.
-- * sync_commit => false (default): the batches COMMIT with synchronous_commit = off
--   (for the backfill's own transactions only): a COMMIT does not wait for its WAL
--   to reach the disk (docs/benchmarks.md has what that saves). Nothing
--   can be torn by it: a batch and its checkpoint are one transaction, so a crash
--   of the server or of the machine (kill -9, power loss) can at worst undo the last
--   few committed batches (under 3 x wal_writer_delay, 0.6 s by default) together
--   with their checkpoint, and the next call redoes them. A cancel,
--   pg_terminate_backend or a clean restart loses nothing committed. sync_commit =>
--   true makes every batch COMMIT durable before the next one starts.
-- * Resumes by default: a call continues the latest unfinished run of the same kind
--   (dry or real) -- status running (left by a killed backend), paused or failed --
--   from its ranges' checkpoints; restart => true abandons it and starts a new run from the
--   first session; run_id => N resumes run N explicitly.
-- * Rows locked by other transactions are skipped (SKIP LOCKED), listed in
--   backfill_deferred and retried by the sweep phase at the end of the run (up to
--   sweep_attempts passes with back-off per call); the run completes only when none
--   is left, otherwise it pauses and the next call retries them.
-- * Rejects (bad IP, bad country, bad ASN, missing enrichment, ...) go to
--   backfill_rejects and are skipped; they never abort a batch or the run.
-- * Incremental: a session a real run decided and left with a NULL column (reject, no
--   inventory row, no IP type known, ...) is recorded in backfill_settled with the row
--   version decided on (ctid, xmin); later runs skip it while it keeps that version.
--   So a new run looks only at sessions inserted or updated since they were decided,
--   and, invalidated when it starts, at those whose IP's ip_inventory row appeared or
--   changed since and at all of them when the snapshot rule changed
--   (backfill_rule_version). recheck_rejects => true looks at every reject again;
--   recheck_all => true at every open session (and forgets entries of sessions gone or
--   filled by others). With the partial index ix_session_summaries_snapshot_open
--   (snapshot_index_statements) a run reads only sessions with a NULL column; see
--   docs/backfill.md, "Incremental runs", for the cost and why no trigger is used.
-- * dry_run => true computes exactly what a real run would change (counters by
--   column, by source and by outcome in backfill_runs, rejects, a sample of 20 rows)
--   without locking or writing session_summaries.
-- * record_undo => true (default) logs the previous and new values of every row it
--   changes in backfill_undo, so that CALL undo_backfill(run_id) restores them.
-- * max_batches stops (status 'paused') after that many batches in this call;
--   pause_ms sleeps between batches; target_batch_ms adapts the batch size, within
--   [min_batch_size, max_batch_size], to that duration per batch.
-- * Progress: a NOTICE every progress_every batches (none with quiet => true) and
--   the view backfill_progress, readable from any session while it runs.
-- * One run at a time per database: a caller that cannot join the running run (it
--   has its workers, or the caller asks for another kind of run, a restart or a
--   recheck) gets an error (SQLSTATE 55P03) naming the running run and a backend pid
--   (claims serialized by a transaction-level advisory lock; see backfill_lock_holder).
-- * When a real run completes: ANALYZE session_summaries (run_analyze; only when the
--   run filled at least 10% of the table's estimated rows, or the table has no
--   statistics yet: autovacuum covers smaller changes), and a NOTICE
--   with the CREATE INDEX CONCURRENTLY statements still needed
--   (snapshot_index_statements(); they cannot run inside a procedure).
-- The INOUT parameters return the run id and how this CALL ended: 'completed' (the
-- run is complete), 'paused' (this CALL stopped: max_batches, or rows still locked
-- after the sweep; the run is paused unless other workers go on) or 'running' (this
-- worker found no range left: other workers go on with the run). Errors are raised
-- after the run is marked 'failed' (or 'paused' on a cancel) and committed; while
-- other workers are live the run stays theirs and only last_error records it.
-- Locks: per batch, FOR NO KEY UPDATE row locks on at most batch_size rows of
--   session_summaries (never waited for; held for one batch, well under a second at
--   the default size) and ROW EXCLUSIVE on it; FOR KEY SHARE on referenced
--   ip_inventory rows; the run's backfill_runs row from its counters' update to the
--   batch's COMMIT (what parallel workers wait for each other for), the claimed
--   range's row; lock_timeout 1s per batch (a lock wait beyond that retries the
--   batch smaller); the advisory lock (backfill_advisory_lock_class(), 1) while it claims a run; SHARE UPDATE
--   EXCLUSIVE during the final ANALYZE. No table lock blocks readers or writers.

CREATE OR REPLACE PROCEDURE backfill_snapshots(
    batch_size      integer DEFAULT 2500,
    max_batches     integer DEFAULT NULL,
    dry_run         boolean DEFAULT false,
    pause_ms        integer DEFAULT 0,
    target_batch_ms integer DEFAULT NULL,
    restart         boolean DEFAULT false,
    record_undo     boolean DEFAULT true,
    quiet           boolean DEFAULT false,
    progress_every  integer DEFAULT 10,
    min_batch_size  integer DEFAULT 100,
    max_batch_size  integer DEFAULT 50000,
    sweep_attempts  integer DEFAULT 10,
    run_analyze     boolean DEFAULT true,
    sync_commit     boolean DEFAULT false,
    recheck_rejects boolean DEFAULT false,
    recheck_all     boolean DEFAULT false,
    workers         integer DEFAULT 1,
    throttle        boolean DEFAULT true,
    throttle_replica_lag_ms    integer DEFAULT NULL,
    throttle_replica_lag_bytes bigint  DEFAULT NULL,
    throttle_wal_bytes_per_sec bigint  DEFAULT NULL,
    throttle_xmin_age_ms       integer DEFAULT NULL,
    throttle_on_vacuum         boolean DEFAULT NULL,
    INOUT run_id    bigint  DEFAULT NULL,
    INOUT status    text    DEFAULT NULL)
LANGUAGE plpgsql
AS $proc$
DECLARE
    v_size       integer := backfill_snapshots.batch_size;
    v_max        integer := backfill_snapshots.max_batches;
    v_dry        boolean := COALESCE(backfill_snapshots.dry_run, false);
    v_pause      integer := COALESCE(backfill_snapshots.pause_ms, 0);
    v_target     integer := backfill_snapshots.target_batch_ms;
    v_restart    boolean := COALESCE(backfill_snapshots.restart, false);
    v_undo       boolean := COALESCE(backfill_snapshots.record_undo, true);
    v_quiet      boolean := COALESCE(backfill_snapshots.quiet, false);
    v_every      integer := COALESCE(backfill_snapshots.progress_every, 10);
    v_min        integer := COALESCE(backfill_snapshots.min_batch_size, 100);
    v_maxsize    integer := COALESCE(backfill_snapshots.max_batch_size, 50000);
    v_attempts   integer := COALESCE(backfill_snapshots.sweep_attempts, 10);
    v_analyze    boolean := COALESCE(backfill_snapshots.run_analyze, true);
    v_sync       boolean := COALESCE(backfill_snapshots.sync_commit, false);
    v_rechk_rej  boolean := COALESCE(backfill_snapshots.recheck_rejects, false);
    v_rechk_all  boolean := COALESCE(backfill_snapshots.recheck_all, false);
    v_workers    integer := COALESCE(backfill_snapshots.workers, 1);
    v_throttle   boolean := COALESCE(backfill_snapshots.throttle, true);
    v_t_lag_ms   integer := backfill_snapshots.throttle_replica_lag_ms;
    v_t_lag_b    bigint  := backfill_snapshots.throttle_replica_lag_bytes;
    v_t_wal      bigint  := backfill_snapshots.throttle_wal_bytes_per_sec;
    v_t_xmin     integer := backfill_snapshots.throttle_xmin_age_ms;
    v_t_vacuum   boolean := backfill_snapshots.throttle_on_vacuum;
    v_rule       text;
    v_forgot     bigint := 0;
    v_settled    double precision;
    v_req_run    bigint  := backfill_snapshots.run_id;
    v_id         bigint;
    v_run        record;
    v_res        record;
    v_b_last     text;              -- last key of the batch just done (NULL: none)
    v_b_rows     integer;           -- rows it examined
    v_b_ms       double precision;  -- its duration
    v_holder     record;
    v_live       integer;           -- the run's other live workers
    v_joined     boolean := false;  -- this CALL joined a run other workers are working
    v_phase      text;
    v_range      integer;           -- the range this worker walks (NULL: none claimed)
    v_hi         text;              -- its last key (NULL: unbounded)
    v_key        text;              -- the checkpoint in it
    v_skey       text;
    v_g          record;
    v_resumable  boolean := false;
    v_done_call  integer := 0;      -- batches done by this call
    v_passes     integer := 0;      -- sweep passes done by this call
    v_stop       text;              -- why the loop stopped: done | max_batches | locked | others
    v_sig        record;            -- the last health check
    v_chk_due    timestamptz;       -- when the next health check is due (NULL: now)
    v_wal_lsn    pg_lsn;
    v_wal_at     timestamptz;
    v_thr        text;              -- the throttling signal's reason now (NULL: none)
    v_thr_since  timestamptz;       -- throttled since
    v_thr_n      integer := 0;      -- back-off steps in the current throttled spell
    v_sleep      double precision;
    v_err        text;
    v_state      text;
    v_msg        text;
    v_detail     text;
    v_context    text;
    v_retries    integer := 0;
    v_new        integer;
    v_est        bigint;
    v_reltuples  double precision;
    v_nullfrac   double precision;
    v_p          record;
    v_line       text;
BEGIN
    ---------------------------------------------------------------- arguments
    IF v_size IS NULL OR v_size NOT BETWEEN 1 AND 1000000 THEN
        RAISE EXCEPTION 'backfill_snapshots: batch_size must be between 1 and 1000000 (got %)', v_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_max IS NOT NULL AND v_max < 1 THEN
        RAISE EXCEPTION 'backfill_snapshots: max_batches must be NULL (no limit) or at least 1 (got %)', v_max
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_pause NOT BETWEEN 0 AND 3600000 THEN
        RAISE EXCEPTION 'backfill_snapshots: pause_ms must be between 0 and 3600000 (got %)', v_pause
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_target IS NOT NULL AND v_target NOT BETWEEN 1 AND 600000 THEN
        RAISE EXCEPTION 'backfill_snapshots: target_batch_ms must be NULL (fixed batch size) or between 1 and 600000 (got %)', v_target
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_min NOT BETWEEN 1 AND 1000000 OR v_maxsize NOT BETWEEN 1 AND 1000000 OR v_min > v_maxsize THEN
        RAISE EXCEPTION 'backfill_snapshots: need 1 <= min_batch_size <= max_batch_size <= 1000000 (got % and %)', v_min, v_maxsize
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_target IS NOT NULL AND v_size NOT BETWEEN v_min AND v_maxsize THEN
        RAISE EXCEPTION 'backfill_snapshots: with target_batch_ms, batch_size (%) must lie between min_batch_size (%) and max_batch_size (%)', v_size, v_min, v_maxsize
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_every < 1 THEN
        RAISE EXCEPTION 'backfill_snapshots: progress_every must be at least 1 (got %)', v_every
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_attempts NOT BETWEEN 0 AND 1000 THEN
        RAISE EXCEPTION 'backfill_snapshots: sweep_attempts must be between 0 and 1000 (got %)', v_attempts
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_req_run IS NOT NULL AND (v_rechk_rej OR v_rechk_all) THEN
        RAISE EXCEPTION 'backfill_snapshots: recheck_rejects and recheck_all apply when a run starts; run_id => % resumes one', v_req_run
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A resumed run keeps the set of sessions it started with.',
                  HINT = 'Let the run complete, then CALL backfill_snapshots(recheck_rejects => true) (or restart => true with it).';
    END IF;
    IF v_workers NOT BETWEEN 1 AND 64 THEN
        RAISE EXCEPTION 'backfill_snapshots: workers must be between 1 and 64 (got %)', v_workers
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'It is how many CALLs, each on its own connection, may work the run together; about one per core.';
    END IF;
    IF v_t_lag_ms < 0 OR v_t_lag_b < 0 OR v_t_wal < 0 OR v_t_xmin < 0 THEN
        RAISE EXCEPTION 'backfill_snapshots: a throttle_* threshold must be NULL (the default), 0 (that signal off) or positive'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('throttle_replica_lag_ms %s, throttle_replica_lag_bytes %s, throttle_wal_bytes_per_sec %s, throttle_xmin_age_ms %s',
                                  v_t_lag_ms, v_t_lag_b, v_t_wal, v_t_xmin);
    END IF;
    IF v_req_run IS NOT NULL AND v_restart THEN
        RAISE EXCEPTION 'backfill_snapshots: run_id => % resumes that run; it cannot be combined with restart => true', v_req_run
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Fails at once, before any lock is taken, when CALLed inside a transaction
    -- block ("invalid transaction termination"): the procedure must commit.
    COMMIT;

    -- the thresholds: NULL takes the default (backfill_throttle_defaults), 0 is off
    IF v_throttle THEN
        SELECT COALESCE(v_t_lag_ms, max(d.default_value) FILTER (WHERE d.parameter = 'replica_lag_ms')::integer),
               COALESCE(v_t_lag_b, max(d.default_value) FILTER (WHERE d.parameter = 'replica_lag_bytes')::bigint),
               COALESCE(v_t_wal, max(d.default_value) FILTER (WHERE d.parameter = 'wal_bytes_per_sec')::bigint),
               COALESCE(v_t_xmin, max(d.default_value) FILTER (WHERE d.parameter = 'xmin_age_ms')::integer),
               COALESCE(v_t_vacuum, max(d.default_value) FILTER (WHERE d.parameter = 'on_vacuum')::boolean)
        INTO v_t_lag_ms, v_t_lag_b, v_t_wal, v_t_xmin, v_t_vacuum
        FROM backfill_throttle_defaults() d;
        v_t_lag_ms := nullif(v_t_lag_ms, 0);
        v_t_lag_b := nullif(v_t_lag_b, 0);
        v_t_wal := nullif(v_t_wal, 0);
        v_t_xmin := nullif(v_t_xmin, 0);
        v_t_vacuum := COALESCE(v_t_vacuum, false);
        v_throttle := v_t_lag_ms IS NOT NULL OR v_t_lag_b IS NOT NULL OR v_t_wal IS NOT NULL
                      OR v_t_xmin IS NOT NULL OR v_t_vacuum;
    END IF;

    ---------------------------------------------------------------- one at a time
    -- Claims are serialized by a transaction-level advisory lock (released by the
    -- COMMIT below, never left behind); the running one is found by backfill_lock_holder.
    PERFORM set_config('lock_timeout', '30s', true);
    PERFORM pg_advisory_xact_lock(backfill_advisory_lock_class(), 1);
    SELECT h.pid, h.run_id, h.activity, h.state INTO v_holder FROM backfill_lock_holder() h LIMIT 1;
    IF v_holder.pid IS NOT NULL THEN
        SELECT * INTO v_run FROM backfill_runs r WHERE r.run_id = v_holder.run_id;
        SELECT count(*) INTO v_live FROM backfill_run_workers(v_holder.run_id) lw;
        -- another worker of the same run, while it has fewer workers than asked for
        v_joined := v_run.status = 'running' AND v_run.undo_status IS NULL AND v_run.dry_run = v_dry
                    AND (v_req_run IS NULL OR v_req_run = v_run.run_id)
                    AND NOT v_restart AND NOT v_rechk_rej AND NOT v_rechk_all
                    AND v_live > 0 AND v_live < v_workers;
        IF NOT v_joined THEN
            RAISE EXCEPTION 'backfill_snapshots: % is already running (backend pid %)', v_holder.activity,
                v_holder.pid || CASE WHEN v_live > 0 AND v_run.workers > 1 THEN format(', %s worker%s of %s', v_live,
                                                                 CASE WHEN v_live = 1 THEN '' ELSE 's' END, v_run.workers)
                                     ELSE '' END
                USING ERRCODE = 'lock_not_available',
                      DETAIL = 'Only one backfill_snapshots or undo_backfill runs at a time per database; another CALL joins the running run as a worker when it asks for more workers than the run has (workers => N), for the same kind of run, without restart or recheck.',
                      HINT = format('Watch it with SELECT * FROM backfill_progress; stop it with SELECT pg_cancel_backend(%s); a stopped run resumes where it stopped.',
                                    v_holder.pid);
        END IF;
    END IF;

    ---------------------------------------------------------------- the run
    BEGIN
        IF current_setting('statement_timeout') NOT IN ('0', '0ms') AND NOT v_quiet THEN
            RAISE NOTICE 'backfill_snapshots: statement_timeout is %; a longer CALL is canceled then (it resumes where it stopped when called again). SET statement_timeout = 0 first to avoid that.',
                current_setting('statement_timeout');
        END IF;

        IF v_joined THEN
            v_resumable := true;
        ELSIF v_req_run IS NOT NULL THEN
            SELECT * INTO v_run FROM backfill_runs r WHERE r.run_id = v_req_run;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'backfill_snapshots: run % does not exist', v_req_run
                    USING ERRCODE = 'no_data_found';
            END IF;
            IF v_run.dry_run <> v_dry THEN
                RAISE EXCEPTION 'backfill_snapshots: run % is a % run; call with dry_run => %',
                    v_req_run, CASE WHEN v_run.dry_run THEN 'dry' ELSE 'real' END, v_run.dry_run
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF v_run.status NOT IN ('running', 'paused', 'failed') OR v_run.undo_status IS NOT NULL THEN
                RAISE EXCEPTION 'backfill_snapshots: run % is % and cannot be resumed',
                    v_req_run, COALESCE(v_run.undo_status, v_run.status)
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Call without run_id to start a new run (it only touches rows that still have NULL snapshot columns).';
            END IF;
            v_resumable := true;
        ELSE
            SELECT * INTO v_run FROM backfill_runs r WHERE r.run_id = backfill_resumable_run(v_dry);
            v_resumable := FOUND;
        END IF;

        IF v_resumable AND v_restart THEN
            UPDATE backfill_runs r
            SET status = 'abandoned', finished_at = clock_timestamp(), updated_at = clock_timestamp(),
                backend_pid = NULL
            WHERE r.run_id = v_run.run_id;
            IF NOT v_quiet THEN
                RAISE NOTICE 'backfill run %: abandoned (restart => true), its undo log stays usable', v_run.run_id;
            END IF;
            v_resumable := false;
        END IF;

        IF v_resumable THEN
            IF v_rechk_rej OR v_rechk_all THEN
                RAISE EXCEPTION 'backfill_snapshots: run % is unfinished; recheck_rejects and recheck_all apply when a run starts', v_run.run_id
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = 'A resumed run keeps the set of sessions it started with.',
                          HINT = 'Let it complete first (CALL backfill_snapshots()), or add restart => true to abandon it and start a new run.';
            END IF;
            IF NOT v_dry AND v_run.record_undo <> v_undo THEN
                RAISE EXCEPTION 'backfill_snapshots: run % was started with record_undo => %; resume it with the same setting (or restart => true)',
                    v_run.run_id, v_run.record_undo
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            v_id := v_run.run_id;
            v_phase := v_run.phase;
            v_skey := v_run.sweep_key;
            UPDATE backfill_runs r
            SET status = 'running', backend_pid = pg_backend_pid(), calls = r.calls + 1, workers = v_workers,
                last_error = NULL, finished_at = NULL, batch_size = v_size,
                params = r.params || jsonb_build_object('batch_size', v_size, 'max_batches', v_max,
                             'pause_ms', v_pause, 'target_batch_ms', v_target,
                             'min_batch_size', v_min, 'max_batch_size', v_maxsize,
                             'sweep_attempts', v_attempts, 'run_analyze', v_analyze,
                             'sync_commit', v_sync, 'pid', pg_backend_pid(),
                             'application_name', current_setting('application_name')),
                updated_at = clock_timestamp()
            WHERE r.run_id = v_id;
            IF NOT v_quiet THEN
                SELECT count(*) FILTER (WHERE g.done) AS done, count(*) AS n INTO v_g
                FROM backfill_ranges g WHERE g.run_id = v_id;
                RAISE NOTICE 'backfill run %: % (% phase), % of % key ranges done, % rows done so far',
                    v_id, CASE WHEN v_joined THEN format('joining as worker %s of %s', v_live + 1, v_workers)
                               ELSE 'resuming' END,
                    v_phase, v_g.done, v_g.n, v_run.rows_scanned;
            END IF;
        ELSE
            -- incremental: forget what must be looked at again (the others stay settled)
            v_rule := backfill_rule_version();
            IF v_rechk_all THEN
                DELETE FROM backfill_settled;
            ELSE
                DELETE FROM backfill_settled st
                WHERE st.rule_version <> v_rule OR (v_rechk_rej AND st.rejected);
            END IF;
            GET DIAGNOSTICS v_forgot = ROW_COUNT;
            -- sessions waiting for an inventory row that now exists, or that changed
            DELETE FROM backfill_settled st
            USING ip_inventory i
            WHERE st.ip IS NOT NULL
              AND i.ip_address = st.ip
              AND (st.inv_xmin IS NULL OR st.inv_xmin <> i.xmin);
            GET DIAGNOSTICS v_new = ROW_COUNT;
            v_forgot := v_forgot + v_new;
            -- how many sessions to examine: statistics when there are some, else a count
            SELECT c.reltuples INTO v_reltuples FROM pg_class c WHERE c.oid = 'session_summaries'::regclass;
            SELECT max(st.null_frac) INTO v_nullfrac
            FROM pg_stats st
            JOIN pg_class c ON c.relname = st.tablename
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = st.schemaname
            WHERE c.oid = 'session_summaries'::regclass
              AND st.attname IN ('source_ip', 'snapshot_asn', 'snapshot_country', 'snapshot_ip_type', 'enrichment_at');
            IF v_reltuples IS NULL OR v_reltuples < 0 OR v_nullfrac IS NULL THEN
                SELECT count(*) INTO v_est FROM session_summaries s
                WHERE s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
                   OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL;
            ELSE
                v_est := ceil(v_reltuples * v_nullfrac)::bigint;
            END IF;
            -- minus those settled (statistics: the exact count would cost a scan)
            SELECT greatest(c.reltuples, 0) INTO v_settled FROM pg_class c WHERE c.oid = 'backfill_settled'::regclass;
            v_est := greatest(v_forgot, v_est - COALESCE(v_settled, 0)::bigint);
            INSERT INTO backfill_runs AS r (status, dry_run, record_undo, phase, params, batch_size,
                                            rows_total_est, backend_pid, calls)
            VALUES ('running', v_dry, v_undo AND NOT v_dry, 'scan',
                    jsonb_build_object('batch_size', v_size, 'max_batches', v_max, 'dry_run', v_dry,
                                       'pause_ms', v_pause, 'target_batch_ms', v_target,
                                       'record_undo', v_undo AND NOT v_dry, 'min_batch_size', v_min,
                                       'max_batch_size', v_maxsize, 'sweep_attempts', v_attempts,
                                       'run_analyze', v_analyze, 'sync_commit', v_sync,
                                       'recheck_rejects', v_rechk_rej, 'recheck_all', v_rechk_all,
                                       'settled_forgotten', v_forgot, 'rule_version', v_rule,
                                       'started_by', current_user, 'pid', pg_backend_pid(),
                                       'application_name', current_setting('application_name')),
                    v_size, v_est, pg_backend_pid(), 1)
            RETURNING r.run_id INTO v_id;
            UPDATE backfill_runs r SET workers = v_workers WHERE r.run_id = v_id;
            -- one key range; with workers => N cut into many (more than N: see below)
            INSERT INTO backfill_ranges (run_id, range_no, lo_key, hi_key) VALUES (v_id, 1, NULL, NULL);
            v_phase := 'scan';
            v_skey := NULL;
            IF NOT v_quiet THEN
                RAISE NOTICE 'backfill run %: started%, about % sessions to examine, batch size %, workers %',
                    v_id, CASE WHEN v_dry THEN ' (DRY RUN: nothing will be written to session_summaries)' ELSE '' END,
                    v_est, v_size, v_workers;
            END IF;
        END IF;
    END;
    -- with workers => N, at least 4N ranges left to share (about four batches or more
    -- each, at most 100 in all): the run's ranges are cut when it starts or resumes
    IF v_workers > 1 AND NOT v_joined AND v_phase = 'scan'
       AND (SELECT count(*) FROM backfill_ranges g WHERE g.run_id = v_id AND NOT g.done) < 4 * v_workers THEN
        v_est := (SELECT greatest(r.rows_total_est - r.rows_scanned, 0) FROM backfill_runs r WHERE r.run_id = v_id);
        PERFORM backfill_split_ranges(v_id, least(100, greatest(4 * v_workers, ceil(v_est / (4.0 * v_size))))::integer);
    END IF;
    -- this backend works the run: registered as one of its workers
    INSERT INTO backfill_workers AS w (run_id, pid, backend_start)
    SELECT v_id, a.pid, a.backend_start FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()
    ON CONFLICT ON CONSTRAINT backfill_workers_pkey DO UPDATE
        SET left_at = NULL, updated_at = clock_timestamp(), range_no = NULL;
    COMMIT;
    -- a sweep is one worker's: another one that joins then has nothing to do
    IF v_phase = 'sweep' AND EXISTS (SELECT 1 FROM backfill_run_workers(v_id) lw WHERE lw.pid <> pg_backend_pid()) THEN
        v_stop := 'others';
    END IF;

    ---------------------------------------------------------------- batches
    WHILE v_stop IS NULL LOOP
        IF v_max IS NOT NULL AND v_done_call >= v_max THEN
            v_stop := 'max_batches';
            EXIT;
        END IF;
        v_err := NULL;
        v_b_last := NULL;
        v_b_rows := 0;
        v_b_ms := 0;
        BEGIN
            PERFORM set_config('lock_timeout', '1s', true);
            IF NOT v_sync THEN
                PERFORM set_config('synchronous_commit', 'off', true);  -- see sync_commit above
            END IF;

            -- the database's health, about once a second
            IF v_throttle AND (v_chk_due IS NULL OR clock_timestamp() >= v_chk_due) THEN
                SELECT * INTO v_sig
                FROM backfill_throttle_signal(v_t_lag_ms, v_t_lag_b, v_t_wal, v_t_xmin, v_t_vacuum, v_wal_lsn, v_wal_at);
                v_wal_lsn := v_sig.wal_lsn;
                v_wal_at := v_sig.checked_at;
                v_chk_due := clock_timestamp() + interval '1 second';
                IF v_sig.signal IS NOT NULL THEN
                    IF v_thr IS NULL AND NOT v_quiet THEN
                        RAISE NOTICE 'backfill run %: throttled: %', v_id, v_sig.reason;
                    END IF;
                    v_thr := v_sig.reason;
                    v_thr_since := COALESCE(v_thr_since, clock_timestamp());
                    UPDATE backfill_workers w
                    SET throttle_reason = v_thr, throttled_since = v_thr_since, updated_at = clock_timestamp()
                    WHERE w.run_id = v_id AND w.pid = pg_backend_pid() AND w.left_at IS NULL;
                ELSIF v_thr IS NOT NULL THEN
                    v_sleep := extract(epoch FROM clock_timestamp() - v_thr_since) * 1000;
                    UPDATE backfill_workers w
                    SET throttle_reason = NULL, throttled_since = NULL, throttled_ms = w.throttled_ms + v_sleep,
                        updated_at = clock_timestamp()
                    WHERE w.run_id = v_id AND w.pid = pg_backend_pid() AND w.left_at IS NULL;
                    UPDATE backfill_runs r SET throttled_ms = r.throttled_ms + v_sleep WHERE r.run_id = v_id;
                    IF NOT v_quiet THEN
                        RAISE NOTICE 'backfill run %: throttling over after % s (%)', v_id,
                            round((v_sleep / 1000)::numeric, 1), v_thr;
                    END IF;
                    v_thr := NULL;
                    v_thr_since := NULL;
                    v_thr_n := 0;
                END IF;
            END IF;

            IF v_thr IS NOT NULL THEN
                NULL;  -- no batch while throttled: the back-off sleep below
            ELSIF v_phase = 'scan' AND v_range IS NULL THEN
                -- claim a range: not done, and no live worker holds it (a killed
                -- worker's range is taken over from its checkpoint); this backend's own first
                SELECT g.range_no, g.hi_key, COALESCE(g.last_key, g.lo_key) AS pos INTO v_g
                FROM backfill_ranges g
                WHERE g.run_id = v_id AND NOT g.done
                  AND (g.worker_pid IS NULL OR g.worker_pid = pg_backend_pid()
                       OR g.worker_pid NOT IN (SELECT lw.pid FROM backfill_run_workers(v_id) lw))
                ORDER BY g.worker_pid IS NOT DISTINCT FROM pg_backend_pid() DESC, g.range_no
                LIMIT 1
                FOR UPDATE OF g SKIP LOCKED;
                IF FOUND THEN
                    v_range := v_g.range_no;
                    v_hi := v_g.hi_key;
                    v_key := v_g.pos;
                    UPDATE backfill_ranges g SET worker_pid = pg_backend_pid(), claimed_at = clock_timestamp()
                    WHERE g.run_id = v_id AND g.range_no = v_range;
                    UPDATE backfill_workers w SET range_no = v_range, updated_at = clock_timestamp()
                    WHERE w.run_id = v_id AND w.pid = pg_backend_pid() AND w.left_at IS NULL;
                ELSIF EXISTS (SELECT 1 FROM backfill_ranges g WHERE g.run_id = v_id AND NOT g.done) THEN
                    v_stop := 'others';  -- the ranges left are being walked by other workers
                ELSE
                    -- every range is done: the first worker to see it moves the run on
                    UPDATE backfill_runs r
                    SET phase = CASE WHEN v_dry THEN 'done' ELSE 'sweep' END, sweep_key = NULL,
                        updated_at = clock_timestamp()
                    WHERE r.run_id = v_id AND r.phase = 'scan'
                    RETURNING r.phase INTO v_phase;
                    IF FOUND THEN
                        v_skey := NULL;
                    ELSE
                        v_stop := 'others';  -- another worker did: it sweeps and completes
                    END IF;
                END IF;
            ELSIF v_phase = 'scan' THEN
                SELECT * INTO v_res FROM backfill_snapshots_batch(v_id, v_key, v_size, v_dry, v_undo, 'scan', v_hi, v_range);
                v_b_last := v_res.last_key;
                v_b_rows := greatest(v_res.rows_scanned, v_res.rows_locked);
                v_b_ms := v_res.duration_ms;
                IF v_res.done THEN
                    v_range := NULL;  -- the next iteration claims the next one
                ELSE
                    v_key := v_res.last_key;
                    v_done_call := v_done_call + 1;
                END IF;
            ELSIF v_phase = 'sweep' THEN
                IF NOT EXISTS (SELECT 1 FROM backfill_deferred d WHERE d.run_id = v_id) THEN
                    v_phase := 'done';
                    UPDATE backfill_runs r SET phase = 'done', rows_deferred = 0, updated_at = clock_timestamp()
                    WHERE r.run_id = v_id;
                ELSE
                    SELECT * INTO v_res FROM backfill_snapshots_batch(v_id, v_skey, v_size, false, v_undo, 'sweep');
                    v_b_last := v_res.last_key;
                    v_b_rows := greatest(v_res.rows_scanned, v_res.rows_locked);
                    v_b_ms := v_res.duration_ms;
                    IF v_res.done THEN
                        -- end of one pass over the deferred list
                        v_skey := NULL;
                        v_passes := v_passes + 1;
                        UPDATE backfill_runs r SET sweep_passes = r.sweep_passes + 1, sweep_key = NULL,
                               updated_at = clock_timestamp()
                        WHERE r.run_id = v_id;
                        IF EXISTS (SELECT 1 FROM backfill_deferred d WHERE d.run_id = v_id) THEN
                            IF v_passes >= v_attempts THEN
                                v_stop := 'locked';
                            ELSE
                                PERFORM pg_sleep(least(2.0, 0.05 * power(2, least(v_passes, 6))));
                            END IF;
                        END IF;
                    ELSE
                        v_skey := v_res.last_key;
                        v_done_call := v_done_call + 1;
                    END IF;
                END IF;
            ELSE
                v_stop := 'done';
            END IF;

            -- adaptive batch size: aim at target_batch_ms per batch
            IF v_target IS NOT NULL AND v_b_last IS NOT NULL
               AND v_b_rows >= greatest(1, v_size / 2) AND v_b_ms > 0 THEN
                v_new := round(v_b_rows * v_target / v_b_ms)::integer;
                v_new := least(v_size * 2, greatest(v_size / 2, v_new));
                v_new := least(v_maxsize, greatest(v_min, v_new));
                IF v_new <> v_size THEN
                    v_size := v_new;
                    UPDATE backfill_runs r SET batch_size = v_size WHERE r.run_id = v_id;
                END IF;
            END IF;

            -- progress
            IF NOT v_quiet AND v_b_last IS NOT NULL AND v_done_call % v_every = 0 THEN
                SELECT * INTO v_p FROM backfill_progress p WHERE p.run_id = v_id;
                RAISE NOTICE 'backfill run %: % batch %, % of ~% sessions (% %%), % filled, % unchanged, % rejected, % no inventory, % deferred, % rows/s, % workers, ETA %',
                    v_id, v_phase, v_p.batches, v_p.rows_done, v_p.rows_total_est, v_p.pct_done,
                    v_p.rows_filled, v_p.rows_unchanged, v_p.rows_rejected, v_p.rows_no_inventory,
                    v_p.rows_deferred, v_p.rows_per_sec, v_p.workers_live, COALESCE(v_p.eta::text, '?');
            END IF;
        EXCEPTION
            WHEN query_canceled THEN
                v_err := 'cancel';
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
            WHEN lock_not_available OR deadlock_detected OR serialization_failure THEN
                v_err := 'retry';
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
            WHEN OTHERS THEN
                v_err := 'fail';
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT,
                                        v_detail = PG_EXCEPTION_DETAIL, v_context = PG_EXCEPTION_CONTEXT;
        END;

        IF v_err = 'retry' THEN
            v_retries := v_retries + 1;
            IF v_retries <= 5 THEN
                v_size := greatest(least(v_min, v_size), v_size / 2);
                IF NOT v_quiet THEN
                    RAISE NOTICE 'backfill run %: % (%), batch retried with size % (attempt %)',
                        v_id, v_msg, v_state, v_size, v_retries;
                END IF;
                PERFORM pg_sleep(0.2 * v_retries);
                CONTINUE;
            END IF;
            v_err := 'fail';
            v_msg := format('%s (after %s attempts)', v_msg, v_retries);
        END IF;
        IF v_err = 'cancel' THEN
            PERFORM backfill_snapshots_stopped(v_id, 'canceled: ' || v_msg, 'paused');
            COMMIT;
            RAISE EXCEPTION '%', v_msg
                USING ERRCODE = 'query_canceled',
                      DETAIL = format('backfill run %s is paused at its last committed batch (or goes on in its other workers).', v_id),
                      HINT = 'CALL backfill_snapshots() again to resume it.';
        END IF;
        IF v_err = 'fail' THEN
            PERFORM backfill_snapshots_stopped(
                v_id,
                format('%s: %s%s', v_state, v_msg,
                       CASE WHEN v_detail IS NOT NULL AND v_detail <> '' THEN ' (' || v_detail || ')' ELSE '' END),
                'failed');
            COMMIT;
            RAISE EXCEPTION 'backfill run % failed: %', v_id, v_msg
                USING ERRCODE = v_state,
                      DETAIL = COALESCE(v_detail, v_context, ''),
                      HINT = 'The run is marked failed at its last committed batch (unless other workers go on with it); fix the cause and CALL backfill_snapshots() again to resume it (or restart => true).';
        END IF;
        v_retries := 0;
        COMMIT;

        EXIT WHEN v_stop IS NOT NULL OR v_phase = 'done';

        -- throttled: back off (0.5 s doubling, at most 30 s) and look again; else the pause
        v_sleep := CASE WHEN v_thr IS NOT NULL THEN least(30.0, 0.5 * power(2, least(v_thr_n, 6)))
                        WHEN v_pause > 0 AND v_b_last IS NOT NULL THEN v_pause / 1000.0 END;
        IF v_thr IS NOT NULL THEN
            v_thr_n := v_thr_n + 1;
            v_chk_due := NULL;
        END IF;
        IF v_sleep IS NOT NULL THEN
            BEGIN
                PERFORM pg_sleep(v_sleep);
            EXCEPTION WHEN query_canceled THEN
                PERFORM backfill_snapshots_stopped(v_id,
                    CASE WHEN v_thr IS NOT NULL THEN 'canceled while throttled' ELSE 'canceled during pause' END, 'paused');
                COMMIT;
                RAISE EXCEPTION 'canceling statement due to user request'
                    USING ERRCODE = 'query_canceled',
                          DETAIL = format('backfill run %s is paused at its last committed batch (or goes on in its other workers).', v_id),
                          HINT = 'CALL backfill_snapshots() again to resume it.';
            END;
        END IF;
    END LOOP;

    ---------------------------------------------------------------- the end
    IF v_phase = 'done' THEN
        PERFORM backfill_worker_leave(v_id);
        UPDATE backfill_runs r
        SET status = 'completed', phase = 'done', finished_at = clock_timestamp(),
            backend_pid = NULL, updated_at = clock_timestamp()
        WHERE r.run_id = v_id;
        COMMIT;
        BEGIN
            SELECT c.reltuples INTO v_reltuples FROM pg_class c WHERE c.oid = 'session_summaries'::regclass;
            IF NOT v_dry AND v_analyze
               AND (v_reltuples IS NULL OR v_reltuples < 0
                    OR (SELECT r.rows_filled FROM backfill_runs r WHERE r.run_id = v_id) >= 0.1 * v_reltuples) THEN
                ANALYZE session_summaries;
            END IF;
            SELECT * INTO v_run FROM backfill_runs r WHERE r.run_id = v_id;
            IF NOT v_quiet THEN
                RAISE NOTICE 'backfill run %: %completed in % s: % sessions examined, % filled, % unchanged, % rejected, % with a valid IP missing from ip_inventory (source_ip left NULL), % deferred rows resolved by other writers',
                    v_id, CASE WHEN v_dry THEN 'DRY RUN ' ELSE '' END, round((v_run.elapsed_ms / 1000)::numeric, 1),
                    v_run.rows_scanned, v_run.rows_filled, v_run.rows_unchanged, v_run.rows_rejected,
                    v_run.rows_no_inventory, v_run.rows_resolved_elsewhere;
                RAISE NOTICE 'backfill run %: cells %: source_ip %, snapshot_asn % (json %, history %, inventory %), snapshot_country % (json %, inventory %, default XX %), snapshot_ip_type % (json %, inventory %), enrichment_at % (json %, session created_at %, inventory %); % sessions named more than one source IP (the first was used)',
                    v_id, CASE WHEN v_dry THEN 'that would be filled' ELSE 'filled' END,
                    v_run.filled_source_ip, v_run.filled_snapshot_asn, v_run.asn_from_json,
                    v_run.asn_from_history, v_run.asn_from_inventory, v_run.filled_snapshot_country,
                    v_run.country_from_json, v_run.country_from_inventory, v_run.country_default,
                    v_run.filled_snapshot_ip_type, v_run.ip_type_from_json, v_run.ip_type_from_inventory,
                    v_run.filled_enrichment_at, v_run.enrichment_at_from_json, v_run.enrichment_at_from_session,
                    v_run.enrichment_at_from_inventory, v_run.rows_multi_ip;
                IF v_run.rows_rejected > 0 THEN
                    SELECT string_agg(format('%s %s', x.reason, x.n), ', ' ORDER BY x.n DESC) INTO v_line
                    FROM (SELECT j.reason, count(*) AS n FROM backfill_rejects j WHERE j.run_id = v_id GROUP BY j.reason) x;
                    RAISE NOTICE 'backfill run %: rejects by reason: % (SELECT * FROM backfill_rejects WHERE run_id = %)',
                        v_id, v_line, v_id;
                END IF;
                IF v_dry THEN
                    FOR v_p IN SELECT e FROM jsonb_array_elements(v_run.sample) AS a(e) LIMIT 5 LOOP
                        RAISE NOTICE 'backfill run % sample: %', v_id, v_p.e;
                    END LOOP;
                    RAISE NOTICE 'backfill run %: full sample in SELECT sample FROM backfill_runs WHERE run_id = %', v_id, v_id;
                ELSE
                    FOR v_p IN SELECT x.statement FROM snapshot_index_statements() x ORDER BY x.seq LOOP
                        RAISE NOTICE 'backfill: index still needed, run outside a transaction: %;', v_p.statement;
                    END LOOP;
                END IF;
            END IF;
        END;
        status := 'completed';
    ELSE
        SELECT r.rows_deferred INTO v_est FROM backfill_runs r WHERE r.run_id = v_id;
        v_live := backfill_snapshots_stopped(
            v_id,
            CASE WHEN v_stop = 'locked'
                 THEN format('%s rows still locked by other transactions after %s sweep passes', v_est, v_passes) END,
            'paused');
        COMMIT;
        status := 'paused';
        IF v_stop = 'locked' THEN
            RAISE WARNING 'backfill run %: % rows are still locked by other transactions after % sweep passes; the run is paused: CALL backfill_snapshots() again to retry them (SELECT * FROM backfill_deferred WHERE run_id = %)',
                v_id, v_est, v_passes, v_id;
        ELSIF v_stop = 'others' AND v_live > 0 THEN
            IF NOT v_quiet THEN
                RAISE NOTICE 'backfill run %: nothing left for this worker after % batches; % other worker% go on with the run',
                    v_id, v_done_call, v_live, CASE WHEN v_live = 1 THEN '' ELSE 's' END;
            END IF;
            status := 'running';
        ELSIF NOT v_quiet THEN
            RAISE NOTICE 'backfill run %: paused after % batches (%); CALL backfill_snapshots() again to resume it',
                v_id, v_done_call, CASE WHEN v_stop = 'max_batches' THEN 'max_batches' ELSE 'no range left to claim now' END;
        END IF;
    END IF;
    run_id := v_id;
END
$proc$;
