-- validate_error_text(sqlstate, message) -> text: a check that raised, in one line that
-- says what to do ("could not run: ..."). The error is caught by the check, so the
-- others still run.
-- Locks: none.
CREATE OR REPLACE FUNCTION validate_error_text(p_sqlstate text, p_message text)
RETURNS text
LANGUAGE sql STABLE
AS $fn$
SELECT 'could not run: ' || CASE p_sqlstate
    WHEN '55P03' THEN 'lock timeout: another session holds a conflicting lock (' || p_message || ')'
    WHEN '42501' THEN 'permission denied: ' || p_message || ' (validate needs SELECT on the upstream tables and EXECUTE on the validate_* functions)'
    WHEN '42883' THEN p_message || ' (cowrie-db migrate installs the functions)'
    WHEN '42703' THEN p_message || ' (schema drift? see schema.drift)'
    WHEN '42P01' THEN p_message || ' (schema drift? see schema.drift)'
    WHEN '25006' THEN 'attempted a write in validate''s read-only transaction (a bug; nothing was written): ' || p_message
    ELSE p_message END
$fn$;
