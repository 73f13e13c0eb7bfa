-- backfill_parse_country(raw text) -> varchar
--
-- Normalises a country code to the form of session_summaries' CHECK
-- (snapshot_country ~ '^[A-Z]{2}$'): surrounding blanks removed and upper-cased
-- ('cn' -> 'CN', ' de ' -> 'DE'). Anything that is not two letters after that
-- ('CHN', 'C', '12', 'Ch1na') gives NULL: a 3-letter ISO code is NOT mapped to its
-- 2-letter form (the backfill records such a row as a 'bad_country' reject).
-- 'XX' is valid: it is the "unknown" value, as in ip_inventory.geo_country.
-- Never raises. Locks: none (reads nothing). Inlined (LANGUAGE sql, one expression).
CREATE OR REPLACE FUNCTION backfill_parse_country(p_raw text)
RETURNS varchar
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
SELECT CASE WHEN upper(btrim(p_raw, E' \t\r\n')) ~ '^[A-Z]{2}$'
            THEN upper(btrim(p_raw, E' \t\r\n'))::varchar(2) END
$fn$;
