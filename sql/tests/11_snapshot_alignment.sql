-- 11_snapshot_alignment: align_snapshot_ip_type() (migration 004, the drift guard of 002 and
-- the repair step) from every state found in the field -- singular, plural text, plural text[],
-- both, neither (+ singular of the wrong type) -- ends with `snapshot_ip_type text`, the
-- schema equal to the migrated one, and no session value lost. Also: the lossy-array guard,
-- the dry run, idempotence.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(51);

-- Fixture: sessions with and without a snapshot type.
INSERT INTO session_summaries (session_id, enrichment, event_count, snapshot_ip_type)
SELECT format('t11-%s', lpad(g::text, 2, '0')),
       json_build_object('spur', json_build_object('client', json_build_object('types', 'DATACENTER')), 'n', g),
       g,
       CASE WHEN g % 4 = 0 THEN NULL WHEN g % 4 = 1 THEN 'DATACENTER' WHEN g % 4 = 2 THEN 'MOBILE' ELSE 'RESIDENTIAL' END
  FROM generate_series(1, 12) g;

CREATE TEMP TABLE t11_schema AS SELECT * FROM schema_snapshot_paths(schema_snapshot(p_facts => false));
CREATE TEMP TABLE t11_rows AS
    SELECT session_id::text, md5(coalesce(enrichment::text, '')) AS enr, event_count FROM session_summaries;
CREATE TEMP TABLE t11_want (session_id text PRIMARY KEY, want text);
INSERT INTO t11_want SELECT session_id, snapshot_ip_type FROM session_summaries;

