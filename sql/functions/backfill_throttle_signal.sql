-- backfill_throttle_signal(replica_lag_ms, replica_lag_bytes, wal_bytes_per_sec, xmin_age_ms,
--                          on_vacuum, wal_from, wal_from_at)
--   -> exactly one row: signal, reason, wal_lsn, checked_at, unmeasured
--
-- Is the database healthy enough for the backfill to write its next batches? The backfill
-- calls this about once a second; when `signal` is not NULL its workers sleep (with back-off)
-- and check again. Each threshold NULL (p_on_vacuum false) turns that signal off:
--   replica_lag   a standby connected to this server (pg_stat_replication, physical only:
--                 walsenders of logical slots are skipped) replays more than p_replica_lag_ms
--                 behind (replay_lag) or has more than p_replica_lag_bytes of WAL not replayed
--                 yet (pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)). replay_lag keeps
--                 growing while a connected standby does not replay (it is updated at each
--                 standby reply, every wal_receiver_status_interval: 10 s by default) and is
--                 NULL once the standby has caught up with an idle primary. A standby that
--                 is not connected is not seen (the WAL its slot retains is bounded by
--                 max_slot_wal_keep_size, not by this function).
--   wal_rate      WAL written since the previous check (p_wal_from at p_wal_from_at, this
--                 function's own wal_lsn and checked_at of last time) faster than
--                 p_wal_bytes_per_sec on average; the first check (NULL) has no rate yet.
--   xmin_horizon  a transaction in this database, other than the caller's, started more than
--                 p_xmin_age_ms ago and holds a snapshot (backend_xmin) or an xid: a client
--                 backend in pg_stat_activity (backends running backfill_snapshots or
--                 undo_backfill, the other workers of the same run, are skipped), or a
--                 prepared transaction (pg_prepared_xacts, aged from its PREPARE). While
--                 one is open, VACUUM cannot remove the row versions the backfill replaces,
--                 so every further batch only grows session_summaries and its indexes.
--                 Replication slots' xmin / catalog_xmin (and a walsender's xmin from
--                 hot_standby_feedback) do NOT count: the server records no time for them,
--                 so they cannot be compared with p_xmin_age_ms (an age in xids would grow
--                 with the backfill's own commits); catalog_xmin holds back only catalog
--                 rows, never session_summaries; and an abandoned slot would stall the run
--                 for good instead of pausing it. Watch pg_replication_slots separately.
--   vacuum        p_on_vacuum and a VACUUM, autovacuum or manual, is working on
--                 session_summaries or its TOAST table (pg_stat_progress_vacuum): the
--                 backfill makes room for it instead of competing, and the vacuum clears
--                 the row versions the backfill has replaced so far.
-- When several fire, `signal` is the first of replica_lag, wal_rate, xmin_horizon, vacuum
-- and `reason` one line with the measured value and the limit. `wal_lsn` (the current WAL
-- position; the replay position on a standby) and `checked_at` (clock_timestamp()) are the
-- next call's p_wal_from / p_wal_from_at. `unmeasured` names the signals that are on but
-- could not be read for lack of privilege (the details of other roles' sessions are hidden,
-- or a function's EXECUTE was revoked); the call never fails for that.
-- Privileges: nothing to read pg_prepared_xacts, pg_current_wal_lsn() (wal_rate) and the
-- caller's own role's sessions. To see other roles' sessions, standbys and autovacuum
-- workers: pg_read_all_stats (granted by pg_monitor) or superuser. Without it the
-- replica_lag, xmin_horizon and vacuum signals report `unmeasured` whenever something
-- hidden is there (a standby, another role's transaction holding an xmin, a vacuum in this
-- database).
-- Defaults for the thresholds, and where they come from: backfill_throttle_defaults().
-- Cost: reads of pg_stat_replication, pg_replication_slots, pg_stat_activity,
-- pg_prepared_xacts, pg_stat_progress_vacuum (shared memory, no table scans). It first
-- calls pg_stat_clear_snapshot(): the backend-status views are otherwise frozen for the
-- rest of the caller's transaction, and a caller that sleeps and checks again inside one
-- transaction would see the same stale picture for ever.
-- Locks: none on session_summaries or any user table; only the ACCESS SHARE any SELECT
-- takes on the system views it reads. It waits for no lock.
CREATE OR REPLACE FUNCTION backfill_throttle_signal(
    p_replica_lag_ms     integer,
    p_replica_lag_bytes  bigint,
    p_wal_bytes_per_sec  bigint,
    p_xmin_age_ms        integer,
    p_on_vacuum          boolean,
    p_wal_from           pg_lsn,
    p_wal_from_at        timestamptz)
RETURNS TABLE (signal text, reason text, wal_lsn pg_lsn, checked_at timestamptz, unmeasured text[])
LANGUAGE plpgsql
VOLATILE
AS $fn$
DECLARE
    v_fired   text[] := '{}';
    v_reasons text[] := '{}';
    v_reason  text;
    v_hidden  boolean;
    v_elapsed double precision;
    v_rate    numeric;
    v_table   regclass;
    v_name    text;
    bad       record;
BEGIN
    FOR bad IN
        SELECT t.name, t.value
        FROM (VALUES ('p_replica_lag_ms', p_replica_lag_ms::numeric),
                     ('p_replica_lag_bytes', p_replica_lag_bytes::numeric),
                     ('p_wal_bytes_per_sec', p_wal_bytes_per_sec::numeric),
                     ('p_xmin_age_ms', p_xmin_age_ms::numeric)) AS t(name, value)
        WHERE t.value < 0
    LOOP
        RAISE EXCEPTION 'backfill_throttle_signal: % must be NULL (off) or >= 0 (got %)', bad.name, bad.value
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A threshold is a limit the database may reach before the backfill pauses; NULL turns that signal off.',
                  HINT = 'The defaults and what they mean: SELECT * FROM backfill_throttle_defaults();';
    END LOOP;
    IF p_on_vacuum IS NULL THEN
        RAISE EXCEPTION 'backfill_throttle_signal: p_on_vacuum must be true or false (got NULL)'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'true pauses the backfill while a VACUUM works on session_summaries.',
                  HINT = 'Pass false to turn the vacuum signal off.';
    END IF;
    IF (p_wal_from IS NULL) <> (p_wal_from_at IS NULL) THEN
        RAISE EXCEPTION 'backfill_throttle_signal: p_wal_from and p_wal_from_at go together (got % and %)',
            coalesce(p_wal_from::text, 'NULL'), coalesce(p_wal_from_at::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The WAL rate is measured from the previous check''s position and time.',
                  HINT = 'Pass both from the previous call''s wal_lsn and checked_at, or both NULL on the first check.';
    END IF;

    PERFORM pg_stat_clear_snapshot();
    unmeasured := '{}';
    checked_at := clock_timestamp();
    BEGIN
        wal_lsn := CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END;
    EXCEPTION WHEN insufficient_privilege THEN
        wal_lsn := NULL;
    END;
    v_table := to_regclass('session_summaries');

    -- Every signal that is on is read (so that `unmeasured` is complete); the first that
    -- fires, in this order, is the one reported.
    FOREACH v_name IN ARRAY ARRAY['replica_lag', 'wal_rate', 'xmin_horizon', 'vacuum'] LOOP
        CONTINUE WHEN NOT CASE v_name
            WHEN 'replica_lag' THEN p_replica_lag_ms IS NOT NULL OR p_replica_lag_bytes IS NOT NULL
            WHEN 'wal_rate' THEN p_wal_bytes_per_sec IS NOT NULL
            WHEN 'xmin_horizon' THEN p_xmin_age_ms IS NOT NULL
            ELSE p_on_vacuum AND v_table IS NOT NULL END;
        v_reason := NULL;
        v_hidden := false;
        BEGIN
            CASE v_name
            WHEN 'replica_lag' THEN
                WITH standby AS (
                    SELECT s.application_name, s.client_addr, s.state, s.replay_lag,
                           pg_wal_lsn_diff(wal_lsn, s.replay_lsn) AS behind
                    FROM pg_stat_replication s
                    WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots l
                                      WHERE l.active_pid = s.pid AND l.slot_type = 'logical')
                ), lagging AS (
                    SELECT format('standby %L (%s) replays %s s behind (limit %s s)',
                                  st.application_name, coalesce(host(st.client_addr), 'local socket'),
                                  round(extract(epoch FROM st.replay_lag)::numeric, 1),
                                  trim_scale(p_replica_lag_ms / 1000.0)) AS line,
                           1 AS kind, extract(epoch FROM st.replay_lag)::numeric AS amount
                    FROM standby st
                    WHERE st.replay_lag > p_replica_lag_ms * interval '1 millisecond'
                    UNION ALL
                    SELECT format('standby %L (%s) has %s of WAL not replayed yet (limit %s)',
                                  st.application_name, coalesce(host(st.client_addr), 'local socket'),
                                  pg_size_pretty(st.behind), pg_size_pretty(p_replica_lag_bytes)),
                           2, st.behind
                    FROM standby st
                    WHERE st.behind > p_replica_lag_bytes
                )
                SELECT (SELECT o.line FROM lagging o ORDER BY o.kind, o.amount DESC LIMIT 1),
                       -- a walsender's details are hidden without pg_read_all_stats; a visible
                       -- one always has a state
                       coalesce(bool_or(st.state IS NULL), false)
                           OR (p_replica_lag_bytes IS NOT NULL AND wal_lsn IS NULL AND count(*) > 0)
                  INTO v_reason, v_hidden
                  FROM standby st;
            WHEN 'wal_rate' THEN
                v_elapsed := extract(epoch FROM checked_at - p_wal_from_at);
                v_hidden := wal_lsn IS NULL;
                IF NOT v_hidden AND v_elapsed > 0 THEN
                    v_rate := pg_wal_lsn_diff(wal_lsn, p_wal_from) / v_elapsed::numeric;
                    IF v_rate > p_wal_bytes_per_sec THEN
                        v_reason := format('WAL written at %s/s over the last %s s (limit %s/s)',
                            pg_size_pretty(round(v_rate)), round(v_elapsed::numeric, 1),
                            pg_size_pretty(p_wal_bytes_per_sec));
                    END IF;
                END IF;
            WHEN 'xmin_horizon' THEN
                WITH holder AS (
                    SELECT format('transaction of pid %s (user %L, application %L, %s) has been open for %s s '
                                  'and holds back the xmin horizon (limit %s s)',
                                  a.pid, a.usename, a.application_name, a.state,
                                  round(extract(epoch FROM checked_at - a.xact_start)::numeric, 1),
                                  trim_scale(p_xmin_age_ms / 1000.0)) AS line,
                           a.xact_start AS since
                    FROM pg_stat_activity a
                    WHERE a.datname = current_database()
                      AND a.backend_type = 'client backend'
                      AND a.pid <> pg_backend_pid()
                      AND (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL)
                      AND a.xact_start < checked_at - p_xmin_age_ms * interval '1 millisecond'
                      AND NOT (a.state = 'active' AND a.query ~* '(backfill_snapshots|undo_backfill)')
                    UNION ALL
                    SELECT format('prepared transaction %L (owner %L) was prepared %s s ago '
                                  'and holds back the xmin horizon (limit %s s)',
                                  x.gid, x.owner, round(extract(epoch FROM checked_at - x.prepared)::numeric, 1),
                                  trim_scale(p_xmin_age_ms / 1000.0)),
                           x.prepared
                    FROM pg_prepared_xacts x
                    WHERE x.database = current_database()
                      AND x.prepared < checked_at - p_xmin_age_ms * interval '1 millisecond'
                )
                SELECT (SELECT h.line FROM holder h ORDER BY h.since LIMIT 1),
                       -- other roles' sessions show their xmin but hide their type and start
                       EXISTS (SELECT 1 FROM pg_stat_activity a
                               WHERE a.datname = current_database() AND a.backend_type IS NULL
                                 AND (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL))
                  INTO v_reason, v_hidden;
            WHEN 'vacuum' THEN
                SELECT (SELECT format('%s is working on session_summaries%s (pid %s, phase %L, %s%% of the heap scanned)',
                                      CASE WHEN a.backend_type = 'autovacuum worker' THEN 'autovacuum'
                                           ELSE 'a VACUUM' END
                                      || CASE WHEN a.query LIKE '%(to prevent wraparound)%'
                                              THEN ' (to prevent wraparound)' ELSE '' END,
                                      CASE WHEN p.relid = v_table THEN '' ELSE ' (its TOAST table)' END,
                                      p.pid, p.phase,
                                      CASE WHEN p.heap_blks_total > 0
                                           THEN round(100.0 * p.heap_blks_scanned / p.heap_blks_total)
                                           ELSE 0 END)
                        FROM pg_stat_progress_vacuum p
                        LEFT JOIN pg_stat_activity a ON a.pid = p.pid
                        WHERE p.datname = current_database()
                          AND p.relid IN (v_table, (SELECT c.reltoastrelid FROM pg_class c WHERE c.oid = v_table))
                        ORDER BY p.relid = v_table DESC, p.pid
                        LIMIT 1),
                       -- another role's vacuum (autovacuum included) shows its database, not its table
                       EXISTS (SELECT 1 FROM pg_stat_progress_vacuum p
                               WHERE p.datname = current_database() AND p.relid IS NULL)
                  INTO v_reason, v_hidden;
            END CASE;
        EXCEPTION WHEN insufficient_privilege THEN
            v_hidden := true;
        END;
        IF v_reason IS NOT NULL THEN
            v_fired := v_fired || v_name;
            v_reasons := v_reasons || v_reason;
        END IF;
        IF v_hidden THEN unmeasured := unmeasured || v_name; END IF;
    END LOOP;

    signal := v_fired[1];
    reason := v_reasons[1];
    RETURN NEXT;
END
$fn$;
