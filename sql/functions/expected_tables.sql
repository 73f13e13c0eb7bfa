-- expected_tables(): THE list of the tables of the cowrie-db schema (the upstream's v15/v16
-- tables this toolkit reads and repairs), with their primary key columns, whether the
-- backfill cannot run without them, and the migration that creates them. Every other table
-- in the database (the upstream's raw_events, files, longtail_*, password_*, ...) is not ours:
-- nothing here inspects, changes or drops it.
-- Used by: schema_findings(), schema_duplicates(). Locks: none (constant data).
CREATE OR REPLACE FUNCTION expected_tables()
RETURNS TABLE (ordinal integer, table_name text, key_columns text[], critical boolean, created_by text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT * FROM (VALUES
        (1, 'schema_state',      ARRAY['key'],                                    false, '001_v15-baseline'),
        (2, 'session_summaries', ARRAY['session_id'],                             true,  '001_v15-baseline'),
        (3, 'asn_inventory',     ARRAY['asn_number'],                             false, '002_v16-three-tier-enrichment'),
        (4, 'ip_inventory',      ARRAY['ip_address'],                             true,  '002_v16-three-tier-enrichment'),
        (5, 'ip_asn_history',    ARRAY['ip_address', 'asn_number', 'observed_at'], false, '002_v16-three-tier-enrichment')
    ) AS v(ordinal, table_name, key_columns, critical, created_by)
    ORDER BY 1
$fn$;
