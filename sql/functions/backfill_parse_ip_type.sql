-- backfill_parse_ip_type(types json) -> text
--
-- The IP type of a session from its enrichment JSON (spur.client.types), which is
-- a string ('DATACENTER') in older sessions and an array (['MOBILE', 'DESKTOP'])
-- in newer ones. A string gives itself; an array gives its first element that is
-- a non-blank string. The value is trimmed and upper-cased ('datacenter' ->
-- 'DATACENTER'), the form the snapshot queries compare with. JSON null, an empty
-- string or array, a number, a boolean or an object give NULL ("no value": the
-- backfill then falls back to ip_inventory.ip_types[1]).
-- Raises only for a string holding a \u0000 escape (not representable as text).
-- Locks: none (reads nothing). Inlined (LANGUAGE sql, one expression).
CREATE OR REPLACE FUNCTION backfill_parse_ip_type(p_types json)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
SELECT nullif(upper(btrim(
           CASE json_typeof(p_types)
               WHEN 'string' THEN p_types #>> '{}'
               WHEN 'array' THEN
                   CASE WHEN json_typeof(p_types -> 0) = 'string'
                             AND btrim(p_types ->> 0, E' \t\r\n') <> ''
                        THEN p_types ->> 0
                        ELSE jsonb_path_query_first(
                                 p_types::jsonb,
                                 'strict $[*] ? (@.type() == "string" && !(@ like_regex "^[ \\t\\r\\n]*$"))')
                             #>> '{}'
                   END
           END, E' \t\r\n')), '')
$fn$;
