-- 12_schema_repair: completeness guards and in-place repair (repair_schema(), i.e. every
-- non-concurrent step of schema_repair_plan()). For each incomplete state -- each generated
-- column missing, each with a wrong expression, a plain column in place of each generated
-- one, ip_types missing, the whole "incomplete inventory" of the upstream failure, missing /
-- indexes, an index under another name (satisfies it: nothing built, nothing renamed), missing /
-- NOT VALID foreign keys, a missing CHECK -- the state is built,
-- repaired, and then: nothing is left in the plan, the schema equals the migrated one, the
-- inventory values are what the generated expressions give, every session row is unchanged.
-- Rows that violate a needed constraint stop the repair with one error and change nothing.
BEGIN;
SET LOCAL client_min_messages = warning;  -- the repair NOTICEs each step; keep TAP output clean
SELECT plan(90);

-- Fixture
INSERT INTO asn_inventory (asn_number, first_seen, last_seen, organization_country)
VALUES (4134, now(), now(), 'CN'), (3320, now(), now(), 'DE');
INSERT INTO ip_inventory (ip_address, current_asn, first_seen, last_seen, enrichment, ip_types)
SELECT format('198.51.100.%s', g), CASE WHEN g % 2 = 0 THEN 4134 ELSE 3320 END, now(), now(),
       CASE g % 5
           WHEN 0 THEN '{"maxmind": {"country": "cn"}, "greynoise": {"noise": true}}'
           WHEN 1 THEN '{"cymru": {"country": "DE"}, "validation": {"is_bogon": true}}'
           WHEN 2 THEN '{"dshield": {"ip": {"ascountry": "us"}}, "greynoise": {"noise": false}}'
           WHEN 3 THEN '{}'
           ELSE '{"maxmind": {"country": "FR"}, "cymru": {"country": "IT"}, "validation": {"is_bogon": false}}'
       END::jsonb,
       CASE WHEN g % 3 = 0 THEN '{DATACENTER}'::text[] ELSE '{}'::text[] END
  FROM generate_series(1, 20) g;
INSERT INTO ip_asn_history (ip_address, asn_number, observed_at)
SELECT ip_address, current_asn, now() - interval '1 day' FROM ip_inventory WHERE ip_address LIKE '198.51.100.%';
INSERT INTO session_summaries (session_id, source_ip, snapshot_asn, snapshot_country, snapshot_ip_type, enrichment)
SELECT format('t12-%s', g), format('198.51.100.%s', g), 4134, 'CN', 'DATACENTER', json_build_object('n', g)
  FROM generate_series(1, 20) g;

CREATE TEMP TABLE t12_schema AS SELECT * FROM schema_snapshot_paths(schema_snapshot(p_facts => false));
CREATE TEMP TABLE t12_inv AS
    SELECT ip_address::text, current_asn, enrichment::text AS enrichment, geo_country::text, is_scanner, is_bogon, ip_types
      FROM ip_inventory;
CREATE TEMP TABLE t12_sessions AS SELECT session_id::text, md5(ROW(s.*)::text) AS h FROM session_summaries s;

