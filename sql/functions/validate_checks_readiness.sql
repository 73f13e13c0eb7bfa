-- validate_checks_readiness(settings, context) -> SETOF jsonb: before a backfill, what it
-- would do (validate_check_row rows):
--   readiness.pending             INFO     sessions without snapshots, and what the
--                                          backfill would do with them
--   readiness.inventory_coverage  WARNING  of the sessions waiting with a derivable IP,
--                                          the % whose IP is in ip_inventory >=
--                                          thresholds.inventoryCoverage (95)
--   readiness.estimate            INFO     validate_backfill_estimate(readiness.sampleSize,
--                                          accuracy.seed): the rule timed on a sample,
--                                          extrapolated; with the rows/s of the last real
--                                          run when there is one. Never a failure.
-- The coverage figures come from context's coverage.snapshots (validate_coverage_figures).
-- Blocked (skipped) by a CRITICAL schema drift in context. Nothing is written (the
-- engine's dry run records a run, so it is not called).
-- Locks: ACCESS SHARE on session_summaries, ip_inventory, ip_asn_history, backfill_runs,
-- backfill_batches.
CREATE OR REPLACE FUNCTION validate_checks_readiness(p_settings jsonb DEFAULT '{}', p_context jsonb DEFAULT '{}')
RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    s        jsonb := validate_settings(p_settings);
    v_min    numeric := (s #>> '{thresholds,inventoryCoverage}')::numeric;
    v_thr    text := '>= ' || (s #>> '{thresholds,inventoryCoverage}') || '%';
    v_batch  integer := (s #>> '{readiness,batchSize}')::integer;
    v_size   integer := (s #>> '{readiness,sampleSize}')::integer;
    v_seed   bigint := (s #>> '{accuracy,seed}')::bigint;
    v_block  text := validate_context_check(p_context, 'schema.drift') #>> '{details,blockedBy}';
    v_t0     timestamptz := clock_timestamp();
    v_miss   text;
    c        jsonb;
    v_why    text;
    v_pend   bigint;
    v_noinv  bigint;
    v_rej    bigint;
    v_nosrc  bigint;
    v_der    bigint;
    v_p      numeric;
    e        record;
    v_rate   numeric;
    v_rrun   bigint;
    v_secs   numeric;
    v_sam    integer;
    v_state  text;
    v_msg    text;
    c_inv    constant text := 'ip_inventory coverage of the sessions to fill';
BEGIN
    IF v_block IS NOT NULL THEN
        v_why := 'skipped: ' || v_block;
    ELSIF validate_missing_functions(ARRAY['validate_coverage()', 'backfill_snapshot_source(json,timestamptz,timestamptz)']) IS NOT NULL THEN
        v_why := 'skipped: coverage could not be measured';
    ELSE
        BEGIN
            c := validate_coverage_figures(p_context);
        EXCEPTION WHEN OTHERS THEN
            v_why := 'skipped: coverage could not be measured';
        END;
    END IF;
    IF v_why IS NOT NULL THEN
        RETURN NEXT validate_check_row('readiness.pending', 'Sessions needing a backfill', 'INFO', 'skip', v_why);
        RETURN NEXT validate_check_row('readiness.inventory_coverage', c_inv, 'WARNING', 'skip', v_why, NULL, NULL, v_thr);
    ELSE
        v_pend := (c ->> 'pending')::bigint;
        v_noinv := (c ->> 'noInventoryMatch')::bigint;
        v_rej := (c #>> '{rejected,total}')::bigint;
        v_nosrc := (c #>> '{noSourceIp,total}')::bigint;
        RETURN NEXT validate_check_row('readiness.pending', 'Sessions needing a backfill', 'INFO', 'pass',
            format('%s session(s) without snapshots: the backfill would fill %s with source_ip, %s only from their JSON (IP not in ip_inventory), and leave %s (rejected or no source IP)',
                   validate_format_count(v_pend + v_noinv + v_rej + v_nosrc), validate_format_count(v_pend), validate_format_count(v_noinv),
                   validate_format_count(v_rej + v_nosrc)),
            to_jsonb(v_pend + v_noinv + v_rej + v_nosrc), validate_format_count(v_pend + v_noinv + v_rej + v_nosrc), NULL,
            jsonb_build_object('withoutSnapshots', v_pend + v_noinv + v_rej + v_nosrc, 'wouldFill', v_pend, 'noInventoryMatch', v_noinv,
                               'rejected', v_rej, 'noSourceIp', v_nosrc));
        v_der := v_pend + v_noinv;
        IF v_der = 0 THEN
            RETURN NEXT validate_check_row('readiness.inventory_coverage', c_inv, 'WARNING', 'pass',
                'no session with a derivable source IP is waiting for a backfill', NULL, NULL, v_thr);
        ELSE
            v_p := 100.0 * v_pend / v_der;
            RETURN NEXT validate_check_row('readiness.inventory_coverage', c_inv, 'WARNING',
                CASE WHEN v_p >= v_min THEN 'pass' ELSE 'fail' END,
                format('%s of %s sessions waiting with a derivable IP have it in ip_inventory%s', validate_format_count(v_pend), validate_format_count(v_der),
                       CASE WHEN v_p >= v_min THEN '' ELSE ': enrich the inventory first, or their snapshots will have no source_ip' END),
                to_jsonb(round(v_p, 2)), validate_format_pct(v_p), v_thr);
        END IF;
    END IF;

    ------------------------------------------------------------ readiness.estimate
    v_t0 := clock_timestamp();
    v_miss := validate_missing_functions(ARRAY['validate_backfill_estimate(integer,bigint)', 'backfill_snapshot_source(json,timestamptz,timestamptz)']);
    IF v_block IS NOT NULL THEN
        RETURN NEXT validate_check_row('readiness.estimate', 'Dry-run estimate (computed, nothing written)', 'INFO', 'skip', 'skipped: ' || v_block);
        RETURN;
    ELSIF v_miss IS NOT NULL THEN
        RETURN NEXT validate_check_row('readiness.estimate', 'Dry-run estimate (computed, nothing written)', 'INFO', 'error', v_miss);
        RETURN;
    END IF;
    BEGIN
        EXECUTE 'SELECT * FROM validate_backfill_estimate($1, $2)' INTO e USING v_size, v_seed;
        IF e.pending_sessions IS NULL THEN
            RAISE EXCEPTION 'validate_backfill_estimate returned no row' USING ERRCODE = 'no_data_found';
        END IF;
        IF to_regclass('backfill_batches') IS NOT NULL THEN
            EXECUTE $q$SELECT b.run_id, sum(b.rows_scanned)::numeric / nullif(sum(b.duration_ms), 0) * 1000
                       FROM backfill_batches b JOIN backfill_runs r ON r.run_id = b.run_id AND NOT r.dry_run
                       WHERE b.run_id = (SELECT max(run_id) FROM backfill_runs WHERE NOT dry_run) GROUP BY b.run_id$q$
            INTO v_rrun, v_rate;
        END IF;
        IF v_rate = 0 THEN v_rate := NULL; END IF;
        v_sam := e.sampled;
        v_secs := CASE WHEN v_rate IS NOT NULL THEN e.pending_sessions / v_rate ELSE COALESCE(e.est_compute_seconds, 0) END;
        RETURN NEXT validate_check_row('readiness.estimate', 'Dry-run estimate (computed, nothing written)', 'INFO', 'pass',
            CASE WHEN e.pending_sessions = 0 THEN 'nothing to backfill'
                 ELSE format('%s session(s) in %s batch(es) of %s; sample of %s: %s would fill, %s without inventory match, %s rejected; computing the values takes ~%s %s',
                        validate_format_count(e.pending_sessions), validate_format_count(ceil(e.pending_sessions::numeric / v_batch)), v_batch,
                        validate_format_count(v_sam),
                        validate_format_pct(CASE WHEN v_sam > 0 THEN 100.0 * e.would_fill / v_sam ELSE 0 END),
                        validate_format_pct(CASE WHEN v_sam > 0 THEN 100.0 * e.no_inventory / v_sam ELSE 0 END),
                        validate_format_pct(CASE WHEN v_sam > 0 THEN 100.0 * (e.rejected + e.no_source_ip) / v_sam ELSE 0 END),
                        validate_format_duration(COALESCE(e.est_compute_seconds, 0)),
                        CASE WHEN v_rate IS NOT NULL
                             THEN format('(at run #%s''s measured %s sessions/s: ~%s with writes)', v_rrun, validate_format_count(v_rate), validate_format_duration(e.pending_sessions / v_rate))
                             ELSE '(writes, WAL and index maintenance come on top)' END) END,
            to_jsonb(e.pending_sessions),
            CASE WHEN e.pending_sessions > 0 THEN '~' || validate_format_duration(v_secs) ELSE 'nothing to do' END,
            NULL,
            jsonb_build_object('pendingSessions', e.pending_sessions, 'batchSize', v_batch, 'batches', ceil(e.pending_sessions::numeric / v_batch),
                'sampled', v_sam, 'wouldFill', e.would_fill, 'noInventory', e.no_inventory, 'rejected', e.rejected, 'noSourceIp', e.no_source_ip,
                'sampleMs', e.sample_ms, 'estComputeSeconds', e.est_compute_seconds,
                'observedRate', CASE WHEN v_rate IS NOT NULL THEN jsonb_build_object('rate', v_rate, 'runId', v_rrun) END,
                'note', 'estimated from a read-only sample; the backfill engine''s own dry run is not called because it records a run row'),
            v_t0);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
        RETURN NEXT validate_check_row('readiness.estimate', 'Dry-run estimate (computed, nothing written)', 'INFO', 'error',
            validate_error_text(v_state, v_msg), NULL, NULL, NULL, NULL, v_t0);
    END;
END
$fn$;
