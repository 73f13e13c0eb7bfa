-- validate_checks(groups, settings, context) -> one row per check: what `cowrie-db
-- validate` reports, decided here (status, severity, thresholds); the CLI only formats it.
--   name       the check id, e.g. coverage.snapshots (check_group is its first part)
--   status     pass | fail | skip | error (could not be evaluated: the verdict is then
--              at best COULD-NOT-RUN)
--   severity   what a failure means: CRITICAL | ERROR | WARNING | INFO (settings.severity
--              overrides it by id)
--   measured, display, threshold, detail (one line: what was found, what to do),
--   figures (jsonb: breakdowns, examples, timings), duration_ms
-- groups: any of connection, schema, coverage, accuracy, data_quality, readiness,
-- performance, in that order (NULL: all). settings: validate_settings()'s keys (NULL or
-- '{}': the runbooks' thresholds). context: what the client adds (see
-- validate_checks_schema: this version's schema_findings rows, the migration files) and
-- the checks of groups run in earlier calls (checks: [...]); each group reads the
-- earlier ones (schema drift blocks the data checks; coverage is measured once).
-- Measured by the CLI only: connection.connectivity (its own round trip). psql users get
-- schema.migrations / schema.migration_checksums as 'skip' (the files are on the client).
-- From psql (read-only; the performance group runs the benchmark queries):
--   SELECT name, status, severity, display, detail FROM validate_checks();
--   SELECT * FROM validate_verdict();
-- Locks: those of the group functions (ACCESS SHARE on the tables they read). Writes nothing.
CREATE OR REPLACE FUNCTION validate_checks(
    p_groups   text[] DEFAULT NULL,
    p_settings jsonb  DEFAULT '{}',
    p_context  jsonb  DEFAULT '{}')
RETURNS TABLE (name text, check_group text, title text, status text, severity text,
               measured jsonb, display text, threshold text, detail text, figures jsonb,
               duration_ms numeric)
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    c_groups constant text[] := ARRAY['connection', 'schema', 'coverage', 'accuracy', 'data_quality', 'readiness', 'performance'];
    s      jsonb := validate_settings(p_settings);
    ctx    jsonb := COALESCE(p_context, '{}');
    v_bad  text[];
    g      text;
    v_rows jsonb;
    r      jsonb;
BEGIN
    v_bad := ARRAY(SELECT x FROM unnest(p_groups) x WHERE x IS NULL OR x <> ALL (c_groups));
    IF cardinality(v_bad) > 0 THEN
        RAISE EXCEPTION 'validate_checks: unknown group(s) %', array_to_string(v_bad, ', ', 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('groups: %s', array_to_string(p_groups, ', ', 'NULL')),
                  HINT = 'Groups: ' || array_to_string(c_groups, ', ') || '; NULL runs them all.';
    END IF;
    IF jsonb_typeof(ctx) <> 'object' THEN
        RAISE EXCEPTION 'validate_checks: context must be a JSON object (got %)', jsonb_typeof(ctx)
            USING ERRCODE = 'invalid_parameter_value', DETAIL = left(ctx::text, 200),
                  HINT = 'Pass ''{}'' (or leave it out) from psql.';
    END IF;
    IF NOT ctx ? 'checks' THEN
        ctx := ctx || '{"checks": []}';
    END IF;
    FOREACH g IN ARRAY c_groups LOOP
        CONTINUE WHEN p_groups IS NOT NULL AND g <> ALL (p_groups);
        EXECUTE CASE g
            WHEN 'connection'   THEN 'SELECT COALESCE(jsonb_agg(x), ''[]'') FROM validate_checks_connection($1) x'
            WHEN 'schema'       THEN 'SELECT COALESCE(jsonb_agg(x), ''[]'') FROM validate_checks_schema($1, $2) x'
            WHEN 'coverage'     THEN 'SELECT COALESCE(jsonb_agg(x), ''[]'') FROM validate_checks_coverage($1, $2) x'
            WHEN 'accuracy'     THEN 'SELECT COALESCE(jsonb_agg(x), ''[]'') FROM validate_checks_accuracy($1, $2) x'
            WHEN 'data_quality' THEN 'SELECT COALESCE(jsonb_agg(x), ''[]'') FROM validate_checks_data_quality($1, $2) x'
            WHEN 'readiness'    THEN 'SELECT COALESCE(jsonb_agg(x), ''[]'') FROM validate_checks_readiness($1, $2) x'
            WHEN 'performance'  THEN 'SELECT COALESCE(jsonb_agg(x), ''[]'') FROM validate_checks_performance($1, $2) x'
        END INTO v_rows USING s, ctx;
        ctx := jsonb_set(ctx, '{checks}', (ctx -> 'checks') || v_rows);
        FOR r IN SELECT x FROM jsonb_array_elements(v_rows) x LOOP
            name := r ->> 'id';
            check_group := r ->> 'group';
            title := r ->> 'title';
            status := r ->> 'status';
            severity := COALESCE(s -> 'severity' ->> name, r ->> 'severity');
            measured := r -> 'measured';
            display := r ->> 'display';
            threshold := r ->> 'threshold';
            detail := r ->> 'message';
            figures := CASE WHEN r -> 'details' = 'null'::jsonb THEN NULL ELSE r -> 'details' END;
            duration_ms := (r ->> 'durationMs')::numeric;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$fn$;
