-- 16_schema_findings: the psql route to THE drift definition (schema_findings()) on a migrated
-- database: nothing to report; objects under the upstream's names satisfy the expectations
-- (no second foreign key, CHECK or index is planned); a NOT VALID equivalent is validated, not
-- duplicated; duplicates are reported as opt-in with their DROP; schema_version above 16 is
-- information only; violating rows make a constraint manual without failing; and the whole
-- function runs in a READ ONLY transaction (no probe table, no CREATEDB).
BEGIN;
SET LOCAL client_min_messages = error;  -- ensure_constraint WARNs about the orphan rows of case 6
SELECT plan(24);

CREATE FUNCTION pg_temp.fks_on_source_ip() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM pg_constraint
     WHERE conrelid = 'session_summaries'::regclass AND contype = 'f'
       AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = 'session_summaries'::regclass AND attname = 'source_ip')]
$$;

-- 1. a migrated database: no finding (1)
SELECT is_empty('SELECT * FROM schema_findings()', 'a migrated database has no finding');

-- 2. the upstream v16 names in place of ours: the expectations are met, nothing planned (3)
ALTER TABLE session_summaries RENAME CONSTRAINT ck_session_summaries_snapshot_country TO snapshot_country_iso;
ALTER TABLE session_summaries RENAME CONSTRAINT fk_session_summaries_source_ip TO fk_session_source_ip;
ALTER INDEX ix_session_summaries_source_ip RENAME TO idx_session_source_ip;
SELECT is_empty('SELECT * FROM schema_findings()', 'upstream names: no finding');
SELECT is_empty('SELECT * FROM schema_repair_plan(false)', 'upstream names: nothing to repair');
SELECT is((SELECT x.object_name FROM ensure_constraint('session_summaries', 'fk_session_summaries_source_ip', true, false) x),
          'fk_session_source_ip', 'ensure_constraint finds the equivalent under its upstream name');

-- 3. the upstream foreign key left NOT VALID: validated, no second one (6)
ALTER TABLE session_summaries DROP CONSTRAINT fk_session_source_ip,
    ADD CONSTRAINT fk_session_source_ip FOREIGN KEY (source_ip) REFERENCES ip_inventory (ip_address) NOT VALID;
SELECT results_eq($$SELECT severity, kind, object_name, repair FROM schema_findings()$$,
                  $$VALUES ('WARNING', 'constraint_not_valid', 'fk_session_source_ip', 'auto')$$,
                  'NOT VALID upstream FK: one WARNING, auto');
SELECT is((SELECT fix FROM schema_findings()), 'ALTER TABLE session_summaries VALIDATE CONSTRAINT fk_session_source_ip;',
          'NOT VALID upstream FK: the fix validates it (online)');
SELECT is((SELECT lock_mode FROM schema_findings()), 'SHARE UPDATE EXCLUSIVE (ROW SHARE on ip_inventory)', 'NOT VALID upstream FK: its lock');
SELECT is((SELECT array_agg(action) FROM repair_schema()), ARRAY['validate_constraint'], 'repair_schema validates it');
SELECT is(pg_temp.fks_on_source_ip(), 1::bigint, 'still one foreign key on source_ip');
SELECT ok((SELECT convalidated FROM pg_constraint WHERE conname = 'fk_session_source_ip'), 'fk_session_source_ip is now validated');

-- 4. duplicates: reported (WARNING, opt-in) with their DROP; removed only when opted in (7)
ALTER TABLE session_summaries ADD CONSTRAINT fk_session_summaries_source_ip FOREIGN KEY (source_ip) REFERENCES ip_inventory (ip_address);
ALTER TABLE session_summaries ADD CONSTRAINT ck_session_summaries_snapshot_country CHECK (snapshot_country IS NULL OR snapshot_country ~ '^[A-Z]{2}$');
CREATE INDEX ix_session_summaries_source_ip ON session_summaries (source_ip);
SELECT set_eq($$SELECT kind, object_name, repair, opt_in FROM schema_findings()$$,
              $$VALUES ('duplicate_foreign_key', 'fk_session_source_ip', 'opt-in', 'drop-duplicates'),
                       ('duplicate_check', 'snapshot_country_iso', 'opt-in', 'drop-duplicates'),
                       ('duplicate_index', 'idx_session_source_ip', 'opt-in', 'drop-duplicates')$$,
              'duplicates: one opt-in finding per redundant object, ours kept');
SELECT is((SELECT fix FROM schema_findings() WHERE kind = 'duplicate_foreign_key'),
          'ALTER TABLE session_summaries DROP CONSTRAINT fk_session_source_ip;', 'duplicate FK: the statement that removes it');
SELECT matches((SELECT message FROM schema_findings() WHERE kind = 'duplicate_foreign_key'), '2 times instead of once',
               'duplicate FK: what it costs');
SELECT is_empty('SELECT * FROM schema_repair_plan(false)', 'duplicates: nothing runs without opting in');
SELECT is((SELECT count(*)::int FROM repair_schema(true, '{drop-duplicates}')), 3, 'opted in: three removed');
SELECT is(pg_temp.fks_on_source_ip(), 1::bigint, 'opted in: one foreign key on source_ip');
SELECT is_empty('SELECT * FROM schema_findings()', 'opted in: no finding left');

-- 5. schema_version: 17 is the upstream's (INFO, nothing to do); 15 is set to 16 (3)
UPDATE schema_state SET value = '17' WHERE key = 'schema_version';
SELECT results_eq($$SELECT severity, repair, fix IS NULL FROM schema_findings()$$, $$VALUES ('INFO', 'none', true)$$,
                  'schema_version 17: INFO, no fix');
UPDATE schema_state SET value = '15' WHERE key = 'schema_version';
SELECT is((SELECT array_agg(action) FROM repair_schema()), ARRAY['schema_version'], 'schema_version 15: repaired');
SELECT is((SELECT value FROM schema_state WHERE key = 'schema_version'), '16', 'schema_version 15 -> 16');

-- 6. orphan rows for a missing foreign key: manual with the rows and the fix; ensure_constraint
--    changes nothing and does not fail (so migration 002 completes the rest) (3)
ALTER TABLE ip_asn_history DROP CONSTRAINT fk_ip_asn_history_ip_address;
INSERT INTO asn_inventory (asn_number, first_seen, last_seen) VALUES (64512, now(), now()) ON CONFLICT DO NOTHING;
INSERT INTO ip_asn_history (ip_address, asn_number, observed_at) VALUES ('203.0.113.250', 64512, now());
SELECT set_eq($$SELECT kind, repair FROM schema_findings()$$,
              $$VALUES ('missing_constraint', 'manual'), ('validate_constraint', 'manual')$$,
              'orphan rows: both steps of the constraint are manual');
SELECT matches((SELECT manual_step FROM schema_findings() LIMIT 1), '^1 rows of ip_asn_history violate fk_ip_asn_history_ip_address .*Fix: ',
               'orphan rows: the manual step counts the rows and gives the fix');
SELECT is((SELECT x.blocker IS NOT NULL FROM ensure_constraint('ip_asn_history', 'fk_ip_asn_history_ip_address') x), true,
          'ensure_constraint with orphans: returns the blocker, raises nothing, adds nothing');

-- 7. read-only: the whole drift definition runs in a READ ONLY transaction (1)
SET LOCAL transaction_read_only = on;
SELECT lives_ok('SELECT count(*) FROM schema_findings(true)', 'schema_findings() runs in a READ ONLY transaction');

SELECT * FROM finish();
ROLLBACK;
