-- validate_check_row(id, title, severity, status, message, measured, display, threshold,
--                    details, started) -> jsonb: one check result as validate_checks
-- returns it (the keys of `cowrie-db validate --json`'s checks[]). status: pass, fail,
-- skip, error. display defaults to the measured value ('-' when there is none);
-- durationMs is the time since started.
-- Locks: none.
CREATE OR REPLACE FUNCTION validate_check_row(
    p_id        text,
    p_title     text,
    p_severity  text,
    p_status    text,
    p_message   text,
    p_measured  jsonb DEFAULT NULL,
    p_display   text DEFAULT NULL,
    p_threshold text DEFAULT NULL,
    p_details   jsonb DEFAULT NULL,
    p_started   timestamptz DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql VOLATILE
AS $fn$
SELECT jsonb_build_object(
    'id', p_id, 'group', split_part(p_id, '.', 1), 'title', p_title,
    'severity', p_severity, 'status', p_status,
    'measured', COALESCE(p_measured, 'null'::jsonb),
    'display', COALESCE(p_display, CASE WHEN p_measured IS NULL OR p_measured = 'null'::jsonb THEN '-' ELSE p_measured #>> '{}' END),
    'threshold', p_threshold, 'message', p_message, 'details', p_details,
    'durationMs', CASE WHEN p_started IS NULL THEN 0
                       ELSE round((extract(epoch FROM clock_timestamp() - p_started) * 1000)::numeric, 1) END)
$fn$;
