-- backfill_snapshot_source(enrichment json, first_event_at timestamptz) -> one row
--
-- THE snapshot rule of the backfill, for one session: what each snapshot column
-- should hold, where that value comes from, and why the session must be rejected
-- when it must. Used by backfill_snapshots_batch (real and dry runs) and by the
-- benchmark's single set-based UPDATE, so that all of them compute the same thing.
-- Values describe the IP as it was at the session's time; sources in order:
--   source_ip        dshield.ip.number (canonical form), set only when ip_inventory
--                    has that IP (foreign key); otherwise left NULL ("no inventory")
--   snapshot_asn     cymru.asn ('AS' prefix stripped) -> ip_asn_history, latest
--                    observation at or before first_event_at -> ip_inventory.current_asn
--   snapshot_country maxmind.country -> cymru.country -> dshield.ip.ascountry (the
--                    first one present) -> ip_inventory.geo_country -> 'XX' (unknown),
--                    upper-cased; must then match ^[A-Z]{2}$
--   snapshot_ip_type spur.client.types (string, or first string of an array) ->
--                    ip_inventory.ip_types[1], trimmed and upper-cased
--   enrichment_at    enriched_at -> ip_inventory.enrichment_updated_at
-- A value that is present in the JSON but unusable is never silently replaced by a
-- fallback: the session is rejected. reject_reason, first that applies:
--   no_enrichment   enrichment is SQL NULL, JSON null, not an object, or an object
--                   with none of dshield, cymru, maxmind, spur, enriched_at ({})
--   no_source_ip    dshield.ip.number missing, null or blank
--   bad_ip          dshield.ip.number is not a single IPv4/IPv6 host address
--   bad_asn         cymru.asn present but not a positive integer (after 'AS')
--   bad_country     the chosen country is not two letters after upper-casing
--   bad_enriched_at enriched_at present but not a date-time
-- reject_detail is the offending raw value (at most 200 characters).
-- The *_source columns say 'json', 'history', 'inventory' or 'default' (NULL when
-- no value). Raises only when the JSON cannot be read as text (a \u0000 escape
-- anywhere in the document); the batch function isolates such rows.
-- Locks: none (reads ip_inventory and ip_asn_history, one index probe each).
-- LANGUAGE sql with a single SELECT, so it is inlined into the caller's query as a
-- LATERAL subquery (no per-row function call); the OFFSET 0 fences make the JSON
-- conversion and each parse run once per row, not once per reference (the country's
-- parse, read by the value, the reason and the detail, ran up to three times per row:
-- 6% of a dry run and ~4% of the floor on a 400k copy).
CREATE OR REPLACE FUNCTION backfill_snapshot_source(p_enrichment json, p_first_event_at timestamptz)
RETURNS TABLE (
    parsed_ip            text,
    in_inventory         boolean,
    new_source_ip        varchar(45),
    new_snapshot_asn     integer,
    asn_source           text,
    new_snapshot_country varchar(2),
    country_source       text,
    new_snapshot_ip_type text,
    ip_type_source       text,
    new_enrichment_at    timestamptz,
    enrichment_at_source text,
    reject_reason        text,
    reject_detail        text)
