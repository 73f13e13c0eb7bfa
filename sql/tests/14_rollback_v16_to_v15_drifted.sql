-- 14_rollback_v16_to_v15_drifted: the v16 -> v15 rollback on the schemas found in the field,
-- where the upstream cleanup failed: the snapshot type column in both spellings (plural
-- text[] next to singular), an incomplete ip_inventory (no generated columns), a NOT VALID
-- foreign key, a missing index. Everything v16 is removed, every session row is kept.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(8);

INSERT INTO session_summaries (session_id, enrichment, event_count, snapshot_ip_type)
SELECT format('t14-%s', g), json_build_object('n', g), g, 'MOBILE' FROM generate_series(1, 10) g;
ALTER TABLE session_summaries ADD COLUMN snapshot_ip_types text[];
UPDATE session_summaries SET snapshot_ip_types = '{DATACENTER}';
ALTER TABLE ip_inventory DROP COLUMN geo_country, DROP COLUMN is_scanner, DROP COLUMN is_bogon, DROP COLUMN ip_types;
ALTER TABLE session_summaries DROP CONSTRAINT fk_session_summaries_source_ip,
    ADD CONSTRAINT fk_session_summaries_source_ip FOREIGN KEY (source_ip) REFERENCES ip_inventory (ip_address) NOT VALID;
DROP INDEX ix_session_summaries_snapshot_asn;

CREATE TEMP TABLE t14_before AS
    SELECT session_id::text, event_count, enrichment::text, created_at FROM session_summaries;

SELECT is((SELECT state FROM snapshot_ip_type_state()), 'both', 'built state: both spellings of the snapshot type column');
SELECT lives_ok('SELECT * FROM rollback_v16_to_v15()', 'rollback_v16_to_v15() runs on the drifted, incomplete schema');
SELECT hasnt_column('session_summaries', 'snapshot_ip_types', 'the plural snapshot column is dropped');
SELECT hasnt_column('session_summaries', 'snapshot_ip_type', 'the singular snapshot column is dropped');
SELECT hasnt_table('ip_inventory', 'the incomplete ip_inventory is dropped');
SELECT is((SELECT value::text FROM schema_state WHERE key = 'schema_version'), '15', 'schema_version is 15');
SELECT set_eq('SELECT session_id::text, event_count, enrichment::text, created_at FROM session_summaries',
              'SELECT * FROM t14_before', 'every session row and its enrichment are kept');
SELECT is(verify_v15_schema(), 'verified: v15 schema (no v16 tables, columns or constraints; schema_version 15)',
          'the verify step passes');

SELECT * FROM finish();
ROLLBACK;
