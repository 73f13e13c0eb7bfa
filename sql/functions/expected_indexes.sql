-- expected_indexes(): THE list of the secondary indexes of the v16 schema, in one place.
-- definition is written exactly as pg_get_indexdef() prints it after "ON <table> " (access
-- method always explicit), so a live index compares with it textually.
-- Used by: migration 002, ensure_index(), schema_repair_plan(), rollback_v16_to_v15().
-- Locks: none (constant data).
CREATE OR REPLACE FUNCTION expected_indexes()
RETURNS TABLE (
    ordinal    integer,
    table_name text,
    index_name text,
    definition text     -- e.g. 'USING btree (source_ip)'
)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT * FROM (VALUES
        (1,  'session_summaries', 'ix_session_summaries_source_ip',        'USING btree (source_ip)'),
        (2,  'session_summaries', 'ix_session_summaries_first_event_brin', 'USING brin (first_event_at)'),
        (3,  'session_summaries', 'ix_session_summaries_last_event_brin',  'USING brin (last_event_at)'),
        (4,  'session_summaries', 'ix_session_summaries_snapshot_asn',     'USING btree (snapshot_asn)'),
        (5,  'session_summaries', 'ix_session_summaries_snapshot_country', 'USING btree (snapshot_country)'),
        (6,  'ip_inventory',      'ix_ip_inventory_current_asn',           'USING btree (current_asn)'),
        (7,  'ip_inventory',      'ix_ip_inventory_geo_country',           'USING btree (geo_country)'),
        (8,  'ip_inventory',      'ix_ip_inventory_is_scanner',            'USING btree (is_scanner)'),
        (9,  'ip_inventory',      'ix_ip_inventory_ip_types',              'USING gin (ip_types)'),
        (10, 'ip_asn_history',    'ix_ip_asn_history_ip_observed',         'USING btree (ip_address, observed_at DESC)'),
        (11, 'asn_inventory',     'ix_asn_inventory_country',              'USING btree (organization_country)')
    ) AS v(ordinal, table_name, index_name, definition)
    ORDER BY 1
$fn$;
