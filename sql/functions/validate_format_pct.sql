-- validate_format_pct(p) -> text: a percentage as validate's reports print it: one decimal
-- (95.3%), two between 99.95 and 100 (99.97%) so that it never rounds up to 100.0%.
-- Locks: none.
CREATE OR REPLACE FUNCTION validate_format_pct(p_pct numeric)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $fn$
SELECT CASE WHEN p_pct IS NULL THEN '?%'
            WHEN p_pct >= 99.95 AND p_pct < 100 THEN to_char(trunc(p_pct, 2), 'FM990.00') || '%'
            ELSE to_char(round(p_pct, 1), 'FM9990.0') || '%' END
$fn$;
