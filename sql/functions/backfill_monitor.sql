-- backfill_monitor(warning_pct, critical_pct, pending_warning, pending_critical,
--                  run_warning, since, record_check)
--   -> one row: state, exit_code, reasons, the figures below
--
-- The post-backfill health of the snapshot columns, for psql users and for
-- `cowrie-db monitor` (which only formats this row: the figures and the state are
-- decided here, one source of truth):
--   SELECT state, reasons, coverage_pct, sessions_pending FROM backfill_monitor();
-- Figures:
--   sessions_total, sessions_with_snapshot, coverage_pct   coverage as the runbooks
--       count it (with a snapshot = snapshot_country IS NOT NULL; validate_coverage's
--       "filled" + "filled_no_inventory")
--   sessions_without_snapshot, oldest_without_snapshot_at  the sessions with a NULL
--       snapshot_country and the created_at of the oldest of them (rejects and sessions
--       whose IP nobody enriched stay here for good: informative, not alerted on)
--   sessions_open                sessions with any NULL snapshot column
--   sessions_pending, oldest_pending_at, oldest_pending_age_s   open sessions that no
--       run has decided in their current version (not in backfill_settled as they are
--       now, or settled before their IP's ip_inventory row appeared or changed, or by
--       another rule version): what the next run will look at. An old one means new
--       sessions are not getting snapshots (the schedule does not run, or fails)
--   last_run_*                   the latest real run: id, status (backfill_progress's:
--       'interrupted' for a run whose backend is gone), when it last changed, its
--       age in seconds, its error; last_completed_at / _age_s: the latest completed one
--   rejects_since, rejects_total, rejects_by_reason   rejects recorded by real runs
--       after `since` (default: the last check recorded with record_check => true;
--       none recorded: all), as {"reason": count}
-- State (exit_code in the monitoring-plugin convention), the worst that applies:
--   CRITICAL (2)  coverage_pct < critical_pct; oldest pending older than pending_critical
--   WARNING (1)   coverage_pct < warning_pct; oldest pending older than pending_warning;
--                 the latest real run failed; no completed real run, or the latest is
--                 older than run_warning (NULL: not checked)
--   UNKNOWN (3)   session_summaries is empty (no coverage to speak of)
--   OK (0)        none of these
-- reasons lists each condition that applies, in words. Defaults are the runbooks'
-- (warning below 95%, critical below 90%).
-- record_check => true stores this check (now(), state) in backfill_monitor_checks:
-- the next call's default `since` (checks older than 90 days are deleted).
-- Cost: a count of session_summaries and reads of the open sessions only (partial index
-- ix_session_summaries_snapshot_open, backfill_settled, ip_inventory).
-- Locks: ACCESS SHARE on the tables it reads; with record_check, ROW EXCLUSIVE on
--   backfill_monitor_checks.
CREATE OR REPLACE FUNCTION backfill_monitor(
    warning_pct      numeric     DEFAULT 95,
    critical_pct     numeric     DEFAULT 90,
    pending_warning  interval    DEFAULT '1 hour',
    pending_critical interval    DEFAULT '6 hours',
    run_warning      interval    DEFAULT '1 day',
    since            timestamptz DEFAULT NULL,
    record_check     boolean     DEFAULT false)
RETURNS TABLE (
    state                      text,
    exit_code                  integer,
    reasons                    text[],
    checked_at                 timestamptz,
    sessions_total             bigint,
    sessions_with_snapshot     bigint,
    coverage_pct               numeric,
    sessions_without_snapshot  bigint,
    oldest_without_snapshot_at timestamptz,
    sessions_open              bigint,
    sessions_pending           bigint,
    oldest_pending_at          timestamptz,
    oldest_pending_age_s       double precision,
    last_run_id                bigint,
    last_run_status            text,
    last_run_at                timestamptz,
    last_run_age_s             double precision,
    last_run_error             text,
    last_completed_at          timestamptz,
    last_completed_age_s       double precision,
    rejects_since              timestamptz,
    rejects_total              bigint,
    rejects_by_reason          jsonb)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_now   timestamptz := now();
    v_rule  text := backfill_rule_version();
    v_since timestamptz := backfill_monitor.since;
    v_r     text[] := ARRAY[]::text[];
    v_level integer := 0;   -- 0 OK, 1 WARNING, 2 CRITICAL (UNKNOWN decided apart)
    v_run   record;
