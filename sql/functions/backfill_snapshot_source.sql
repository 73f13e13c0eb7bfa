-- backfill_snapshot_source(enrichment json, first_event_at timestamptz, created_at timestamptz)
--   -> one row
--
-- THE snapshot rule of the backfill, for one session: what each snapshot column
-- should hold, where that value comes from, and why the session must be rejected
-- when it must. Used by backfill_snapshot_page (real and dry runs), by validation
-- (coverage, accuracy, readiness) and by the benchmark's set-based UPDATE, so that
-- all of them compute the same thing. created_at is the session row's own.
--
-- The JSON is read by backfill_enrichment_capture, in either shape the upstream code
-- writes (the loader's {"session": {"<ip>": {...}}}, or flat top-level members); its
-- shape and ip_keys (IPs named under "session") are passed through. Blank strings mean
-- "no value here" (the loader's skip-enrich payload is all blanks): the next source
-- is read.
-- Values describe the IP as it was at the session's time; sources in order:
--   source_ip        the session key, else dshield.ip.number (canonical form); set
--                    only when ip_inventory has that IP (foreign key), else NULL
--   snapshot_asn     dshield.ip.as -> dshield.ip.asnumber -> spur ASN (list [0];
--                    object asn: a number, 'AS...' or {"number": ...}) -> cymru.asn
--                    ('AS' prefix allowed) -> ip_asn_history, latest observation at
--                    or before first_event_at -> ip_inventory.current_asn
--   snapshot_country maxmind.country -> cymru.country (geolocation captured with the
--                    session) -> ip_inventory.geo_country unless 'XX' ->
--                    dshield.ip.ascountry (the AS's registration country) -> 'XX';
--                    upper-cased, must then match ^[A-Z]{2}$
--   snapshot_ip_type spur (backfill_spur_ip_type: list [3], or object client.types
--                    then infrastructure) -> the inventory's type
--                    (backfill_inventory_ip_type: ip_types, then the spur member of
--                    ip_inventory.enrichment); of several, the preferred one
--                    (backfill_parse_ip_type)
--   enrichment_at    enriched_at -> the session's created_at when any value above came
--                    from its own capture (source 'session') ->
--                    ip_inventory.enrichment_updated_at
-- A value that is present but unusable is never silently replaced by a fallback:
-- the session is rejected. reject_reason, first that applies:
--   row_error       the document cannot be read as text (see below)
--   no_enrichment   enrichment is SQL NULL, JSON null, not an object, or an object
--                   with none of session, dshield, cymru, maxmind, spur, enriched_at
--   no_source_ip    no session key and no dshield.ip.number (missing, null, blank)
--   bad_ip          the IP is not a single IPv4/IPv6 host address
--   bad_asn         the first ASN present is not a positive integer (after 'AS')
--   bad_country     the chosen country is not two letters after upper-casing
--   bad_enriched_at enriched_at present but not a date-time
-- reject_detail is the offending raw value (at most 200 characters).
-- The *_source columns say 'json', 'session', 'history', 'inventory' or 'default'
-- (NULL when no value). A document with a \u0000 escape anywhere (valid JSON that
-- PostgreSQL cannot read as text: shape 'unreadable') is the reject 'row_error' with
-- detail 22P05, and nothing of it is read; a row that still makes a statement fail is
-- isolated by the batch function under the same reason.
-- Locks: none (reads ip_inventory and ip_asn_history, one index probe each).
-- LANGUAGE sql with a single SELECT, so it is inlined into the caller's query as a
-- LATERAL subquery (no per-row function call); the OFFSET 0 fences make the JSON
-- conversion and each parse run once per row, not once per reference.
CREATE OR REPLACE FUNCTION backfill_snapshot_source(
    p_enrichment     json,
    p_first_event_at timestamptz,
    p_created_at     timestamptz)
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
    reject_detail        text,
    ip_keys              integer,
    shape                text)
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
       c.source,
       COALESCE(p.json_ip_type, t.inv_ip_type),
       CASE WHEN p.json_ip_type IS NOT NULL THEN 'json'
            WHEN t.inv_ip_type IS NOT NULL THEN 'inventory' END,
       CASE WHEN p.json_at IS NOT NULL THEN p.json_at
            WHEN a.captured THEN p_created_at
            ELSE inv.enrichment_updated_at END,
       CASE WHEN p.json_at IS NOT NULL THEN 'json'
            WHEN a.captured THEN 'session'
            WHEN inv.enrichment_updated_at IS NOT NULL THEN 'inventory' END,
       CASE WHEN r.shape = 'unreadable' THEN 'row_error'
            WHEN r.no_members THEN 'no_enrichment'
            WHEN r.raw_ip IS NULL THEN 'no_source_ip'
            WHEN p.ip IS NULL THEN 'bad_ip'
            WHEN r.raw_asn IS NOT NULL AND p.json_asn IS NULL THEN 'bad_asn'
            WHEN c.country IS NULL THEN 'bad_country'
            WHEN r.raw_at IS NOT NULL AND p.json_at IS NULL THEN 'bad_enriched_at' END,
       left(CASE WHEN r.shape = 'unreadable'
                     THEN '22P05: unsupported Unicode escape sequence (a \u0000 escape in the enrichment JSON)'
                 WHEN r.no_members THEN left(p_enrichment::text, 200)
                 WHEN r.raw_ip IS NULL THEN NULL
                 WHEN p.ip IS NULL THEN r.raw_ip
                 WHEN r.raw_asn IS NOT NULL AND p.json_asn IS NULL THEN r.raw_asn
                 WHEN c.country IS NULL THEN c.raw
                 WHEN r.raw_at IS NOT NULL AND p.json_at IS NULL THEN r.raw_at END, 200),
       r.ip_keys,
       r.shape
FROM backfill_enrichment_capture(p_enrichment) r
CROSS JOIN LATERAL (
    SELECT backfill_parse_ip(r.raw_ip)                  AS ip,
           backfill_parse_asn(r.raw_asn)                AS json_asn,
           backfill_spur_ip_type(r.spur)                AS json_ip_type,
           backfill_parse_timestamptz(r.raw_at)         AS json_at
    OFFSET 0
) p
LEFT JOIN ip_inventory inv ON inv.ip_address = p.ip
-- the chosen country, parsed once: the value, its source, the reject and its detail read it
CROSS JOIN LATERAL (
    SELECT x.raw, backfill_parse_country(x.raw) AS country,
           CASE WHEN r.raw_geo IS NOT NULL THEN 'json'
                WHEN inv.geo_country <> 'XX' THEN 'inventory'
                WHEN r.raw_as_country IS NOT NULL THEN 'json'
                ELSE 'default' END AS source
    FROM (SELECT COALESCE(r.raw_geo, nullif(inv.geo_country, 'XX'), r.raw_as_country, 'XX') AS raw) x
    OFFSET 0
) c
-- the inventory's IP type, read only when the session's capture has none
CROSS JOIN LATERAL (
    SELECT CASE WHEN p.json_ip_type IS NULL AND inv.ip_address IS NOT NULL
                THEN backfill_inventory_ip_type(inv.ip_types, (inv.enrichment -> 'spur')::json) END AS inv_ip_type
    OFFSET 0
) t
LEFT JOIN LATERAL (
    SELECT hh.asn_number
    FROM ip_asn_history hh
    WHERE p.json_asn IS NULL
      AND hh.ip_address = p.ip
      AND hh.observed_at <= p_first_event_at
    ORDER BY hh.observed_at DESC
    LIMIT 1
) h ON true
-- whether a value written comes from the session's own capture (enrichment_at)
CROSS JOIN LATERAL (
    SELECT (p.json_asn IS NOT NULL OR c.source = 'json' OR p.json_ip_type IS NOT NULL)
           AND p_created_at IS NOT NULL AS captured
) a
$fn$;