LANGUAGE sql STABLE
AS $fn$
SELECT p.ip,
       inv.ip_address IS NOT NULL,
       inv.ip_address,
       COALESCE(p.json_asn, h.asn_number, inv.current_asn),
       CASE WHEN p.json_asn IS NOT NULL THEN 'json'
            WHEN h.asn_number IS NOT NULL THEN 'history'
            WHEN inv.current_asn IS NOT NULL THEN 'inventory' END,
       c.country,
       CASE WHEN r.raw_country IS NOT NULL THEN 'json'
            WHEN inv.geo_country IS NOT NULL THEN 'inventory'
            ELSE 'default' END,
       COALESCE(p.json_ip_type, nullif(upper(btrim(inv.ip_types[1])), '')),
       CASE WHEN p.json_ip_type IS NOT NULL THEN 'json'
            WHEN nullif(btrim(inv.ip_types[1]), '') IS NOT NULL THEN 'inventory' END,
       COALESCE(p.json_at, inv.enrichment_updated_at),
       CASE WHEN p.json_at IS NOT NULL THEN 'json'
            WHEN inv.enrichment_updated_at IS NOT NULL THEN 'inventory' END,
       CASE WHEN j.empty IS DISTINCT FROM false THEN 'no_enrichment'
            WHEN r.raw_ip IS NULL THEN 'no_source_ip'
            WHEN p.ip IS NULL THEN 'bad_ip'
            WHEN r.raw_asn IS NOT NULL AND p.json_asn IS NULL THEN 'bad_asn'
            WHEN c.country IS NULL THEN 'bad_country'
            WHEN r.raw_at IS NOT NULL AND p.json_at IS NULL THEN 'bad_enriched_at' END,
       left(CASE WHEN j.empty IS DISTINCT FROM false THEN left(p_enrichment::text, 200)
                 WHEN r.raw_ip IS NULL THEN NULL
                 WHEN p.ip IS NULL THEN r.raw_ip
                 WHEN r.raw_asn IS NOT NULL AND p.json_asn IS NULL THEN r.raw_asn
                 WHEN c.country IS NULL
                     THEN COALESCE(r.raw_country, inv.geo_country)
                 WHEN r.raw_at IS NOT NULL AND p.json_at IS NULL THEN r.raw_at END, 200)
FROM (
    -- one parse of the document: the top-level members the snapshot needs, as JSON
    -- text (small), or no row when enrichment is not a JSON object
    SELECT x.dshield, x.cymru, x.maxmind, x.spur, x.enriched_at,
           (x.dshield IS NULL AND x.cymru IS NULL AND x.maxmind IS NULL AND x.spur IS NULL
            AND x.enriched_at IS NULL) AS empty
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL json_to_record(CASE WHEN json_typeof(p_enrichment) = 'object' THEN p_enrichment END)
         AS x(dshield json, cymru json, maxmind json, spur json, enriched_at json) ON true
    OFFSET 0
) j
CROSS JOIN LATERAL (
    SELECT nullif(btrim(j.dshield #>> '{ip,number}', E' \t\r\n'), '')          AS raw_ip,
           nullif(btrim(j.cymru ->> 'asn', E' \t\r\n'), '')                     AS raw_asn,
           COALESCE(nullif(btrim(j.maxmind ->> 'country', E' \t\r\n'), ''),
                    nullif(btrim(j.cymru ->> 'country', E' \t\r\n'), ''),
                    nullif(btrim(j.dshield #>> '{ip,ascountry}', E' \t\r\n'), '')) AS raw_country,
           nullif(btrim(j.enriched_at #>> '{}', E' \t\r\n'), '')               AS raw_at,
           j.spur #> '{client,types}'                                            AS raw_types
    OFFSET 0
) r
CROSS JOIN LATERAL (
    SELECT backfill_parse_ip(r.raw_ip)                  AS ip,
           backfill_parse_asn(r.raw_asn)                AS json_asn,
           backfill_parse_ip_type(r.raw_types)          AS json_ip_type,
           backfill_parse_timestamptz(r.raw_at)         AS json_at
    OFFSET 0
) p
LEFT JOIN ip_inventory inv ON inv.ip_address = p.ip
-- the chosen country, parsed once: the value, the reject reason and its detail read it
CROSS JOIN LATERAL (
    SELECT backfill_parse_country(COALESCE(r.raw_country, inv.geo_country, 'XX')) AS country
    OFFSET 0
) c
LEFT JOIN LATERAL (
    SELECT hh.asn_number
    FROM ip_asn_history hh
    WHERE p.json_asn IS NULL
      AND hh.ip_address = p.ip
      AND hh.observed_at <= p_first_event_at
    ORDER BY hh.observed_at DESC
    LIMIT 1
) h ON true
$fn$;