BEGIN
    IF warning_pct IS NULL OR critical_pct IS NULL
       OR NOT (0 <= critical_pct AND critical_pct <= warning_pct AND warning_pct <= 100) THEN
        RAISE EXCEPTION 'backfill_monitor: need 0 <= critical_pct <= warning_pct <= 100 (got critical % and warning %)',
            critical_pct, warning_pct
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The state is CRITICAL below critical_pct and WARNING below warning_pct.',
                  HINT = 'The runbooks'' defaults: warning_pct => 95, critical_pct => 90.';
    END IF;
    IF pending_warning IS NULL OR pending_critical IS NULL OR pending_warning < interval '0'
       OR pending_critical < pending_warning THEN
        RAISE EXCEPTION 'backfill_monitor: need 0 <= pending_warning <= pending_critical (got % and %)',
            pending_warning, pending_critical
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'They bound the age of the oldest session no run has looked at yet.',
                  HINT = 'For example pending_warning => ''1 hour'', pending_critical => ''6 hours''.';
    END IF;

    checked_at := v_now;
    SELECT count(*) INTO sessions_total FROM session_summaries;
    SELECT count(*), min(s.created_at) INTO sessions_without_snapshot, oldest_without_snapshot_at
    FROM session_summaries s WHERE s.snapshot_country IS NULL;
    sessions_with_snapshot := sessions_total - sessions_without_snapshot;
    coverage_pct := round(100.0 * sessions_with_snapshot / nullif(sessions_total, 0), 2);

    SELECT count(*),
           count(*) FILTER (WHERE st.session_id IS NULL OR st.rule_version <> v_rule
                                  OR (st.ip IS NOT NULL AND i.ip_address IS NOT NULL
                                      AND (st.inv_xmin IS NULL OR st.inv_xmin <> i.xmin))),
           min(o.created_at) FILTER (WHERE st.session_id IS NULL OR st.rule_version <> v_rule
                                  OR (st.ip IS NOT NULL AND i.ip_address IS NOT NULL
                                      AND (st.inv_xmin IS NULL OR st.inv_xmin <> i.xmin)))
    INTO sessions_open, sessions_pending, oldest_pending_at
    FROM session_summaries o
    LEFT JOIN backfill_settled st
           ON st.session_id = o.session_id AND st.row_tid = o.ctid AND st.row_xmin = o.xmin
    LEFT JOIN ip_inventory i ON i.ip_address = st.ip
    WHERE o.source_ip IS NULL OR o.snapshot_asn IS NULL OR o.snapshot_country IS NULL
       OR o.snapshot_ip_type IS NULL OR o.enrichment_at IS NULL;
    oldest_pending_age_s := extract(epoch FROM v_now - oldest_pending_at);

    SELECT p.run_id, p.status, r.updated_at, r.last_error INTO v_run
    FROM backfill_progress p JOIN backfill_runs r ON r.run_id = p.run_id
    WHERE NOT p.dry_run ORDER BY p.run_id DESC LIMIT 1;
    last_run_id := v_run.run_id;
    last_run_status := v_run.status;
    last_run_at := v_run.updated_at;
    last_run_age_s := extract(epoch FROM v_now - v_run.updated_at);
    last_run_error := v_run.last_error;
    SELECT max(r.finished_at) INTO last_completed_at
    FROM backfill_runs r WHERE NOT r.dry_run AND r.status = 'completed';
    last_completed_age_s := extract(epoch FROM v_now - last_completed_at);

    IF v_since IS NULL THEN
        SELECT max(c.checked_at) INTO v_since FROM backfill_monitor_checks c;
    END IF;
    rejects_since := v_since;
    SELECT COALESCE(sum(x.n), 0), COALESCE(jsonb_object_agg(x.reason, x.n), '{}'::jsonb)
    INTO rejects_total, rejects_by_reason
    FROM (SELECT j.reason, count(*) AS n
          FROM backfill_rejects j JOIN backfill_runs r ON r.run_id = j.run_id AND NOT r.dry_run
          WHERE v_since IS NULL OR j.rejected_at > v_since
          GROUP BY j.reason) x;

    -- the state
    IF coverage_pct < critical_pct THEN
        v_level := greatest(v_level, 2);
        v_r := v_r || format('coverage %s%% is below the critical threshold %s%%', coverage_pct, critical_pct);
    ELSIF coverage_pct < warning_pct THEN
        v_level := greatest(v_level, 1);
        v_r := v_r || format('coverage %s%% is below the warning threshold %s%%', coverage_pct, warning_pct);
    END IF;
    IF oldest_pending_at IS NOT NULL AND v_now - oldest_pending_at > pending_critical THEN
        v_level := greatest(v_level, 2);
        v_r := v_r || format('%s sessions wait for a backfill run, the oldest since %s (more than %s): new sessions are not getting snapshots',
                             sessions_pending, oldest_pending_at, pending_critical);
    ELSIF oldest_pending_at IS NOT NULL AND v_now - oldest_pending_at > pending_warning THEN
        v_level := greatest(v_level, 1);
        v_r := v_r || format('%s sessions wait for a backfill run, the oldest since %s (more than %s)',
                             sessions_pending, oldest_pending_at, pending_warning);
    END IF;
    IF last_run_status = 'failed' THEN
        v_level := greatest(v_level, 1);
        v_r := v_r || format('the last backfill run (%s) failed: %s', last_run_id, COALESCE(last_run_error, '?'));
    END IF;
    IF run_warning IS NOT NULL AND sessions_total > 0 THEN
        IF last_completed_at IS NULL THEN
            v_level := greatest(v_level, 1);
            v_r := v_r || 'no backfill run has completed yet'::text;
        ELSIF v_now - last_completed_at > run_warning THEN
            v_level := greatest(v_level, 1);
            v_r := v_r || format('the last completed backfill run finished at %s (more than %s ago)',
                                 last_completed_at, run_warning);
        END IF;
    END IF;

    IF sessions_total = 0 THEN
        state := 'UNKNOWN';
        exit_code := 3;
        v_r := ARRAY['session_summaries is empty: no coverage to measure']::text[] || v_r;
    ELSE
        state := (ARRAY['OK', 'WARNING', 'CRITICAL'])[v_level + 1];
        exit_code := v_level;
    END IF;
    reasons := v_r;

    IF COALESCE(record_check, false) THEN
        INSERT INTO backfill_monitor_checks AS c (checked_at, state) VALUES (v_now, state)
        ON CONFLICT ON CONSTRAINT backfill_monitor_checks_pkey DO UPDATE SET state = EXCLUDED.state;
        DELETE FROM backfill_monitor_checks c WHERE c.checked_at < v_now - interval '90 days';
    END IF;
    RETURN NEXT;
END
$fn$;
