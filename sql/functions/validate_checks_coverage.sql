-- validate_checks_coverage(settings, context) -> SETOF jsonb: the coverage checks
-- (validate_check_row rows):
--   coverage.snapshots          ERROR    % of sessions with snapshots (snapshot_country IS
--                                        NOT NULL, the runbooks' definition) >=
--                                        thresholds.coverage (95); details: every bucket
--                                        of validate_coverage() with its reasons
--   coverage.enrichment_shapes  WARNING  sessions per enrichment shape
--                                        (validate_enrichment_shapes); fails on unreadable
--                                        JSON (a \u0000 escape)
--   coverage.backfill_runs      WARNING  a real run left unfinished: the run
--                                        backfill_resumable_run(false) names (the one a
--                                        plain `cowrie-db backfill` resumes)
-- Blocked (skipped) by a CRITICAL schema drift in context (schema.drift's blockedBy).
-- Locks: ACCESS SHARE on session_summaries, ip_inventory, ip_asn_history, backfill_runs,
-- backfill_rejects.
CREATE OR REPLACE FUNCTION validate_checks_coverage(p_settings jsonb DEFAULT '{}', p_context jsonb DEFAULT '{}')
RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    s       jsonb := validate_settings(p_settings);
    v_min   numeric := (s #>> '{thresholds,coverage}')::numeric;
    v_thr   text := '>= ' || (s #>> '{thresholds,coverage}') || '%';
    v_block text := validate_context_check(p_context, 'schema.drift') #>> '{details,blockedBy}';
    v_t0    timestamptz;
    v_miss  text;
    c       jsonb;
    v_total bigint;
    v_fill  bigint;
    v_pct   numeric;
    v_rows  jsonb;
    v_list  text;
    v_unr   bigint;
    v_multi bigint;
    v_ex    text[];
    v_open  bigint;
    v_run   record;
    v_runs  jsonb;
    v_rej   jsonb;
    v_state text;
    v_msg   text;
BEGIN
    ------------------------------------------------------------ coverage.snapshots
    v_t0 := clock_timestamp();
    v_miss := validate_missing_functions(ARRAY['validate_coverage()', 'backfill_snapshot_source(json,timestamptz,timestamptz)']);
    IF v_block IS NOT NULL THEN
        RETURN NEXT validate_check_row('coverage.snapshots', 'Snapshot coverage', 'ERROR', 'skip', 'skipped: ' || v_block, NULL, NULL, v_thr);
    ELSIF v_miss IS NOT NULL THEN
        RETURN NEXT validate_check_row('coverage.snapshots', 'Snapshot coverage', 'ERROR', 'error', v_miss, NULL, NULL, v_thr);
    ELSE
        BEGIN
            c := validate_coverage_figures('{}');
            v_total := (c ->> 'total')::bigint;
            v_fill := (c ->> 'filled')::bigint + (c ->> 'filledNoInventory')::bigint;
            v_pct := CASE WHEN v_total > 0 THEN 100.0 * v_fill / v_total ELSE 0 END;
            IF v_total = 0 THEN
                RETURN NEXT validate_check_row('coverage.snapshots', 'Snapshot coverage', 'ERROR', 'skip',
                    'session_summaries is empty: nothing to cover', NULL, NULL, v_thr, c, v_t0);
            ELSE
                RETURN NEXT validate_check_row('coverage.snapshots', 'Snapshot coverage', 'ERROR',
                    CASE WHEN v_pct >= v_min THEN 'pass' ELSE 'fail' END,
                    format('%s of %s sessions have snapshots (%s of them without source_ip: IP not in ip_inventory); %s pending, %s no inventory match, %s rejected%s, %s without a derivable source IP%s%s',
                        validate_format_count(v_fill), validate_format_count(v_total), validate_format_count((c ->> 'filledNoInventory')::numeric),
                        validate_format_count((c ->> 'pending')::numeric), validate_format_count((c ->> 'noInventoryMatch')::numeric),
                        validate_format_count((c #>> '{rejected,total}')::numeric),
                        (SELECT ' (' || string_agg(format('%s %s', key, validate_format_count(value::numeric)), ', ' ORDER BY value::numeric DESC, key) || ')'
                           FROM jsonb_each_text(c #> '{rejected,reasons}')),
                        validate_format_count((c #>> '{noSourceIp,total}')::numeric),
                        (SELECT ' (' || string_agg(format('%s %s', key, validate_format_count(value::numeric)), ', ' ORDER BY value::numeric DESC, key) || ')'
                           FROM jsonb_each_text(c #> '{noSourceIp,reasons}')),
                        CASE WHEN v_pct < v_min AND (c ->> 'pending')::bigint > 0 THEN ': run cowrie-db backfill' ELSE '' END),
                    to_jsonb(round(v_pct, 2)), validate_format_pct(v_pct), v_thr, c, v_t0);
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
            RETURN NEXT validate_check_row('coverage.snapshots', 'Snapshot coverage', 'ERROR', 'error',
                validate_error_text(v_state, v_msg), NULL, NULL, v_thr, NULL, v_t0);
        END;
    END IF;

    ------------------------------------------------------------ coverage.enrichment_shapes
    v_t0 := clock_timestamp();
    v_miss := validate_missing_functions(ARRAY['validate_enrichment_shapes()']);
    IF v_block IS NOT NULL THEN
        RETURN NEXT validate_check_row('coverage.enrichment_shapes', 'Enrichment shapes', 'WARNING', 'skip', 'skipped: ' || v_block, NULL, NULL, '0 unreadable');
    ELSIF v_miss IS NOT NULL THEN
        RETURN NEXT validate_check_row('coverage.enrichment_shapes', 'Enrichment shapes', 'WARNING', 'error', v_miss, NULL, NULL, '0 unreadable');
    ELSE
        BEGIN
            EXECUTE $q$SELECT COALESCE(jsonb_agg(to_jsonb(x)), '[]') FROM validate_enrichment_shapes() x$q$ INTO v_rows;
            SELECT string_agg(format('%s %s', r ->> 'shape', validate_format_count((r ->> 'sessions')::numeric)), ', ') FILTER (WHERE (r ->> 'sessions')::bigint > 0),
                   COALESCE(sum((r ->> 'multi_ip')::bigint), 0),
                   COALESCE(sum((r ->> 'sessions')::bigint) FILTER (WHERE r ->> 'shape' = 'unreadable'), 0)
              INTO v_list, v_multi, v_unr
              FROM jsonb_array_elements(v_rows) r;
            SELECT ARRAY(SELECT jsonb_array_elements_text(COALESCE(r -> 'examples', '[]')))
              INTO v_ex FROM jsonb_array_elements(v_rows) r WHERE r ->> 'shape' = 'unreadable';
            v_ex := COALESCE(v_ex, '{}');
            RETURN NEXT validate_check_row('coverage.enrichment_shapes', 'Enrichment shapes', 'WARNING',
                CASE WHEN cardinality(v_ex) > 0 THEN 'fail' ELSE 'pass' END,
                format('session enrichment by shape: %s', COALESCE(v_list, 'none'))
                || CASE WHEN v_multi > 0 THEN format('; %s sessions name several IPs (the first is used)', validate_format_count(v_multi)) ELSE '' END
                || CASE WHEN cardinality(v_ex) > 0
                        THEN format('; unreadable JSON (a \u0000 escape, recorded as row_error by the backfill): %s%s', array_to_string(v_ex, ', '),
                                    CASE WHEN v_unr > cardinality(v_ex) THEN ', ...' ELSE '' END)
                        ELSE '' END,
                to_jsonb(v_unr), COALESCE(v_list, 'no sessions'), '0 unreadable',
                jsonb_build_object('shapes', (SELECT COALESCE(jsonb_object_agg(r ->> 'shape', (r ->> 'sessions')::bigint), '{}') FROM jsonb_array_elements(v_rows) r),
                                   'multiIp', v_multi, 'unreadableExamples', to_jsonb(v_ex)),
                v_t0);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
            RETURN NEXT validate_check_row('coverage.enrichment_shapes', 'Enrichment shapes', 'WARNING', 'error',
                validate_error_text(v_state, v_msg), NULL, NULL, '0 unreadable', NULL, v_t0);
        END;
    END IF;

    ------------------------------------------------------------ coverage.backfill_runs
    v_t0 := clock_timestamp();
    BEGIN
        IF to_regclass('backfill_runs') IS NULL THEN
            RETURN NEXT validate_check_row('coverage.backfill_runs', 'Backfill runs finished', 'WARNING', 'pass',
                'no backfill has run yet (backfill_runs does not exist)', to_jsonb(0), 'no runs', NULL, NULL, v_t0);
            RETURN;
        END IF;
        v_miss := validate_missing_functions(ARRAY['backfill_resumable_run(boolean)']);
        IF v_miss IS NOT NULL THEN
            RETURN NEXT validate_check_row('coverage.backfill_runs', 'Backfill runs finished', 'WARNING', 'error', v_miss, NULL, NULL, 'no unfinished run', NULL, v_t0);
            RETURN;
        END IF;
        EXECUTE 'SELECT backfill_resumable_run(false)' INTO v_open;
        EXECUTE $q$SELECT COALESCE(jsonb_agg(to_jsonb(x) ORDER BY x.run_id DESC), '[]') FROM (
                       SELECT run_id, status, phase, rows_filled, rows_rejected, started_at, finished_at, last_error
                       FROM backfill_runs WHERE NOT dry_run AND undone_at IS NULL ORDER BY run_id DESC LIMIT 5) x$q$ INTO v_runs;
        v_rej := '{}';
        IF to_regclass('backfill_rejects') IS NOT NULL THEN
            EXECUTE $q$SELECT COALESCE(jsonb_object_agg(reason, n), '{}') FROM (
                           SELECT reason, count(*)::bigint AS n FROM backfill_rejects
                           WHERE run_id = (SELECT max(run_id) FROM backfill_runs WHERE NOT dry_run) GROUP BY reason) x$q$ INTO v_rej;
        END IF;
        EXECUTE 'SELECT run_id, status, last_error FROM backfill_runs WHERE run_id = $1' INTO v_run USING v_open;
        RETURN NEXT validate_check_row('coverage.backfill_runs', 'Backfill runs finished', 'WARNING',
            CASE WHEN v_open IS NOT NULL THEN 'fail' ELSE 'pass' END,
            CASE WHEN v_open IS NOT NULL
                 THEN format('backfill run #%s %s%s is not finished: cowrie-db backfill resumes it (or --restart abandons it)',
                             v_open, v_run.status, CASE WHEN v_run.last_error IS NOT NULL THEN ' (' || left(v_run.last_error, 80) || ')' ELSE '' END)
                 WHEN jsonb_array_length(v_runs) > 0
                 THEN format('last backfill run #%s %s: %s filled, %s rejected%s', v_runs #>> '{0,run_id}', v_runs #>> '{0,status}',
                             validate_format_count((v_runs #>> '{0,rows_filled}')::numeric), validate_format_count((v_runs #>> '{0,rows_rejected}')::numeric),
                             (SELECT ' (' || string_agg(format('%s %s', key, validate_format_count(value::numeric)), ', ' ORDER BY value::numeric DESC, key) || ')'
                                FROM jsonb_each_text(v_rej)))
                 ELSE 'no backfill has run yet' END,
            to_jsonb(CASE WHEN v_open IS NULL THEN 0 ELSE 1 END),
            CASE WHEN jsonb_array_length(v_runs) > 0 THEN format('last run #%s %s', v_runs #>> '{0,run_id}', v_runs #>> '{0,status}') ELSE 'no runs' END,
            'no unfinished run',
            jsonb_build_object('resumableRun', v_open, 'runs', v_runs, 'rejectsOfLastRun', v_rej), v_t0);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
        RETURN NEXT validate_check_row('coverage.backfill_runs', 'Backfill runs finished', 'WARNING', 'error',
            validate_error_text(v_state, v_msg), NULL, NULL, 'no unfinished run', NULL, v_t0);
    END;
END
$fn$;
