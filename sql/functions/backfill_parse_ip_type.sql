-- backfill_parse_ip_type(types json) -> text
--
-- One IP type from a SPUR "types" value: spur.client.types of a session or of an
-- ip_inventory row, or ip_inventory.ip_types passed as to_json(text[]). A string
-- gives itself. An array gives the element the upstream loader prefers when several
-- are present, VPN > TOR > PROXY > DATACENTER > RESIDENTIAL > MOBILE, else its first
-- non-blank string (['MOBILE', 'VPN'] -> 'VPN'; ['DESKTOP', 'MOBILE'] -> 'MOBILE';
-- ['DESKTOP', 'LAPTOP'] -> 'DESKTOP'). The value is trimmed and upper-cased
-- ('datacenter' -> 'DATACENTER'), the form the snapshot queries compare with. JSON
-- null, an empty string or array, a number, a boolean or an object give NULL ("no
-- value": the rule then reads the next source).
-- Raises only for a string holding a \u0000 escape (not representable as text).
-- Locks: none (reads nothing). Inlined (LANGUAGE sql, one expression).
CREATE OR REPLACE FUNCTION backfill_parse_ip_type(p_types json)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
SELECT CASE json_typeof(p_types)
           WHEN 'string' THEN nullif(upper(btrim(p_types #>> '{}', E' \t\r\n')), '')
           WHEN 'array' THEN (
               SELECT t.v
               FROM (SELECT upper(btrim(a.elem #>> '{}', E' \t\r\n')) AS v, a.n
                     FROM json_array_elements(p_types) WITH ORDINALITY AS a(elem, n)
                     WHERE json_typeof(a.elem) = 'string') t
               WHERE t.v <> ''
               ORDER BY coalesce(array_position(ARRAY['VPN', 'TOR', 'PROXY', 'DATACENTER', 'RESIDENTIAL', 'MOBILE'], t.v), 7),
                        t.n
               LIMIT 1)
       END
$fn$;
