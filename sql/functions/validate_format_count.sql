-- validate_format_count(n) -> text: a count as validate's reports print it (1,682,827).
-- Locks: none.
CREATE OR REPLACE FUNCTION validate_format_count(p_n numeric)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $fn$
SELECT CASE WHEN p_n IS NULL THEN '?' ELSE to_char(round(p_n), 'FM999,999,999,999,999,990') END
$fn$;
