-- validate_benchmark_queries(country, ip_type, min_ips) -> the runbooks' analysis queries,
-- each written twice: with the ADR-007 snapshot columns and with the JOIN to ip_inventory
-- that the snapshots replace. `cowrie-db validate` times both forms (median of several
-- runs), compares their results and summarises their EXPLAIN ANALYZE plans; a DBA can
-- copy them into psql:  SELECT name, snapshot_sql, join_sql FROM validate_benchmark_queries();
--   country_count       runbook "Performance Benchmarks": sessions from one country
--   country_type_count  runbook step 2.5: sessions from one country and IP type
--   asn_clustering      runbook step 4.4 "campaign clustering": top 20 (ASN, country)
--   snowshoe            runbook step 4.4 "snowshoe detection": ASNs with more than min_ips
--                       distinct source IPs of one country and IP type
-- The JOIN forms read today's ip_inventory: ip_inventory has no single ip_type column
-- (the runbook's ip.ip_type does not exist), so the IP type is backfill_inventory_ip_type()
-- (ip_types, else the row's SPUR data), the value the backfill falls back to. Every ORDER BY has tie-breakers so that the two
-- forms' results compare row by row. expected_index names the index the snapshot form
-- should be able to use (for the "missing index" explanation).
-- Literals go through format('%L'). Locks: none (returns text). Writes nothing.
CREATE OR REPLACE FUNCTION validate_benchmark_queries(
    p_country text DEFAULT 'CN', p_ip_type text DEFAULT 'DATACENTER', p_min_ips integer DEFAULT 100)
RETURNS TABLE (ordinal integer, name text, description text, snapshot_sql text, join_sql text, expected_index text)
LANGUAGE sql IMMUTABLE
AS $fn$
SELECT * FROM (VALUES
    (1, 'country_count',
     format('sessions from country %s', p_country),
     format('SELECT count(*) AS sessions FROM session_summaries WHERE snapshot_country = %L', p_country),
     format('SELECT count(*) AS sessions FROM session_summaries ss JOIN ip_inventory ip ON ss.source_ip = ip.ip_address WHERE ip.geo_country = %L', p_country),
     'ix_session_summaries_snapshot_country'),
    (2, 'country_type_count',
     format('sessions from country %s with IP type %s', p_country, p_ip_type),
     format('SELECT count(*) AS sessions FROM session_summaries WHERE snapshot_country = %L AND snapshot_ip_type = %L', p_country, p_ip_type),
     format('SELECT count(*) AS sessions FROM session_summaries ss JOIN ip_inventory ip ON ss.source_ip = ip.ip_address WHERE ip.geo_country = %L AND backfill_inventory_ip_type(ip.ip_types, (ip.enrichment -> ''spur'')::json) = %L', p_country, p_ip_type),
     'ix_session_summaries_snapshot_country'),
    (3, 'asn_clustering',
     'top 20 (ASN, country) by sessions: campaign clustering',
     'SELECT snapshot_asn AS asn, snapshot_country AS country, count(*) AS session_count FROM session_summaries WHERE snapshot_asn IS NOT NULL GROUP BY snapshot_asn, snapshot_country ORDER BY session_count DESC, asn, country LIMIT 20',
     'SELECT ip.current_asn AS asn, ip.geo_country AS country, count(*) AS session_count FROM session_summaries ss JOIN ip_inventory ip ON ss.source_ip = ip.ip_address WHERE ip.current_asn IS NOT NULL GROUP BY ip.current_asn, ip.geo_country ORDER BY session_count DESC, asn, country LIMIT 20',
     'ix_session_summaries_snapshot_asn'),
    (4, 'snowshoe',
     format('ASNs with more than %s distinct %s %s source IPs: snowshoe detection', p_min_ips, p_country, p_ip_type),
     format('SELECT snapshot_asn AS asn, count(DISTINCT source_ip) AS unique_ips FROM session_summaries WHERE snapshot_country = %L AND snapshot_ip_type = %L GROUP BY snapshot_asn HAVING count(DISTINCT source_ip) > %s ORDER BY unique_ips DESC, asn LIMIT 10', p_country, p_ip_type, p_min_ips),
     format('SELECT ip.current_asn AS asn, count(DISTINCT ss.source_ip) AS unique_ips FROM session_summaries ss JOIN ip_inventory ip ON ss.source_ip = ip.ip_address WHERE ip.geo_country = %L AND backfill_inventory_ip_type(ip.ip_types, (ip.enrichment -> ''spur'')::json) = %L GROUP BY ip.current_asn HAVING count(DISTINCT ss.source_ip) > %s ORDER BY unique_ips DESC, asn LIMIT 10', p_country, p_ip_type, p_min_ips),
     'ix_session_summaries_snapshot_country')
) AS q(ordinal, name, description, snapshot_sql, join_sql, expected_index)
ORDER BY 1
$fn$;
