-- backfill_enrichment_capture(enrichment json) -> one row
--
-- Reads a session's enrichment JSON in either shape the upstream code writes and
-- returns the raw values the snapshot rule (backfill_snapshot_source) chooses from,
-- plus which shape the document has. The one place where the JSON paths live.
--   loader  {"session": {"<ip>": {"dshield": ..., "urlhaus": ..., "spur": [...]}}, ...}
--           (the upstream loader): the capture is the value of the FIRST key of
--           "session" in document order (json, not jsonb, keeps it), the key is the IP;
--           ip_keys counts the keys.
--   flat    top-level dshield / cymru / maxmind / spur / enriched_at: the capture is
--           the document itself.
-- Each member is read from the capture and, where the capture lacks it, from the top
-- level. Blank strings are "no value here" (NULL). Columns:
--   shape           'loader'; 'skip_enrich' (loader shape whose capture holds no value:
--                   the loader's payload when enrichment was skipped or failed); 'flat';
--                   'empty' (SQL NULL, JSON null, {}, or a "session" object with no
--                   IP and nothing else); 'unknown' (not an object, or an object with
--                   none of the members above, e.g. only "virustotal"); 'unreadable' (a
--                   \u0000 escape anywhere: valid JSON that PostgreSQL cannot read as text,
--                   backfill_enrichment_unreadable; nothing of it is read, every value NULL)
--   no_members      none of session, dshield, cymru, maxmind, spur, enriched_at at the top
--                   level (or not an object): the rule's no_enrichment
--   raw_ip          the session key, else dshield.ip.number
--   raw_asn         dshield.ip.as -> dshield.ip.asnumber -> spur ASN (list [0]; object
--                   asn: a number, 'AS...' or {"number": ...}) -> cymru.asn
--   raw_geo         maxmind.country -> cymru.country (geolocation)
--   raw_as_country  dshield.ip.ascountry (the AS's registration country)
--   raw_at          enriched_at
--   spur            the spur member (list or object) for backfill_spur_ip_type
-- Never raises for a \u0000 escape: the document is checked for one before it is read
-- (json_to_record reads the whole document, and would fail on it).
-- Locks: none (reads nothing). LANGUAGE sql, one SELECT: inlined into the caller.
CREATE OR REPLACE FUNCTION backfill_enrichment_capture(p_enrichment json)
RETURNS TABLE (
    shape          text,
    no_members     boolean,
    ip_keys        integer,
    raw_ip         text,
    raw_asn        text,
    raw_geo        text,
    raw_as_country text,
    raw_at         text,
    spur           json)
LANGUAGE sql IMMUTABLE
AS $fn$
SELECT CASE WHEN j.unreadable THEN 'unreadable'
            WHEN p_enrichment IS NULL OR json_typeof(p_enrichment) = 'null' THEN 'empty'
            WHEN j.no_members IS DISTINCT FROM false
                THEN CASE WHEN p_enrichment::text ~ '^\s*\{\s*\}\s*$' THEN 'empty' ELSE 'unknown' END
            WHEN k.ip_keys IS NOT NULL
                THEN CASE WHEN r.raw_asn IS NULL AND r.raw_geo IS NULL AND r.raw_as_country IS NULL
                               AND r.raw_at IS NULL AND backfill_spur_ip_type(r.spur) IS NULL
                          THEN 'skip_enrich' ELSE 'loader' END
            WHEN j.dshield IS NULL AND j.cymru IS NULL AND j.maxmind IS NULL AND j.spur IS NULL
                 AND j.enriched_at IS NULL THEN 'empty'
            ELSE 'flat' END,
       j.no_members IS DISTINCT FROM false AND NOT j.unreadable,
       k.ip_keys::integer,
       r.raw_ip, r.raw_asn, r.raw_geo, r.raw_as_country, r.raw_at, r.spur
FROM (
    -- one parse of the document: the top-level members, as JSON text, or no row when
    -- enrichment is not a JSON object or cannot be read (json_typeof reads only the
    -- first token, so it is safe on an unreadable document)
    SELECT g.unreadable, x.session, x.dshield, x.cymru, x.maxmind, x.spur, x.enriched_at,
           (x.session IS NULL AND x.dshield IS NULL AND x.cymru IS NULL AND x.maxmind IS NULL
            AND x.spur IS NULL AND x.enriched_at IS NULL) AS no_members
    FROM (SELECT backfill_enrichment_unreadable(p_enrichment) AS unreadable) AS g
    LEFT JOIN LATERAL json_to_record(CASE WHEN NOT g.unreadable AND json_typeof(p_enrichment) = 'object'
                                          THEN p_enrichment END)
         AS x(session json, dshield json, cymru json, maxmind json, spur json, enriched_at json) ON true
    OFFSET 0
) j
-- loader shape: the first key of "session" and its value
LEFT JOIN LATERAL (
    SELECT e.key AS ip_key, e.value AS capture, count(*) OVER () AS ip_keys
    FROM json_each(CASE WHEN json_typeof(j.session) = 'object' THEN j.session END)
         WITH ORDINALITY AS e(key, value, n)
    ORDER BY e.n
    LIMIT 1
) k ON true
LEFT JOIN LATERAL json_to_record(CASE WHEN json_typeof(k.capture) = 'object' THEN k.capture END)
     AS cap(dshield json, cymru json, maxmind json, spur json, enriched_at json) ON true
CROSS JOIN LATERAL (
    SELECT COALESCE(nullif(btrim(k.ip_key, E' \t\r\n'), ''),
                    nullif(btrim(m.dshield #>> '{ip,number}', E' \t\r\n'), ''))         AS raw_ip,
           COALESCE(nullif(btrim(m.dshield #>> '{ip,as}', E' \t\r\n'), ''),
                    nullif(btrim(m.dshield #>> '{ip,asnumber}', E' \t\r\n'), ''),
                    nullif(btrim(CASE json_typeof(m.spur)
                                     WHEN 'array' THEN m.spur ->> 0
                                     WHEN 'object' THEN
                                         CASE WHEN json_typeof(m.spur -> 'asn') = 'object'
                                              THEN m.spur #>> '{asn,number}'
                                              ELSE m.spur ->> 'asn' END
                                 END, E' \t\r\n'), ''),
                    nullif(btrim(m.cymru ->> 'asn', E' \t\r\n'), ''))                   AS raw_asn,
           COALESCE(nullif(btrim(m.maxmind ->> 'country', E' \t\r\n'), ''),
                    nullif(btrim(m.cymru ->> 'country', E' \t\r\n'), ''))               AS raw_geo,
           nullif(btrim(m.dshield #>> '{ip,ascountry}', E' \t\r\n'), '')                AS raw_as_country,
           nullif(btrim(m.enriched_at #>> '{}', E' \t\r\n'), '')                        AS raw_at,
           m.spur
    FROM (SELECT COALESCE(cap.dshield, j.dshield) AS dshield, COALESCE(cap.cymru, j.cymru) AS cymru,
                 COALESCE(cap.maxmind, j.maxmind) AS maxmind, COALESCE(cap.spur, j.spur) AS spur,
                 COALESCE(cap.enriched_at, j.enriched_at) AS enriched_at) m
    OFFSET 0
) r
$fn$;
