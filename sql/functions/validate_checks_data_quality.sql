-- validate_checks_data_quality(settings, context) -> SETOF jsonb: the data quality checks
-- (validate_check_row rows), each over its rows of validate_data_quality():
--   data_quality.orphan_source_ip       source_ip values missing from ip_inventory
--   data_quality.constraint_violations  rows violating expected_constraints()
--   data_quality.not_valid_constraints  CHECK / FOREIGN KEY left NOT VALID (fails for each)
--   data_quality.impossible_values      negative counters, events in the future, ...
-- A check fails when one of its items has violations; it is an ERROR when one of those
-- items is (validate_data_quality's severity), else a WARNING.
-- Blocked (skipped) by a CRITICAL schema drift in context.
-- Locks: those of validate_data_quality() (ACCESS SHARE on the upstream tables).
CREATE OR REPLACE FUNCTION validate_checks_data_quality(p_settings jsonb DEFAULT '{}', p_context jsonb DEFAULT '{}')
RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    v_block text := validate_context_check(p_context, 'schema.drift') #>> '{details,blockedBy}';
    v_t0    timestamptz := clock_timestamp();
    v_miss  text := validate_missing_functions(ARRAY['validate_data_quality()', 'expected_constraints()', 'backfill_parse_ip(text)']);
    v_rows  jsonb;
    v_err   text;
    k       record;
    v_mine  jsonb;
    v_hits  jsonb;
    v_total bigint;
    v_fail  bigint;
    v_state text;
    v_msg   text;
BEGIN
    IF v_block IS NOT NULL THEN
        v_err := 'skipped: ' || v_block;
    ELSIF v_miss IS NOT NULL THEN
        v_err := v_miss;
    ELSE
        BEGIN
            EXECUTE 'SELECT COALESCE(jsonb_agg(to_jsonb(q)), ''[]'') FROM validate_data_quality() q' INTO v_rows;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
            v_err := validate_error_text(v_state, v_msg);
        END;
    END IF;
    FOR k IN SELECT * FROM (VALUES
            (1, 'orphan_source_ip', 'Orphan source_ip values'),
            (2, 'constraint_violations', 'CHECK and FOREIGN KEY violations'),
            (3, 'not_valid_constraints', 'NOT VALID constraints left unvalidated'),
            (4, 'impossible_values', 'Impossible values')) x(ord, name, title) ORDER BY ord
    LOOP
        IF v_err IS NOT NULL THEN
            RETURN NEXT validate_check_row('data_quality.' || k.name, k.title, 'ERROR',
                CASE WHEN v_block IS NOT NULL THEN 'skip' ELSE 'error' END, v_err, NULL, NULL, '0', NULL, v_t0);
            CONTINUE;
        END IF;
        SELECT COALESCE(jsonb_agg(r), '[]') INTO v_mine FROM jsonb_array_elements(v_rows) r WHERE r ->> 'check_name' = k.name;
        SELECT COALESCE(jsonb_agg(r), '[]') INTO v_hits FROM jsonb_array_elements(v_mine) r
         WHERE (r ->> 'violations')::bigint > 0 OR k.name = 'not_valid_constraints';
        SELECT COALESCE(sum((r ->> 'violations')::bigint), 0) INTO v_total FROM jsonb_array_elements(v_mine) r;
        v_fail := CASE WHEN k.name = 'not_valid_constraints' THEN jsonb_array_length(v_hits) ELSE v_total END;
        RETURN NEXT validate_check_row('data_quality.' || k.name, k.title,
            CASE WHEN v_hits @> '[{"severity": "ERROR"}]' THEN 'ERROR' ELSE 'WARNING' END,
            CASE WHEN v_fail > 0 THEN 'fail' ELSE 'pass' END,
            CASE WHEN v_fail > 0 THEN
                     (SELECT string_agg(format('%s: %s', r ->> 'item', r ->> 'message')
                                        || CASE WHEN k.name = 'not_valid_constraints' THEN '' ELSE format(' (%s)', validate_format_count((r ->> 'violations')::numeric)) END,
                                        '; ' ORDER BY i)
                        FROM jsonb_array_elements(v_hits) WITH ORDINALITY x(r, i))
                 WHEN k.name = 'not_valid_constraints' THEN 'every CHECK and FOREIGN KEY constraint of the upstream tables is validated'
                 ELSE format('none (checked: %s)', (SELECT string_agg(r ->> 'item', ', ' ORDER BY i) FROM jsonb_array_elements(v_mine) WITH ORDINALITY x(r, i))) END,
            to_jsonb(v_fail),
            CASE WHEN k.name = 'not_valid_constraints' THEN jsonb_array_length(v_hits) || ' constraint(s)' ELSE validate_format_count(v_total) || ' row(s)' END,
            '0',
            (SELECT COALESCE(jsonb_agg(jsonb_build_object('item', r -> 'item', 'table', r -> 'table_name', 'violations', (r ->> 'violations')::bigint,
                                                          'severity', r -> 'severity', 'message', r -> 'message', 'fix', r -> 'fix') ORDER BY i), '[]')
               FROM jsonb_array_elements(v_mine) WITH ORDINALITY x(r, i)),
            v_t0);
    END LOOP;
END
$fn$;
