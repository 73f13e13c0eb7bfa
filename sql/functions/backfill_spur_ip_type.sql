-- backfill_spur_ip_type(spur json) -> text
--
-- The IP type a SPUR member says, in either form the upstream code stores it:
--   list form (the loader's 18 strings): element [3], the infrastructure
--     ('DATACENTER', 'RESIDENTIAL', 'MOBILE', ...); '' = no value;
--   object form (SPUR's own JSON, and the flat session shape): client.types (a
--     string, or the preferred of an array: backfill_parse_ip_type), else
--     infrastructure.
-- Trimmed and upper-cased; NULL when the member says nothing usable (JSON null, ''
-- everywhere, a list shorter than 4, a non-string value). Never a reject.
-- Raises only for a string holding a \u0000 escape (not representable as text).
-- Locks: none (reads nothing). Inlined (LANGUAGE sql, one expression).
CREATE OR REPLACE FUNCTION backfill_spur_ip_type(p_spur json)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
SELECT CASE json_typeof(p_spur)
           WHEN 'array' THEN
               CASE WHEN json_typeof(p_spur -> 3) = 'string'
                    THEN nullif(upper(btrim(p_spur ->> 3, E' \t\r\n')), '') END
           WHEN 'object' THEN
               coalesce(backfill_parse_ip_type(p_spur #> '{client,types}'),
                        CASE WHEN json_typeof(p_spur -> 'infrastructure') = 'string'
                             THEN nullif(upper(btrim(p_spur ->> 'infrastructure', E' \t\r\n')), '') END)
       END
$fn$;
