-- validate_checks_accuracy(settings, context) -> SETOF jsonb: the accuracy checks
-- (validate_check_row rows):
--   accuracy.sample          ERROR  % of a sample of filled sessions whose five snapshot
--                                   columns equal the backfill rule recomputed
--                                   (validate_accuracy(accuracy.sampleSize, accuracy.seed))
--                                   >= thresholds.accuracy (99); a 95% Wilson interval
--   accuracy.temporal_drift  INFO   sampled snapshots that differ from today's
--                                   ip_inventory: expected, never a failure
-- Blocked (skipped) by a CRITICAL schema drift in context.
-- Locks: ACCESS SHARE on session_summaries, ip_inventory, ip_asn_history.
CREATE OR REPLACE FUNCTION validate_checks_accuracy(p_settings jsonb DEFAULT '{}', p_context jsonb DEFAULT '{}')
RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    s        jsonb := validate_settings(p_settings);
    v_min    numeric := (s #>> '{thresholds,accuracy}')::numeric;
    v_thr    text := '>= ' || (s #>> '{thresholds,accuracy}') || '%';
    v_size   integer := (s #>> '{accuracy,sampleSize}')::integer;
    v_seed   bigint := (s #>> '{accuracy,seed}')::bigint;
    v_block  text := validate_context_check(p_context, 'schema.drift') #>> '{details,blockedBy}';
    v_t0     timestamptz := clock_timestamp();
    v_miss   text := validate_missing_functions(ARRAY['validate_accuracy(integer,bigint)', 'backfill_snapshot_source(json,timestamptz,timestamptz)']);
    v_rows   jsonb;
    v_n      integer;
    v_bad    integer;
    v_drift  integer;
    v_bycol  jsonb;
    v_dcols  jsonb;
    v_filled bigint;
    v_p      numeric;
    z        numeric := 1.959964;
    v_lo     numeric;
    v_hi     numeric;
    v_state  text;
    v_msg    text;
    c_drift  constant text := 'Snapshots differing from today''s ip_inventory (temporal drift)';
BEGIN
    IF v_block IS NOT NULL THEN
        RETURN NEXT validate_check_row('accuracy.sample', 'Snapshot accuracy (sample recomputed)', 'ERROR', 'skip', 'skipped: ' || v_block, NULL, NULL, v_thr);
        RETURN NEXT validate_check_row('accuracy.temporal_drift', c_drift, 'INFO', 'skip', 'skipped: no accuracy sample');
        RETURN;
    ELSIF v_miss IS NOT NULL THEN
        RETURN NEXT validate_check_row('accuracy.sample', 'Snapshot accuracy (sample recomputed)', 'ERROR', 'error', v_miss, NULL, NULL, v_thr);
        RETURN NEXT validate_check_row('accuracy.temporal_drift', c_drift, 'INFO', 'skip', 'skipped: no accuracy sample');
        RETURN;
    END IF;
    BEGIN
        EXECUTE 'SELECT COALESCE(jsonb_agg(to_jsonb(a)), ''[]'') FROM validate_accuracy($1, $2) a' INTO v_rows USING v_size, v_seed;
        v_n := jsonb_array_length(v_rows);
        IF v_n = 0 THEN
            RETURN NEXT validate_check_row('accuracy.sample', 'Snapshot accuracy (sample recomputed)', 'ERROR', 'skip',
                'no filled session to sample (snapshot_country is NULL everywhere): run the backfill first', NULL, NULL, v_thr, NULL, v_t0);
            RETURN NEXT validate_check_row('accuracy.temporal_drift', c_drift, 'INFO', 'skip', 'skipped: no accuracy sample');
            RETURN;
        END IF;
        SELECT count(*) FILTER (WHERE NOT (r ->> 'matches')::boolean), count(*) FILTER (WHERE (r ->> 'temporal_drift')::boolean)
          INTO v_bad, v_drift FROM jsonb_array_elements(v_rows) r;
        SELECT COALESCE(jsonb_object_agg(col, n), '{}') INTO v_bycol FROM (
            SELECT col, count(*) AS n FROM jsonb_array_elements(v_rows) r, jsonb_array_elements_text(r -> 'mismatched') col
            WHERE NOT (r ->> 'matches')::boolean GROUP BY col) x;
        SELECT COALESCE(jsonb_object_agg(col, n), '{}') INTO v_dcols FROM (
            SELECT col, count(*) AS n FROM jsonb_array_elements(v_rows) r, jsonb_array_elements_text(r -> 'drift_columns') col
            WHERE (r ->> 'temporal_drift')::boolean GROUP BY col) x;
        EXECUTE 'SELECT count(*) FROM session_summaries WHERE snapshot_country IS NOT NULL' INTO v_filled;
        v_p := 100.0 * (v_n - v_bad) / v_n;
        -- Wilson score interval (95%)
        v_lo := greatest(0, ((v_n - v_bad)::numeric / v_n + z * z / (2 * v_n)) / (1 + z * z / v_n)
                  - z * sqrt(((v_n - v_bad)::numeric / v_n) * (v_bad::numeric / v_n) / v_n + z * z / (4 * v_n * v_n)) / (1 + z * z / v_n)) * 100;
        v_hi := least(1, ((v_n - v_bad)::numeric / v_n + z * z / (2 * v_n)) / (1 + z * z / v_n)
                  + z * sqrt(((v_n - v_bad)::numeric / v_n) * (v_bad::numeric / v_n) / v_n + z * z / (4 * v_n * v_n)) / (1 + z * z / v_n)) * 100;
        RETURN NEXT validate_check_row('accuracy.sample', 'Snapshot accuracy (sample recomputed)', 'ERROR',
            CASE WHEN v_p >= v_min THEN 'pass' ELSE 'fail' END,
            format('%s of %s sampled filled sessions match the backfill rule recomputed from their sources (95%% CI %s-%s%%)',
                   validate_format_count(v_n - v_bad), validate_format_count(v_n), to_char(v_lo, 'FM990.0'), to_char(v_hi, 'FM990.0'))
            || CASE WHEN v_bad > 0 THEN format('; %s differ: %s', validate_format_count(v_bad),
                        (SELECT string_agg(format('%s %s', key, value), ', ' ORDER BY key) FROM jsonb_each_text(v_bycol))) ELSE '' END
            || format(' [seed %s; --seed %s reproduces this sample]', v_seed, v_seed),
            to_jsonb(round(v_p, 2)), validate_format_pct(v_p), v_thr,
            jsonb_build_object('seed', v_seed, 'sampleSize', v_size, 'sampled', v_n, 'matching', v_n - v_bad, 'mismatching', v_bad,
                'filledSessions', v_filled, 'confidence95', jsonb_build_array(v_lo, v_hi), 'byColumn', v_bycol,
                'examples', (SELECT COALESCE(jsonb_agg(jsonb_build_object(
                        'session_id', r -> 'session_id', 'mismatched', r -> 'mismatched',
                        'stored', jsonb_build_object('source_ip', r -> 'stored_source_ip', 'snapshot_asn', r -> 'stored_asn', 'snapshot_country', r -> 'stored_country',
                                                     'snapshot_ip_type', r -> 'stored_ip_type', 'enrichment_at', r -> 'stored_enrichment_at'),
                        'expected', jsonb_build_object('source_ip', r -> 'expected_source_ip', 'snapshot_asn', r -> 'expected_asn', 'snapshot_country', r -> 'expected_country',
                                                       'snapshot_ip_type', r -> 'expected_ip_type', 'enrichment_at', r -> 'expected_enrichment_at')) ORDER BY i), '[]')
                    FROM (SELECT r, i FROM jsonb_array_elements(v_rows) WITH ORDINALITY x(r, i) WHERE NOT (r ->> 'matches')::boolean ORDER BY i LIMIT 10) y),
                'query', format('SELECT * FROM validate_accuracy(%s, %s) WHERE NOT matches;', v_size, v_seed)),
            v_t0);
        v_p := 100.0 * v_drift / v_n;
        RETURN NEXT validate_check_row('accuracy.temporal_drift', c_drift, 'INFO', 'pass',
            format('%s of %s sampled sessions (%s) differ from today''s ip_inventory', validate_format_count(v_drift), validate_format_count(v_n), validate_format_pct(v_p))
            || CASE WHEN v_drift > 0 THEN ' (' || (SELECT string_agg(format('%s %s', key, value), ', ' ORDER BY key) FROM jsonb_each_text(v_dcols)) || ')' ELSE '' END
            || ': expected (IPs move between ASNs); snapshots keep the values at attack time. Not an error',
            to_jsonb(round(v_p, 2)), validate_format_pct(v_p), NULL,
            jsonb_build_object('sampled', v_n, 'drifted', v_drift, 'byColumn', v_dcols));
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
        RETURN NEXT validate_check_row('accuracy.sample', 'Snapshot accuracy (sample recomputed)', 'ERROR', 'error',
            validate_error_text(v_state, v_msg), NULL, NULL, v_thr, NULL, v_t0);
        RETURN NEXT validate_check_row('accuracy.temporal_drift', c_drift, 'INFO', 'skip', 'skipped: no accuracy sample');
    END;
END
$fn$;
