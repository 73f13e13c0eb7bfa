-- backfill_parse_timestamptz(raw text) -> timestamptz
--
-- Safe parse of the enrichment time taken from session enrichment JSON
-- (enriched_at). Accepts:
--   * date-times that start with 'YYYY-' in any form the timestamptz type reads
--     ('2025-05-01T10:00:00Z', '2025-05-01 10:00:00.123+02', '2025-05-01',
--     '2025-05-01 10:00 UTC', '2025-05-01 12:00 Europe/Paris'); a value without an
--     offset or zone name is read as UTC (not in the server's TimeZone);
--   * Unix epoch seconds (9 to 11 digits, optional fraction: 1746093600).
-- Returns NULL for anything else ('2025-13-45', '2025-02-30', '05/01/2025', '', NULL).
-- Special words ('now', 'today', 'epoch', 'infinity') are refused on purpose: they
-- would make the result depend on when the backfill ran.
-- Never raises: the cast runs inside its own EXCEPTION block (a subtransaction that
-- assigns no transaction id: about a microsecond); no regular expression on the
-- common path.
-- Locks: none (reads nothing). STABLE: named time zones depend on the zone database.
CREATE OR REPLACE FUNCTION backfill_parse_timestamptz(p_raw text)
RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $fn$
DECLARE
    v text := btrim(p_raw, E' \t\r\n');
BEGIN
    IF ascii(v) NOT BETWEEN 48 AND 57 OR length(v) NOT BETWEEN 9 AND 64 THEN
        RETURN NULL;                   -- must start with a digit: no 'now', 'infinity'
    END IF;
    BEGIN
        IF substr(v, 5, 1) = '-' THEN
            IF ascii(right(v, 1)) > 64 OR strpos(v, '+') > 0 OR strpos(substr(v, 11), '-') > 0 THEN
                RETURN v::timestamptz;         -- 'Z', an offset or a zone name
            END IF;
            RETURN (v || '+00')::timestamptz;  -- no zone: UTC
        END IF;
        IF translate(v, '0123456789', '') IN ('', '.') AND length(split_part(v, '.', 1)) BETWEEN 9 AND 11
           AND length(split_part(v, '.', 2)) <= 6 THEN
            RETURN to_timestamp(v::numeric);   -- epoch seconds
        END IF;
        RETURN NULL;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END;
END
$fn$;
