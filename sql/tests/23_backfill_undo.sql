-- 23_backfill_undo: undo_backfill_batch restores exactly the previous values of exactly
-- the rows a run changed, leaves alone the rows changed since by someone else, and
-- counts them and the rows deleted since.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(24);

-- fixture: the hand-made sessions of sql/tests/fixtures/backfill_cases.sql
\ir fixtures/backfill_cases.sql

CREATE TEMP TABLE before AS
SELECT session_id, source_ip, snapshot_asn, snapshot_country, snapshot_ip_type, enrichment_at FROM session_summaries;
INSERT INTO backfill_runs (run_id, dry_run, record_undo) VALUES (1, false, true);
SELECT is((SELECT format('%s %s', can_undo, reason) FROM backfill_undo_state(1)), 'f nothing_changed',
          'undo state: a run that changed nothing yet has nothing to undo');
SELECT * FROM backfill_snapshots_batch(1, NULL, 1000, false, true, 'scan');
SELECT is((SELECT count(*)::int FROM backfill_undo WHERE run_id = 1), 17, 'the run changed 17 rows');

-- which run a plain CALL resumes, and which runs can be undone (decided in SQL)
SELECT is(backfill_resumable_run(false), 1::bigint, 'the latest real run, unfinished, is the one a plain CALL resumes');
SELECT is(backfill_resumable_run(true), NULL::bigint, 'no dry run: a dry CALL starts a new one');
INSERT INTO backfill_runs (run_id, dry_run, record_undo, status) VALUES (2, true, true, 'paused'), (3, false, false, 'completed');
SELECT is(backfill_resumable_run(true), 2::bigint, 'the paused dry run resumes with dry_run => true');
SELECT is(backfill_resumable_run(false), NULL::bigint, 'the latest real run is completed: a plain CALL starts a new run (run 1 is superseded)');
SELECT throws_ok($$SELECT backfill_resumable_run(NULL)$$, '22023', NULL, 'backfill_resumable_run needs true or false');
SELECT is((SELECT array_agg(format('%s:%s:%s:%s', run_id, can_undo, coalesce(reason, '-'), coalesce(refused_sqlstate, '-')) ORDER BY run_id)
           FROM backfill_undo_state()),
          ARRAY['1:t:-:-', '2:f:dry_run:22023', '3:f:no_undo_log:22023'],
          'undo state per run: the real run with an undo log can be undone; the dry run and the --no-undo run cannot, with undo_backfill''s SQLSTATE');
SELECT is((SELECT format('%s %s %s', can_undo, reason, refused_sqlstate) FROM backfill_undo_state(99)), 'f missing P0002',
          'undo state of a run that does not exist: missing (no_data_found)');
UPDATE backfill_runs SET undo_status = 'undone' WHERE run_id = 3;
SELECT is(backfill_resumable_run(false), NULL::bigint, 'an undone run is never resumed');
UPDATE backfill_runs SET status = 'failed', undo_status = NULL, record_undo = true WHERE run_id = 3;
SELECT is(backfill_resumable_run(false), 3::bigint, 'a failed run resumes');
DELETE FROM backfill_runs WHERE run_id IN (2, 3);

-- after the run: another writer changes one of them, deletes another one
UPDATE session_summaries SET snapshot_ip_type = 'MOBILE' WHERE session_id = 's01-full';
DELETE FROM session_summaries WHERE session_id = 's02-asn-string';
-- and writes a row the run did not touch (must stay as it is)
UPDATE session_summaries SET snapshot_country = 'NL' WHERE session_id = 's12-bad-ip';

CREATE FUNCTION pg_temp.undo_all(p_run bigint, p_size integer) RETURNS text LANGUAGE plpgsql AS $$
DECLARE k text; r record; a int := 0; b int := 0; c int := 0; n int := 0;
BEGIN
    LOOP
        SELECT * INTO r FROM undo_backfill_batch(p_run, k, p_size);
        EXIT WHEN r.done;
        k := r.last_key; a := a + r.restored; b := b + r.left_alone; c := c + r.missing; n := n + 1;
    END LOOP;
    RETURN format('%s batches: %s restored, %s left alone, %s missing', n, a, b, c);
END $$;
SELECT is(pg_temp.undo_all(1, 4), '5 batches: 15 restored, 1 left alone, 1 missing', 'undo in batches of 4: counts');
SELECT is((SELECT format('%s %s %s', undo_restored, undo_left_alone, undo_missing) FROM backfill_runs WHERE run_id = 1),
          '15 1 1', 'undo counters in backfill_runs');
SELECT is((SELECT count(*)::int FROM backfill_undo WHERE run_id = 1 AND undo_state IS NULL), 0, 'every undo entry has an outcome');
SELECT is((SELECT undo_state FROM backfill_undo WHERE run_id = 1 AND session_id = 's01-full'), 'left_alone', 'changed since: left alone');
SELECT is((SELECT undo_state FROM backfill_undo WHERE run_id = 1 AND session_id = 's02-asn-string'), 'missing', 'deleted since: missing');

-- the table: every row as before the run, except the three rows the other writer touched
SELECT is((SELECT count(*)::int FROM before b JOIN session_summaries s USING (session_id)
           WHERE (b.source_ip, b.snapshot_asn, b.snapshot_country, b.snapshot_ip_type, b.enrichment_at)
                 IS DISTINCT FROM (s.source_ip, s.snapshot_asn, s.snapshot_country, s.snapshot_ip_type, s.enrichment_at)), 2,
          'only the two rows written by someone else differ from before the run');
SELECT is((SELECT format('%s|%s', snapshot_country, snapshot_ip_type) FROM session_summaries WHERE session_id = 's01-full'),
          'CN|MOBILE', 'the row changed since keeps everything (the run''s values and the other writer''s)');
SELECT is((SELECT snapshot_country::text FROM session_summaries WHERE session_id = 's12-bad-ip'), 'NL', 'a row the run did not change is not touched');
SELECT is((SELECT snapshot_country::text FROM session_summaries WHERE session_id = 's28-prefilled-country'), 'JP',
          'a value that was there before the run is kept');
SELECT is((SELECT source_ip FROM session_summaries WHERE session_id = 's28-prefilled-country'), NULL,
          'a value the run filled is NULL again');

-- a second undo finds nothing to do; a run without undo log cannot be undone
SELECT is(pg_temp.undo_all(1, 100), '0 batches: 0 restored, 0 left alone, 0 missing', 'a second undo changes nothing');
UPDATE backfill_runs SET undo_status = 'undone' WHERE run_id = 1;
SELECT is((SELECT format('%s %s %s', can_undo, reason, coalesce(refused_sqlstate, '-')) FROM backfill_undo_state(1)), 'f undone -',
          'an undone run cannot be undone again (undo_backfill only reports its counts: no refusal)');
SELECT throws_ok($$CALL undo_backfill(NULL)$$, '22023', NULL, 'undo_backfill needs a run id');

SELECT * FROM finish();
ROLLBACK;
