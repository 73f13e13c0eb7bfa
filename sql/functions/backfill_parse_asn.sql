-- backfill_parse_asn(raw text) -> integer
--
-- Safe parse of an autonomous system number taken from session enrichment JSON
-- (cymru.asn): a JSON number or a string such as '4134', 'AS4134', 'as 4134'.
-- Surrounding blanks and an 'AS' prefix (any case, blanks after it allowed) are
-- stripped; what is left must be a positive integer of at most 10 digits that fits
-- asn_inventory's integer column (1 .. 2147483647), else NULL. '0', '-5', '4134.0',
-- 'AS', 'ASN4134', 'n/a', '' and numbers out of range all give NULL. Never raises:
-- the digits are checked (translate, no regular expression) before the cast.
-- Locks: none (reads nothing).
CREATE OR REPLACE FUNCTION backfill_parse_asn(p_raw text)
RETURNS integer
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $fn$
DECLARE
    t text := btrim(p_raw, E' \t\r\n');
BEGIN
    IF upper(left(t, 2)) = 'AS' THEN
        t := ltrim(substr(t, 3), E' \t\r\n');
    END IF;
    IF t <> '' AND length(t) <= 10 AND translate(t, '0123456789', '') = '' THEN
        IF t::bigint BETWEEN 1 AND 2147483647 THEN
            RETURN t::integer;
        END IF;
    END IF;
    RETURN NULL;
END
$fn$;
