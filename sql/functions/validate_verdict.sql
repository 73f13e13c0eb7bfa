-- validate_verdict(checks, settings) -> one row: verdict, exit_code, failing, reasons
--   verdict    CRITICAL     a CRITICAL check failed                       exit 2
--              NO-GO        else an ERROR check failed                    exit 1
--              COULD-NOT-RUN else a check could not be evaluated (status  exit 3
--                           'error': its absence must not read as GO)
--              GO           else (WARNING and INFO never change it)       exit 0
--   failing    the ids of the checks that decide it (failed CRITICAL / ERROR ones, or
--              the ones that could not run), in report order
--   reasons    the same, one line each: "<id>: <detail>"
-- checks: validate_checks rows as a JSON array (objects with name or id, status, severity,
-- detail or message), e.g. the CLI's, which adds connection.connectivity; NULL: runs
-- validate_checks(NULL, settings) itself. From psql:
--   SELECT * FROM validate_verdict();
--   SELECT * FROM validate_verdict(NULL, '{"thresholds": {"coverage": 99}, "severity": {"performance.speedup": "ERROR"}}');
-- Locks: those of validate_checks when checks is NULL, else none. Writes nothing.
CREATE OR REPLACE FUNCTION validate_verdict(p_checks jsonb DEFAULT NULL, p_settings jsonb DEFAULT '{}')
RETURNS TABLE (verdict text, exit_code integer, failing text[], reasons text[])
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    v_checks jsonb := p_checks;
BEGIN
    IF v_checks IS NULL THEN
        SELECT COALESCE(jsonb_agg(to_jsonb(c)), '[]') INTO v_checks FROM validate_checks(NULL, p_settings) c;
    ELSIF jsonb_typeof(v_checks) <> 'array' THEN
        RAISE EXCEPTION 'validate_verdict: checks must be a JSON array of check rows (got %)', jsonb_typeof(v_checks)
            USING ERRCODE = 'invalid_parameter_value', DETAIL = left(v_checks::text, 200),
                  HINT = 'Leave it NULL to run validate_checks() here.';
    END IF;
    RETURN QUERY
    WITH c AS (
        SELECT COALESCE(x ->> 'name', x ->> 'id') AS id, x ->> 'status' AS st, x ->> 'severity' AS sev,
               COALESCE(x ->> 'detail', x ->> 'message') AS msg, i
        FROM jsonb_array_elements(v_checks) WITH ORDINALITY t(x, i)),
    v AS (
        SELECT CASE WHEN EXISTS (SELECT 1 FROM c WHERE st = 'fail' AND sev = 'CRITICAL') THEN 'CRITICAL'
                    WHEN EXISTS (SELECT 1 FROM c WHERE st = 'fail' AND sev = 'ERROR') THEN 'NO-GO'
                    WHEN EXISTS (SELECT 1 FROM c WHERE st = 'error') THEN 'COULD-NOT-RUN'
                    ELSE 'GO' END AS verdict),
    d AS (
        SELECT c.*, CASE v.verdict WHEN 'CRITICAL' THEN c.st = 'fail' AND c.sev = 'CRITICAL'
                                   WHEN 'NO-GO' THEN c.st = 'fail' AND c.sev = 'ERROR'
                                   WHEN 'COULD-NOT-RUN' THEN c.st = 'error'
                                   ELSE false END AS decides
        FROM c, v)
    SELECT v.verdict,
           CASE v.verdict WHEN 'GO' THEN 0 WHEN 'NO-GO' THEN 1 WHEN 'CRITICAL' THEN 2 ELSE 3 END,
           ARRAY(SELECT d.id FROM d WHERE d.decides ORDER BY d.i),
           ARRAY(SELECT d.id || ': ' || COALESCE(d.msg, '') FROM d WHERE d.decides ORDER BY d.i)
    FROM v;
END
$fn$;
