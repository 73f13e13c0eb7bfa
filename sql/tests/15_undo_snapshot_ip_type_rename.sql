-- 15_undo_snapshot_ip_type_rename: rollback_snapshot_ip_type_rename() and its verify step (the
-- code sql/rollback/undo_snapshot_ip_type_rename.sql and the Down of migration 004 run):
-- back to the plural name with the original type (text, or text[] restored losslessly with
-- string_to_array), idempotent, p_only_if_aligned leaves a never-renamed column alone, and
-- align -> undo -> align round-trips every value.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(16);

INSERT INTO session_summaries (session_id, snapshot_ip_type)
SELECT format('t15-%s', g), CASE g % 3 WHEN 0 THEN NULL WHEN 1 THEN 'DATACENTER' ELSE 'MOBILE' END
  FROM generate_series(1, 9) g;
CREATE TEMP TABLE t15_text AS SELECT session_id::text, snapshot_ip_type AS v FROM session_summaries;

-- a never-renamed singular column (whatever this database went through: forget it inside this
-- transaction): the Down of 004 leaves it alone; the verify step fails loudly
COMMENT ON COLUMN session_summaries.snapshot_ip_type IS NULL;
SELECT alike(rollback_snapshot_ip_type_rename(p_only_if_aligned => true), '%nothing to undo',
             'p_only_if_aligned: a column cowrie-db did not rename is left alone');
SELECT throws_like('SELECT verify_snapshot_ip_type_rename_undone()', 'VERIFY FAILED: session_summaries should have only snapshot_ip_types%',
                   'the verify step fails loudly while snapshot_ip_type is still there');

-- plural text -> aligned -> undone
ALTER TABLE session_summaries RENAME COLUMN snapshot_ip_type TO snapshot_ip_types;
SELECT is((SELECT action FROM align_snapshot_ip_type()), 'rename', 'aligned from plural text');
SELECT is(rollback_snapshot_ip_type_rename(), 'session_summaries: renamed snapshot_ip_type back to snapshot_ip_types (text)',
          'undo: renamed back to the plural name');
SELECT is(verify_snapshot_ip_type_rename_undone('text'), 'verified: session_summaries.snapshot_ip_types (text) present, snapshot_ip_type absent',
          'undo (text): the verify step passes');
SELECT set_eq('SELECT session_id::text, snapshot_ip_types FROM session_summaries', 'SELECT * FROM t15_text',
              'undo (text): every value is kept');
SELECT alike(rollback_snapshot_ip_type_rename(), '%nothing to do', 'undo is idempotent');

-- plural text[] -> aligned (joined) -> undone (split): the arrays come back exactly
ALTER TABLE session_summaries ALTER COLUMN snapshot_ip_types TYPE text[] USING string_to_array(snapshot_ip_types, ',');
UPDATE session_summaries SET snapshot_ip_types = '{MOBILE,RESIDENTIAL}' WHERE session_id = 't15-2';
UPDATE session_summaries SET snapshot_ip_types = '{}' WHERE session_id = 't15-3';
CREATE TEMP TABLE t15_array AS SELECT session_id::text, snapshot_ip_types AS v FROM session_summaries;
SELECT is((SELECT action FROM align_snapshot_ip_type()), 'convert_and_rename', 'aligned from plural text[]');
SELECT is((SELECT snapshot_ip_type FROM session_summaries WHERE session_id = 't15-2'), 'MOBILE,RESIDENTIAL', 'aligned: {MOBILE,RESIDENTIAL} -> ''MOBILE,RESIDENTIAL''');
SELECT alike(rollback_snapshot_ip_type_rename(), '%converted snapshot_ip_type back to text[]%', 'undo: converted back to text[]');
SELECT is(verify_snapshot_ip_type_rename_undone('text[]'), 'verified: session_summaries.snapshot_ip_types (text[]) present, snapshot_ip_type absent',
          'undo (text[]): the verify step passes');
SELECT set_eq('SELECT session_id::text, snapshot_ip_types FROM session_summaries', 'SELECT * FROM t15_array',
              'undo (text[]): every array is restored exactly (including {} and NULL)');

-- round trip once more, then p_to_type forces the type
SELECT is((SELECT action FROM align_snapshot_ip_type()), 'convert_and_rename', 're-aligned');
SELECT is(rollback_snapshot_ip_type_rename('text'), 'session_summaries: renamed snapshot_ip_type back to snapshot_ip_types (text)',
          'p_to_type => text: plain rename');
SELECT is((SELECT plural_type FROM snapshot_ip_type_state()), 'text', 'the plural column is text');
SELECT is((SELECT action FROM align_snapshot_ip_type()), 'rename', 'and aligns again by a rename');

SELECT * FROM finish();
ROLLBACK;