-- 4 assertions after each alignment
CREATE FUNCTION pg_temp.assert_aligned(p_label text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN NEXT is((SELECT state FROM snapshot_ip_type_state()), 'singular',
                   p_label || ': snapshot_ip_type text, no plural column');
    RETURN NEXT set_eq('SELECT * FROM schema_snapshot_paths(schema_snapshot(p_facts => false))',
                       'SELECT * FROM t11_schema', p_label || ': the schema equals the migrated one');
    RETURN NEXT set_eq('SELECT session_id::text, snapshot_ip_type FROM session_summaries',
                       'SELECT session_id, want FROM t11_want', p_label || ': every session has its snapshot type value');
    RETURN NEXT set_eq('SELECT session_id::text, md5(coalesce(enrichment::text, '''')), event_count FROM session_summaries',
                       'SELECT * FROM t11_rows', p_label || ': every session row and its enrichment are unchanged');
END
$$;

-- 1. singular only: nothing to do (1 + 4)
SELECT is((SELECT action FROM align_snapshot_ip_type()), 'none', 'singular: nothing to do');
SELECT pg_temp.assert_aligned('singular');

-- 2. plural text: rename (2 + 4)
ALTER TABLE session_summaries RENAME COLUMN snapshot_ip_type TO snapshot_ip_types;
SELECT is((SELECT state || ' ' || plural_type FROM snapshot_ip_type_state()), 'plural text', 'built state: plural text');
SELECT is((SELECT action FROM align_snapshot_ip_type()), 'rename', 'plural text: renamed');
SELECT pg_temp.assert_aligned('plural text');

-- 3. plural text[]: documented conversion (joined with ','), then rename (3 + 4)
ALTER TABLE session_summaries RENAME COLUMN snapshot_ip_type TO snapshot_ip_types;
ALTER TABLE session_summaries ALTER COLUMN snapshot_ip_types TYPE text[] USING string_to_array(snapshot_ip_types, ',');
UPDATE session_summaries SET snapshot_ip_types = '{MOBILE,RESIDENTIAL}' WHERE session_id = 't11-02';
UPDATE session_summaries SET snapshot_ip_types = '{}' WHERE session_id = 't11-04';
UPDATE t11_want SET want = 'MOBILE,RESIDENTIAL' WHERE session_id = 't11-02';
UPDATE t11_want SET want = '' WHERE session_id = 't11-04';
SELECT is((SELECT state || ' ' || plural_type FROM snapshot_ip_type_state()), 'plural text[]', 'built state: plural text[]');
SELECT is((SELECT rewrites_table FROM align_snapshot_ip_type(p_apply => false)), true, 'plural text[]: the dry run says the table is rewritten');
SELECT is((SELECT action FROM align_snapshot_ip_type()), 'convert_and_rename', 'plural text[]: converted and renamed');
SELECT pg_temp.assert_aligned('plural text[]');

-- 4. both present (plural text): merge, the singular value wins where set (3 + 4)
ALTER TABLE session_summaries ADD COLUMN snapshot_ip_types text;
UPDATE session_summaries SET snapshot_ip_types = 'CORPORATE' WHERE session_id IN ('t11-08', 't11-12');  -- singular NULL: filled
UPDATE session_summaries SET snapshot_ip_types = 'OTHER' WHERE session_id = 't11-01';                  -- both set: singular kept
UPDATE session_summaries SET snapshot_ip_types = snapshot_ip_type WHERE session_id = 't11-03';         -- both equal
UPDATE t11_want SET want = 'CORPORATE' WHERE session_id IN ('t11-08', 't11-12');
SELECT is((SELECT state FROM snapshot_ip_type_state()), 'both', 'built state: both');
SELECT is((SELECT action FROM align_snapshot_ip_type()), 'merge', 'both (text): merged');
SELECT is((SELECT count(*)::int FROM session_summaries WHERE snapshot_ip_type = 'CORPORATE'), 2, 'both: the plural values filled the NULL singular ones');
SELECT pg_temp.assert_aligned('both (text)');

-- 5. both present, plural text[] (1 + 4)
ALTER TABLE session_summaries ADD COLUMN snapshot_ip_types text[];
UPDATE session_summaries SET snapshot_ip_type = NULL, snapshot_ip_types = '{VPN,TOR}' WHERE session_id = 't11-05';
UPDATE t11_want SET want = 'VPN,TOR' WHERE session_id = 't11-05';
SELECT is((SELECT action FROM align_snapshot_ip_type()), 'merge', 'both (text[]): merged');
SELECT pg_temp.assert_aligned('both (text[])');

-- 6. neither: added (1 + 4)
ALTER TABLE session_summaries DROP COLUMN snapshot_ip_type;
UPDATE t11_want SET want = NULL;
SELECT is((SELECT action FROM align_snapshot_ip_type()), 'add', 'neither: added');
SELECT pg_temp.assert_aligned('neither');

-- 7. singular but text[]: converted in place (1 + 4)
ALTER TABLE session_summaries ALTER COLUMN snapshot_ip_type TYPE text[] USING NULL;
UPDATE session_summaries SET snapshot_ip_type = '{DATACENTER,MOBILE}' WHERE session_id = 't11-06';
UPDATE t11_want SET want = 'DATACENTER,MOBILE' WHERE session_id = 't11-06';
SELECT is((SELECT action FROM align_snapshot_ip_type()), 'convert', 'singular text[]: converted');
SELECT pg_temp.assert_aligned('singular text[]');

-- 8. an array that cannot be joined without loss stops with one error and changes nothing;
--    another separator works (5 + 4)
ALTER TABLE session_summaries RENAME COLUMN snapshot_ip_type TO snapshot_ip_types;
ALTER TABLE session_summaries ALTER COLUMN snapshot_ip_types TYPE text[] USING string_to_array(snapshot_ip_types, ',');
UPDATE session_summaries SET snapshot_ip_types = '{"A,B",C}' WHERE session_id = 't11-07';
SELECT alike((SELECT blocker FROM align_snapshot_ip_type(p_apply => false)), '1 rows of session_summaries.snapshot_ip_types hold an array%',
            'lossy array: the dry run reports a blocker with the rows counted');
SELECT throws_like('SELECT * FROM align_snapshot_ip_type()', 'cannot align session_summaries.snapshot_ip_type: 1 rows %',
                   'lossy array: stops with one clear error');
SELECT is((SELECT state || ' ' || plural_type FROM snapshot_ip_type_state()), 'plural text[]', 'lossy array: nothing was changed');
SELECT is((SELECT action FROM align_snapshot_ip_type(p_separator => ';')), 'convert_and_rename', 'lossy array: converted with separator ;');
UPDATE t11_want SET want = 'A,B;C' WHERE session_id = 't11-07';
UPDATE t11_want SET want = 'DATACENTER;MOBILE' WHERE session_id = 't11-06';  -- {DATACENTER,MOBILE} joined with ;
SELECT is(col_description('session_summaries'::regclass,
              (SELECT attnum FROM pg_attribute WHERE attrelid = 'session_summaries'::regclass AND attname = 'snapshot_ip_type')),
          'cowrie-db: aligned from snapshot_ip_types of type text[]; separator ";"',
          'the origin (name, type, separator) is recorded on the column for the undo script');
SELECT pg_temp.assert_aligned('text[] with separator ;');

-- 9. idempotent, and the dry run changes nothing (2)
SELECT is((SELECT action FROM align_snapshot_ip_type()), 'none', 'a second run does nothing');
ALTER TABLE session_summaries RENAME COLUMN snapshot_ip_type TO snapshot_ip_types;
SELECT results_eq($$SELECT action, lock_mode, (SELECT state FROM snapshot_ip_type_state())
                      FROM align_snapshot_ip_type(p_apply => false)$$,
                  $$VALUES ('rename', 'ACCESS EXCLUSIVE', 'plural')$$,
                  'p_apply => false returns the plan and leaves the plural column in place');

SELECT * FROM finish();
ROLLBACK;