-- repair, then 5 assertions
CREATE FUNCTION pg_temp.repair_and_check(p_label text, p_actions text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN NEXT is((SELECT array_agg(r.action ORDER BY r.step, r.action) FROM repair_schema() r), p_actions,
                   p_label || ': repaired with ' || coalesce(array_to_string(p_actions, ', '), 'nothing'));
    RETURN NEXT is_empty('SELECT * FROM schema_repair_plan(true)', p_label || ': nothing left to repair');
    RETURN NEXT set_eq('SELECT * FROM schema_snapshot_paths(schema_snapshot(p_facts => false))',
                       'SELECT * FROM t12_schema', p_label || ': the schema equals the migrated one');
    RETURN NEXT set_eq('SELECT ip_address::text, current_asn, enrichment::text, geo_country::text, is_scanner, is_bogon, ip_types FROM ip_inventory',
                       'SELECT * FROM t12_inv', p_label || ': inventory rows and their derived values are right');
    RETURN NEXT set_eq('SELECT session_id::text, md5(ROW(s.*)::text) FROM session_summaries s',
                       'SELECT * FROM t12_sessions', p_label || ': every session row is unchanged');
END
$$;
CREATE FUNCTION pg_temp.v17(p_17 text, p_older text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN current_setting('server_version_num')::int >= 170000 THEN p_17 ELSE p_older END
$$;

-- 1-3. each generated column missing (its index goes with it) (15)
ALTER TABLE ip_inventory DROP COLUMN geo_country;
SELECT pg_temp.repair_and_check('geo_country missing', ARRAY['add_generated_column', 'create_index']);
ALTER TABLE ip_inventory DROP COLUMN is_scanner;
SELECT pg_temp.repair_and_check('is_scanner missing', ARRAY['add_generated_column', 'create_index']);
ALTER TABLE ip_inventory DROP COLUMN is_bogon;
SELECT pg_temp.repair_and_check('is_bogon missing', ARRAY['add_generated_column']);

-- 4. the plain ip_types column missing: added NOT NULL DEFAULT '{}' (its values were dropped
--    with it by the drift itself) (5)
ALTER TABLE ip_inventory DROP COLUMN ip_types;
UPDATE t12_inv SET ip_types = '{}';
SELECT pg_temp.repair_and_check('ip_types missing', ARRAY['add_column', 'create_index']);

-- 5-7. each generated column with a wrong expression, its index in place (15)
ALTER TABLE ip_inventory DROP COLUMN geo_country,
    ADD COLUMN geo_country varchar(2) GENERATED ALWAYS AS (upper(enrichment -> 'cymru' ->> 'country')) STORED;
CREATE INDEX ix_ip_inventory_geo_country ON ip_inventory (geo_country);
SELECT pg_temp.repair_and_check('geo_country wrong expression', ARRAY[pg_temp.v17('set_expression', 'replace_expression')]);
ALTER TABLE ip_inventory DROP COLUMN is_scanner,
    ADD COLUMN is_scanner boolean GENERATED ALWAYS AS (true) STORED;
CREATE INDEX ix_ip_inventory_is_scanner ON ip_inventory (is_scanner);
SELECT pg_temp.repair_and_check('is_scanner wrong expression', ARRAY[pg_temp.v17('set_expression', 'replace_expression')]);
ALTER TABLE ip_inventory DROP COLUMN is_bogon,
    ADD COLUMN is_bogon boolean GENERATED ALWAYS AS ((enrichment -> 'validation' ->> 'is_bogon')::boolean) STORED;
SELECT pg_temp.repair_and_check('is_bogon wrong expression', ARRAY[pg_temp.v17('set_expression', 'replace_expression')]);

-- 8-10. a plain column where a generated one belongs (stale values): replaced (15)
ALTER TABLE ip_inventory DROP COLUMN geo_country, ADD COLUMN geo_country varchar(2);
UPDATE ip_inventory SET geo_country = 'ZZ';
CREATE INDEX ix_ip_inventory_geo_country ON ip_inventory (geo_country);
SELECT pg_temp.repair_and_check('geo_country plain', ARRAY['replace_with_generated']);
ALTER TABLE ip_inventory DROP COLUMN is_scanner, ADD COLUMN is_scanner boolean DEFAULT false;
SELECT pg_temp.repair_and_check('is_scanner plain', ARRAY['replace_with_generated', 'create_index']);
ALTER TABLE ip_inventory DROP COLUMN is_bogon, ADD COLUMN is_bogon boolean;
SELECT pg_temp.repair_and_check('is_bogon plain', ARRAY['replace_with_generated']);

-- 11. the upstream failure: ip_inventory without any derived column nor their indexes;
--     the plan says what will run, with which lock, what is rewritten, what is concurrent (1 + 5)
ALTER TABLE ip_inventory DROP COLUMN geo_country, DROP COLUMN ip_types, DROP COLUMN is_scanner, DROP COLUMN is_bogon;
SELECT results_eq(
    $$SELECT action, object_name, lock_mode, rewrites_table, "concurrently", repair FROM schema_repair_plan(true) ORDER BY step$$,
    $$VALUES ('missing_column', 'geo_country', 'ACCESS EXCLUSIVE', true, false, 'auto'),
             ('missing_column', 'ip_types', 'ACCESS EXCLUSIVE', false, false, 'auto'),
             ('missing_column', 'is_scanner', 'ACCESS EXCLUSIVE', true, false, 'auto'),
             ('missing_column', 'is_bogon', 'ACCESS EXCLUSIVE', true, false, 'auto'),
             ('missing_index', 'ix_ip_inventory_geo_country', 'SHARE UPDATE EXCLUSIVE', false, true, 'auto'),
             ('missing_index', 'ix_ip_inventory_is_scanner', 'SHARE UPDATE EXCLUSIVE', false, true, 'auto'),
             ('missing_index', 'ix_ip_inventory_ip_types', 'SHARE UPDATE EXCLUSIVE', false, true, 'auto')$$,
    'incomplete inventory: the plan lists each step, its lock, the rewrite, CONCURRENTLY for indexes');
SELECT pg_temp.repair_and_check('incomplete inventory',
    ARRAY['add_generated_column', 'add_column', 'add_generated_column', 'add_generated_column',
          'create_index', 'create_index', 'create_index']);

-- 12. missing indexes (5)
DROP INDEX ix_session_summaries_snapshot_country;
DROP INDEX ix_asn_inventory_country;
DROP INDEX ix_session_summaries_first_event_brin;
SELECT pg_temp.repair_and_check('missing indexes', ARRAY['create_index', 'create_index', 'create_index']);

-- 13. an index present under another name (as the upstream code named them): it does the job;
--     nothing is built beside it and it is not renamed (4)
ALTER INDEX ix_session_summaries_source_ip RENAME TO idx_session_source_ip;
SELECT is_empty('SELECT * FROM repair_schema()', 'index under another name: nothing to repair');
SELECT is_empty('SELECT * FROM schema_findings()', 'index under another name: no finding');
SELECT is((SELECT array_agg(c.relname::text) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = 'session_summaries'::regclass AND pg_get_indexdef(i.indexrelid) ~ '\(source_ip\)$'),
          ARRAY['idx_session_source_ip'], 'index under another name: one index on source_ip, the upstream''s name kept');
ALTER INDEX idx_session_source_ip RENAME TO ix_session_summaries_source_ip;
SELECT set_eq('SELECT * FROM schema_snapshot_paths(schema_snapshot(p_facts => false))',
              'SELECT * FROM t12_schema', 'index under another name: the schema equals the migrated one again');

-- 14. missing foreign keys: added NOT VALID, then validated (5)
ALTER TABLE session_summaries DROP CONSTRAINT fk_session_summaries_source_ip;
ALTER TABLE ip_asn_history DROP CONSTRAINT fk_ip_asn_history_asn_number;
SELECT pg_temp.repair_and_check('missing foreign keys',
    ARRAY['add_constraint', 'validate_constraint', 'add_constraint', 'validate_constraint']);

-- 15. a NOT VALID foreign key: validated (5)
ALTER TABLE ip_inventory DROP CONSTRAINT fk_ip_inventory_current_asn,
    ADD CONSTRAINT fk_ip_inventory_current_asn FOREIGN KEY (current_asn) REFERENCES asn_inventory (asn_number) NOT VALID;
SELECT pg_temp.repair_and_check('NOT VALID foreign key', ARRAY['validate_constraint']);

-- 16. missing CHECK (5)
ALTER TABLE session_summaries DROP CONSTRAINT ck_session_summaries_snapshot_country;
SELECT pg_temp.repair_and_check('missing CHECK', ARRAY['add_constraint', 'validate_constraint']);

-- 17. rows violating the CHECK: one error with the rows counted and the fix, nothing changed,
--     and after the fix the repair completes (3 + 5)
ALTER TABLE session_summaries DROP CONSTRAINT ck_session_summaries_snapshot_country;
ALTER TABLE ip_inventory DROP COLUMN is_bogon;  -- another repair that must NOT happen on its own
UPDATE session_summaries SET snapshot_country = 'cn' WHERE session_id IN ('t12-1', 't12-2');
SELECT throws_like('SELECT * FROM repair_schema()',
    'schema repair stopped at step % 2 rows of session_summaries violate ck_session_summaries_snapshot_country%Fix: UPDATE session_summaries SET snapshot_country = %',
    'violating rows: one error naming the rows counted and the fix');
SELECT is((SELECT count(*)::int FROM schema_findings() WHERE repair IN ('auto', 'manual')), 3, 'violating rows: nothing was changed (3 findings still there)');
SELECT is((SELECT state FROM snapshot_ip_type_state()), 'singular', 'violating rows: the transaction is usable (no aborted-transaction cascade)');
UPDATE session_summaries SET snapshot_country = upper(snapshot_country) WHERE session_id IN ('t12-1', 't12-2');
SELECT pg_temp.repair_and_check('CHECK after fixing the rows', ARRAY['add_generated_column', 'add_constraint', 'validate_constraint']);

-- 18. orphan rows for a missing foreign key: stopped the same way (2)
ALTER TABLE session_summaries DROP CONSTRAINT fk_session_summaries_source_ip;
INSERT INTO session_summaries (session_id, source_ip) VALUES ('t12-orphan', '203.0.113.99');
SELECT throws_like('SELECT * FROM repair_schema()',
    'schema repair stopped at step % 1 rows of session_summaries violate fk_session_summaries_source_ip%',
    'orphan rows: one error naming the rows counted');
SELECT is((SELECT count(DISTINCT object_name)::int FROM schema_findings() WHERE repair = 'manual' AND manual_step ~ 'violate'), 1,
          'orphan rows: schema_findings reports the constraint as not auto-repairable, with the rows to fix');

SELECT * FROM finish();
ROLLBACK;
