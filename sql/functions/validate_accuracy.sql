-- validate_accuracy(sample_size, seed) -> one row per sampled filled session
--
-- Recomputes the snapshot columns of a reproducible random sample of FILLED sessions
-- (snapshot_country IS NOT NULL) with the backfill's own rule, backfill_snapshot_source(),
-- i.e. from the same sources the backfill reads (session JSON, ip_asn_history as of
-- first_event_at, ip_inventory), and compares them with what is stored.
-- Sample: the sample_size sessions with the smallest hashtextextended(session_id, seed);
-- the same seed on the same data gives the same sample whatever the physical order
-- (no OFFSET, no random(): one sequential scan with a top-N sort of hashes).
-- Columns:
--   matches        all five stored columns equal the recomputed ones (IS NOT DISTINCT FROM)
--                  and the rule does not reject the session
--   mismatched     the names of the columns that differ ('reject:<reason>' when the rule
--                  would not have written this session at all; 'reject:row_error' when its
--                  JSON cannot be read)
--   stored_* / expected_*  the values, for the report
--   temporal_drift the stored snapshot differs from TODAY's ip_inventory (current_asn,
--                  geo_country, backfill_inventory_ip_type): the IP moved since the attack. Expected and
--                  reported apart, not an error. drift_columns names what differs.
-- psql: SELECT * FROM validate_accuracy(1000, 42) WHERE NOT matches;
-- Locks: ACCESS SHARE on session_summaries, ip_inventory, ip_asn_history. Writes nothing.
CREATE OR REPLACE FUNCTION validate_accuracy(p_sample_size integer, p_seed bigint)
RETURNS TABLE (
    session_id        varchar(64),
    matches           boolean,
    mismatched        text[],
    stored_source_ip  varchar(45),  expected_source_ip  varchar(45),
    stored_asn        integer,      expected_asn        integer,
    stored_country    varchar(2),   expected_country    varchar(2),
    stored_ip_type    text,         expected_ip_type    text,
    stored_enrichment_at timestamptz, expected_enrichment_at timestamptz,
    temporal_drift    boolean,
    drift_columns     text[])
LANGUAGE sql STABLE
AS $fn$
SELECT x.session_id,
       cardinality(x.mismatched) = 0,
       x.mismatched,
       x.source_ip, x.new_source_ip,
       x.snapshot_asn, x.new_snapshot_asn,
       x.snapshot_country, x.new_snapshot_country,
       x.snapshot_ip_type, x.new_snapshot_ip_type,
       x.enrichment_at, x.new_enrichment_at,
       cardinality(x.drift) > 0,
       x.drift
FROM (
    SELECT s.session_id, s.source_ip, s.snapshot_asn, s.snapshot_country, s.snapshot_ip_type, s.enrichment_at,
           r.new_source_ip, r.new_snapshot_asn, r.new_snapshot_country, r.new_snapshot_ip_type, r.new_enrichment_at,
           CASE WHEN r.reject_reason IS NOT NULL THEN ARRAY['reject:' || r.reject_reason]
                ELSE array_remove(ARRAY[
                    CASE WHEN s.source_ip IS DISTINCT FROM r.new_source_ip THEN 'source_ip' END,
                    CASE WHEN s.snapshot_asn IS DISTINCT FROM r.new_snapshot_asn THEN 'snapshot_asn' END,
                    CASE WHEN s.snapshot_country IS DISTINCT FROM r.new_snapshot_country THEN 'snapshot_country' END,
                    CASE WHEN s.snapshot_ip_type IS DISTINCT FROM r.new_snapshot_ip_type THEN 'snapshot_ip_type' END,
                    CASE WHEN s.enrichment_at IS DISTINCT FROM r.new_enrichment_at THEN 'enrichment_at' END], NULL)
           END AS mismatched,
           CASE WHEN inv.ip_address IS NULL THEN '{}'::text[]
                ELSE array_remove(ARRAY[
                    CASE WHEN s.snapshot_asn IS DISTINCT FROM inv.current_asn THEN 'asn' END,
                    CASE WHEN s.snapshot_country IS DISTINCT FROM inv.geo_country THEN 'country' END,
                    CASE WHEN s.snapshot_ip_type IS DISTINCT FROM backfill_inventory_ip_type(inv.ip_types, (inv.enrichment -> 'spur')::json) THEN 'ip_type' END], NULL)
           END AS drift
    FROM (
        SELECT ss.*
        FROM session_summaries ss
        WHERE ss.snapshot_country IS NOT NULL
        ORDER BY hashtextextended(ss.session_id, p_seed), ss.session_id
        LIMIT greatest(p_sample_size, 0)
    ) s
    CROSS JOIN LATERAL backfill_snapshot_source(s.enrichment, s.first_event_at, s.created_at) r
    LEFT JOIN ip_inventory inv ON inv.ip_address = s.source_ip
) x
ORDER BY x.session_id
$fn$;
