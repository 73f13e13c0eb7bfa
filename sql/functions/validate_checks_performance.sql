-- validate_checks_performance(settings, context) -> SETOF jsonb: the runbooks' queries
-- (validate_benchmark_queries(performance.country, .ipType, .snowshoeMinIps)) run with the
-- snapshot columns and with the JOIN to ip_inventory they replace (validate_check_row rows):
--   performance.<query>  ERROR when the two forms' results differ with nothing to explain
--                        it; WARNING when sessions whose snapshot differs from today's
--                        inventory (or has no source_ip, or is half-written) explain it
--   performance.speedup  WARNING (advisory: settings.severity can make it an ERROR):
--                        geometric mean of the JOIN / snapshot median times >=
--                        thresholds.speedup (5)
--   performance.indexes  WARNING  expected snapshot indexes missing (schema_index_matches);
--                        queries that read table rows instead of an Index Only Scan
-- Each form: one warm-up, then performance.runs timed runs interleaved (clock_timestamp in
-- this backend; the median is reported), one EXPLAIN (ANALYZE, BUFFERS) summarised
-- (validate_plan_summary); results compared row by row.
-- Skipped while coverage is below thresholds.coverage (the snapshot queries would not
-- answer the same question yet) and when a CRITICAL schema drift is in context.
-- Locks: ACCESS SHARE on session_summaries and ip_inventory.
CREATE OR REPLACE FUNCTION validate_checks_performance(p_settings jsonb DEFAULT '{}', p_context jsonb DEFAULT '{}')
RETURNS SETOF jsonb
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    s        jsonb := validate_settings(p_settings);
    v_min    numeric := (s #>> '{thresholds,speedup}')::numeric;
    v_thr    text := '>= ' || (s #>> '{thresholds,speedup}') || 'x';
    v_cmin   numeric := (s #>> '{thresholds,coverage}')::numeric;
    v_runs   integer := (s #>> '{performance,runs}')::integer;
    v_block  text := validate_context_check(p_context, 'schema.drift') #>> '{details,blockedBy}';
    c        jsonb;
    v_cpct   numeric;
    v_why    text;
    q        record;
    v_t0     timestamptz;
    v_t      timestamptz;
    v_srows  bigint;
    v_jrows  bigint;
    v_stext  text;
    v_jtext  text;
    v_sms    float8[];
    v_jms    float8[];
    v_splan  jsonb;
    v_jplan  jsonb;
    v_smed   float8;
    v_jmed   float8;
    v_speed  float8;
    v_m      jsonb;
    v_meas   jsonb := '[]';
    v_expl   record;
    v_extot  bigint;
    v_timing text;
    v_geo    float8;
    v_want   text[];
    v_missing text[];
    v_heap   jsonb;
    v_sugg   text[];
    v_notes  text[];
    v_stats  record;
    v_state  text;
    v_msg    text;
    c_speed  constant text := 'Snapshot queries vs JOIN to ip_inventory';
    c_index  constant text := 'Indexes the snapshot queries need';
BEGIN
    IF v_block IS NOT NULL THEN
        v_why := 'skipped: ' || v_block;
    ELSE
        BEGIN
            c := validate_coverage_figures(p_context);
            v_cpct := CASE WHEN (c ->> 'total')::bigint > 0
                           THEN 100.0 * ((c ->> 'filled')::bigint + (c ->> 'filledNoInventory')::bigint) / (c ->> 'total')::bigint ELSE 0 END;
            IF v_cpct < v_cmin THEN
                v_why := format('skipped: only %s%% of sessions have snapshots (< %s%%): the snapshot queries would not answer the same question yet; run after the backfill',
                                to_char(v_cpct, 'FM990.0'), v_cmin);
            END IF;
        EXCEPTION WHEN OTHERS THEN
            v_why := 'skipped: coverage could not be measured';
        END;
    END IF;
    IF v_why IS NOT NULL THEN
        RETURN NEXT validate_check_row('performance.speedup', c_speed, 'WARNING', 'skip', v_why, NULL, NULL, v_thr);
        RETURN NEXT validate_check_row('performance.indexes', c_index, 'WARNING', 'skip', v_why);
        RETURN;
    END IF;
    v_msg := validate_missing_functions(ARRAY['validate_benchmark_queries(text,text,integer)', 'backfill_inventory_ip_type(text[],json)']);
    IF v_msg IS NOT NULL THEN
        RETURN NEXT validate_check_row('performance.speedup', c_speed, 'WARNING', 'error', v_msg, NULL, NULL, v_thr);
        RETURN;
    END IF;

    -- What can make the two forms differ legitimately: snapshots that differ from today's
    -- inventory (temporal drift), snapshots without source_ip, half-written rows.
    EXECUTE $q$
        SELECT count(*) FILTER (WHERE s.snapshot_country IS NOT NULL AND s.source_ip IS NULL)::bigint AS no_ip,
               count(*) FILTER (WHERE s.snapshot_country IS NULL AND s.source_ip IS NOT NULL)::bigint AS half,
               count(*) FILTER (WHERE s.snapshot_country IS NOT NULL AND i.ip_address IS NOT NULL AND (
                     s.snapshot_country IS DISTINCT FROM i.geo_country OR s.snapshot_asn IS DISTINCT FROM i.current_asn
                     OR s.snapshot_ip_type IS DISTINCT FROM backfill_inventory_ip_type(i.ip_types, (i.enrichment -> 'spur')::json)))::bigint AS drifted
        FROM session_summaries s LEFT JOIN ip_inventory i ON i.ip_address = s.source_ip$q$
    INTO v_expl;
    v_extot := v_expl.drifted + v_expl.no_ip + v_expl.half;

    FOR q IN SELECT * FROM validate_benchmark_queries(s #>> '{performance,country}', s #>> '{performance,ipType}',
                                                      (s #>> '{performance,snowshoeMinIps}')::integer) b ORDER BY b.ordinal
    LOOP
        v_t0 := clock_timestamp();
        BEGIN
            -- warm-up: both forms once, their results kept for the comparison
            EXECUTE format($w$SELECT count(*), COALESCE(json_agg((SELECT json_agg(j.value) FROM json_each_text(row_to_json(r)) j))::text, '[]')
                              FROM (%s) r$w$, q.snapshot_sql) INTO v_srows, v_stext;
            EXECUTE format($w$SELECT count(*), COALESCE(json_agg((SELECT json_agg(j.value) FROM json_each_text(row_to_json(r)) j))::text, '[]')
                              FROM (%s) r$w$, q.join_sql) INTO v_jrows, v_jtext;
            v_sms := '{}';
            v_jms := '{}';
            FOR i IN 1 .. v_runs LOOP
                v_t := clock_timestamp();
                EXECUTE q.snapshot_sql;
                v_sms := v_sms || (extract(epoch FROM clock_timestamp() - v_t) * 1000)::float8;
                v_t := clock_timestamp();
                EXECUTE q.join_sql;
                v_jms := v_jms || (extract(epoch FROM clock_timestamp() - v_t) * 1000)::float8;
            END LOOP;
            EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ' || q.snapshot_sql INTO v_splan;
            EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ' || q.join_sql INTO v_jplan;
            v_splan := validate_plan_summary(v_splan);
            v_jplan := validate_plan_summary(v_jplan);
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) INTO v_smed FROM unnest(v_sms) x;
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) INTO v_jmed FROM unnest(v_jms) x;
            v_speed := v_jmed / greatest(v_smed, 0.001);
            v_m := jsonb_build_object('name', q.name, 'description', q.description, 'snapshotMs', to_jsonb(v_sms), 'joinMs', to_jsonb(v_jms),
                'snapshotMedianMs', v_smed, 'joinMedianMs', v_jmed, 'speedup', v_speed, 'sameResults', v_stext = v_jtext,
                'rows', v_srows, 'snapshotPlan', v_splan, 'joinPlan', v_jplan, 'expectedIndex', q.expected_index,
                'snapshotSql', q.snapshot_sql, 'joinSql', q.join_sql);
            v_meas := v_meas || jsonb_build_array(v_m);
            v_timing := format('snapshot %s ms vs JOIN %s ms (median of %s): %sx; snapshot plan: %s; JOIN plan: %s',
                to_char(v_smed, 'FM999999990.00'), to_char(v_jmed, 'FM999999990.00'), v_runs, to_char(v_speed, 'FM999999990.0'),
                CASE WHEN jsonb_array_length(v_splan -> 'indexes') > 0
                     THEN 'index ' || (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(v_splan -> 'indexes') x)
                     ELSE 'no index' || COALESCE(' (Seq Scan on ' || (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(v_splan -> 'seqScans') x) || ')', '') END,
                CASE WHEN jsonb_array_length(v_jplan -> 'indexes') > 0
                     THEN 'index ' || (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(v_jplan -> 'indexes') x)
                     ELSE 'no index' || COALESCE(' (Seq Scan on ' || (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(v_jplan -> 'seqScans') x) || ')', '') END);
            RETURN NEXT validate_check_row('performance.' || q.name, q.name || ': ' || q.description,
                CASE WHEN v_stext <> v_jtext AND v_extot > 0 THEN 'WARNING' ELSE 'ERROR' END,
                CASE WHEN v_stext = v_jtext THEN 'pass' ELSE 'fail' END,
                CASE WHEN v_stext = v_jtext THEN format('same %s row(s); %s', v_srows, v_timing)
                     WHEN v_extot > 0 THEN format('results differ (%s vs %s row(s)), explained by %s session(s) whose snapshot differs from today''s ip_inventory (temporal drift), %s with snapshots but no source_ip, %s half-written; %s',
                                                 v_srows, v_jrows, validate_format_count(v_expl.drifted), validate_format_count(v_expl.no_ip), validate_format_count(v_expl.half), v_timing)
                     ELSE format('results differ (%s vs %s row(s)) although every snapshot equals today''s ip_inventory: the snapshot columns are wrong; %s', v_srows, v_jrows, v_timing) END,
                to_jsonb(round(v_speed::numeric, 2)), to_char(v_speed, 'FM999999990.0') || 'x', 'same results',
                v_m || jsonb_build_object('joinRows', v_jrows,
                    'explainable', jsonb_build_object('drifted', v_expl.drifted, 'noSourceIp', v_expl.no_ip, 'halfWritten', v_expl.half)),
                v_t0);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
            RETURN NEXT validate_check_row('performance.' || q.name, q.name || ': ' || q.description, 'ERROR', 'error',
                validate_error_text(v_state, v_msg), NULL, NULL, 'same results', NULL, v_t0);
        END;
    END LOOP;

    IF jsonb_array_length(v_meas) = 0 THEN
        RETURN NEXT validate_check_row('performance.speedup', c_speed, 'WARNING', 'error', 'could not run: no benchmark query completed', NULL, NULL, v_thr);
    ELSE
        SELECT exp(avg(ln(greatest((m ->> 'speedup')::float8, 1e-6)))) INTO v_geo FROM jsonb_array_elements(v_meas) m;
        RETURN NEXT validate_check_row('performance.speedup', c_speed, 'WARNING',
            CASE WHEN v_geo >= v_min THEN 'pass' ELSE 'fail' END,
            format('geometric mean speedup %sx over %s runbook queries (%s)%s', to_char(v_geo, 'FM999999990.0'), jsonb_array_length(v_meas),
                   (SELECT string_agg(format('%s %sx', m ->> 'name', to_char((m ->> 'speedup')::float8, 'FM999999990.0')), ', ') FROM jsonb_array_elements(v_meas) m),
                   CASE WHEN v_geo >= v_min THEN '' ELSE ': see performance.indexes' END),
            to_jsonb(round(v_geo::numeric, 2)), to_char(v_geo, 'FM999999990.0') || 'x', v_thr,
            jsonb_build_object('geometricMean', v_geo, 'runs', v_runs,
                'perQuery', (SELECT jsonb_object_agg(m ->> 'name', jsonb_build_object('speedup', m -> 'speedup', 'snapshotMedianMs', m -> 'snapshotMedianMs',
                                                                                  'joinMedianMs', m -> 'joinMedianMs')) FROM jsonb_array_elements(v_meas) m)));
    END IF;

    v_t0 := clock_timestamp();
    v_msg := validate_missing_functions(ARRAY['schema_index_matches(text,text)']);
    IF v_msg IS NOT NULL THEN
        RETURN NEXT validate_check_row('performance.indexes', c_index, 'WARNING', 'error', v_msg);
        RETURN;
    END IF;
    BEGIN
        v_want := ARRAY(SELECT DISTINCT m ->> 'expectedIndex' FROM jsonb_array_elements(v_meas) m ORDER BY 1);
        -- an index doing the same job under another name (the upstream's idx_session_*) counts
        EXECUTE $q$SELECT COALESCE(array_agg(w ORDER BY w), '{}') FROM unnest($1) w
                   WHERE NOT EXISTS (SELECT 1 FROM schema_index_matches('session_summaries', w) m WHERE m.same_job)$q$
        INTO v_missing USING v_want;
        -- a snapshot query that reads the heap instead of an Index Only Scan pays for the
        -- wide session_summaries rows (the enrichment JSON)
        SELECT COALESCE(jsonb_agg(m), '[]') INTO v_heap FROM jsonb_array_elements(v_meas) m
         WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(m #> '{snapshotPlan,nodes}') n WHERE n LIKE 'Index Only Scan%');
        v_sugg := ARRAY(SELECT DISTINCT CASE WHEN m ->> 'name' = 'asn_clustering'
                        THEN 'CREATE INDEX CONCURRENTLY ix_session_summaries_snapshot_asn_country ON session_summaries (snapshot_asn, snapshot_country)'
                        ELSE 'CREATE INDEX CONCURRENTLY ix_session_summaries_snapshot_country_type ON session_summaries (snapshot_country, snapshot_ip_type, snapshot_asn, source_ip)' END
                        FROM jsonb_array_elements(v_heap) m ORDER BY 1);
        SELECT greatest(last_analyze, last_autoanalyze) AS analyzed, greatest(last_vacuum, last_autovacuum) AS vacuumed,
               n_mod_since_analyze::bigint AS modified
          INTO v_stats FROM pg_stat_user_tables WHERE relid = to_regclass('session_summaries');
        v_notes := ARRAY(SELECT format('%s is missing: the snapshot queries scan the whole table (CREATE INDEX CONCURRENTLY; cowrie-db migrate rebuilds it)', w) FROM unnest(v_missing) w)
                || ARRAY(SELECT format('%s reads the table rows (%s): no index covers its columns', m ->> 'name',
                                       (SELECT string_agg(n, ', ') FROM jsonb_array_elements_text(m #> '{snapshotPlan,nodes}') n WHERE n ~ 'Scan'))
                         FROM jsonb_array_elements(v_heap) m)
                || CASE WHEN cardinality(v_sugg) > 0
                        THEN ARRAY[format('covering indexes would allow Index Only Scans: %s; then VACUUM session_summaries (index-only scans need the visibility map)', array_to_string(v_sugg, '; '))]
                        ELSE '{}'::text[] END;
        IF cardinality(v_notes) = 0 THEN
            v_notes := ARRAY['every snapshot query runs as an Index Only Scan on an expected index'];
        END IF;
        RETURN NEXT validate_check_row('performance.indexes', c_index, 'WARNING',
            CASE WHEN cardinality(v_missing) > 0 THEN 'fail' ELSE 'pass' END,
            array_to_string(v_notes, '; '),
            to_jsonb(cardinality(v_missing)), cardinality(v_missing) || ' missing', '0 missing',
            jsonb_build_object('wanted', to_jsonb(v_want), 'missing', to_jsonb(v_missing),
                'readingHeap', (SELECT COALESCE(jsonb_agg(m -> 'name'), '[]') FROM jsonb_array_elements(v_heap) m),
                'suggestedIndexes', to_jsonb(v_sugg), 'lastAnalyzed', v_stats.analyzed, 'lastVacuumed', v_stats.vacuumed,
                'modifiedSinceAnalyze', COALESCE(v_stats.modified, 0)),
            v_t0);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
        RETURN NEXT validate_check_row('performance.indexes', c_index, 'WARNING', 'error', validate_error_text(v_state, v_msg), NULL, NULL, '0 missing', NULL, v_t0);
    END;
END
$fn$;
