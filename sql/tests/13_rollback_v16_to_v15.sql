-- 13_rollback_v16_to_v15: rollback_v16_to_v15() (the code sql/rollback/v16_to_v15.sql and the
-- Down of migration 002 run) on a complete v16 schema with data: the v16 tables, columns,
-- constraints and indexes are gone, schema_version is 15, every session row keeps every v15
-- column (enrichment included), dependent views and foreign keys from other tables are dropped
-- (the other tables are kept), and the verify step agrees; a second run is harmless.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(15);

INSERT INTO asn_inventory (asn_number, first_seen, last_seen) VALUES (4134, now(), now());
INSERT INTO ip_inventory (ip_address, current_asn, first_seen, last_seen, enrichment)
VALUES ('198.51.100.1', 4134, now(), now(), '{"maxmind": {"country": "CN"}}');
INSERT INTO ip_asn_history VALUES ('198.51.100.1', 4134, now());
INSERT INTO session_summaries (session_id, first_event_at, last_event_at, event_count, command_count, vt_flagged,
                               risk_score, matcher, source_files, enrichment, source_ip, snapshot_asn,
                               snapshot_country, snapshot_ip_type, enrichment_at)
SELECT format('t13-%s', g), now() - g * interval '1 hour', now(), g, g * 2, g % 2 = 0, g, 'm',
       json_build_array(format('cowrie.json.%s', g)),
       json_build_object('dshield', json_build_object('ip', json_build_object('number', '198.51.100.1')), 'n', g),
       CASE WHEN g % 2 = 0 THEN '198.51.100.1' END, 4134, 'CN', 'DATACENTER', now()
  FROM generate_series(1, 25) g;
INSERT INTO session_summaries (session_id, enrichment) VALUES ('t13-null', NULL);

CREATE TEMP TABLE t13_before AS
    SELECT session_id::text, first_event_at, last_event_at, event_count, command_count, file_downloads,
           login_attempts, ssh_key_injections, unique_ssh_keys, vt_flagged, dshield_flagged, risk_score,
           matcher::text, source_files::text, enrichment::text, created_at, updated_at
      FROM session_summaries;
CREATE VIEW t13_country_view AS SELECT session_id, snapshot_country FROM session_summaries;
CREATE VIEW t13_inventory_view AS SELECT ip_address, geo_country FROM ip_inventory;
CREATE VIEW t13_v15_view AS SELECT session_id, event_count FROM session_summaries;
CREATE TABLE t13_tool_table (ip varchar(45) REFERENCES ip_inventory (ip_address), note text);
INSERT INTO t13_tool_table VALUES ('198.51.100.1', 'kept');

SELECT throws_like('SELECT verify_v15_schema()', 'VERIFY FAILED: the database is not at the v15 schema:%',
                   'the verify step fails loudly on a v16 database');
SELECT ok((SELECT bool_or(s LIKE 'verified: 26 session rows%') FROM rollback_v16_to_v15() s),
          'rollback_v16_to_v15() runs and verifies 26 session rows unchanged');
SELECT hasnt_table(t) FROM unnest(ARRAY['ip_asn_history', 'ip_inventory', 'asn_inventory']) t;
SELECT columns_are('session_summaries', ARRAY['session_id', 'first_event_at', 'last_event_at', 'event_count',
    'command_count', 'file_downloads', 'login_attempts', 'ssh_key_injections', 'unique_ssh_keys', 'vt_flagged',
    'dshield_flagged', 'risk_score', 'matcher', 'source_files', 'enrichment', 'created_at', 'updated_at']);
SELECT indexes_are('session_summaries', ARRAY['session_summaries_pkey']);
SELECT is((SELECT value::text FROM schema_state WHERE key = 'schema_version'), '15', 'schema_version is 15');
SELECT set_eq(
    $$SELECT session_id::text, first_event_at, last_event_at, event_count, command_count, file_downloads,
             login_attempts, ssh_key_injections, unique_ssh_keys, vt_flagged, dshield_flagged, risk_score,
             matcher::text, source_files::text, enrichment::text, created_at, updated_at
        FROM session_summaries$$,
    'SELECT * FROM t13_before',
    'every session row keeps every v15 column, enrichment included');
SELECT hasnt_view('t13_country_view', 'a view on a v16 column was dropped');
SELECT hasnt_view('t13_inventory_view', 'a view on a v16 table was dropped');
SELECT has_view('t13_v15_view', 'a view on v15 columns only is kept');
SELECT results_eq('SELECT ip::text, note FROM t13_tool_table', $$VALUES ('198.51.100.1', 'kept')$$,
                  'another table referencing ip_inventory is kept with its rows (its foreign key dropped)');
SELECT is(verify_v15_schema(), 'verified: v15 schema (no v16 tables, columns or constraints; schema_version 15)',
          'the verify step passes');
SELECT lives_ok('SELECT * FROM rollback_v16_to_v15()', 'a second run is harmless');

SELECT * FROM finish();
ROLLBACK;
