-- validate_format_duration(seconds) -> text: 250 ms, 12.5 s, 3.2 min, 1.5 h.
-- Locks: none.
CREATE OR REPLACE FUNCTION validate_format_duration(p_seconds numeric)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $fn$
SELECT CASE WHEN p_seconds IS NULL THEN '?'
            WHEN p_seconds < 1 THEN round(p_seconds * 1000) || ' ms'
            WHEN p_seconds < 120 THEN to_char(p_seconds, 'FM999990.0') || ' s'
            WHEN p_seconds < 7200 THEN to_char(p_seconds / 60, 'FM999990.0') || ' min'
            ELSE to_char(p_seconds / 3600, 'FM999999990.0') || ' h' END
$fn$;
