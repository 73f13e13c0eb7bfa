-- 22_backfill_dry_sweep: the dry run computes exactly what a real run changes and writes
-- nothing to session_summaries; the sweep phase finishes rows that were deferred
-- (locked by another transaction when their batch ran).
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(19);

-- fixture: the hand-made sessions of sql/tests/fixtures/backfill_cases.sql
\ir fixtures/backfill_cases.sql

CREATE TEMP TABLE before AS
SELECT session_id, source_ip, snapshot_asn, snapshot_country, snapshot_ip_type, enrichment_at, updated_at FROM session_summaries;
CREATE FUNCTION pg_temp.changed_rows() RETURNS integer LANGUAGE sql AS $$
    SELECT count(*)::integer FROM before b FULL JOIN session_summaries s USING (session_id)
    WHERE (b.source_ip, b.snapshot_asn, b.snapshot_country, b.snapshot_ip_type, b.enrichment_at, b.updated_at)
          IS DISTINCT FROM (s.source_ip, s.snapshot_asn, s.snapshot_country, s.snapshot_ip_type, s.enrichment_at, s.updated_at)
$$;
CREATE FUNCTION pg_temp.counters(p_run bigint) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' ', rows_scanned, rows_filled, rows_unchanged, rows_rejected, rows_no_inventory,
                     filled_source_ip, filled_snapshot_asn, filled_snapshot_country, filled_snapshot_ip_type,
                     filled_enrichment_at, asn_from_json, asn_from_history, asn_from_inventory,
                     country_from_json, country_from_inventory, country_default, ip_type_from_json,
                     ip_type_from_inventory, enrichment_at_from_json, enrichment_at_from_session,
                     enrichment_at_from_inventory, rows_multi_ip)
    FROM backfill_runs WHERE run_id = p_run
$$;

-- dry run, in batches of 7
INSERT INTO backfill_runs (run_id, dry_run, record_undo) VALUES (1, true, false);
CREATE FUNCTION pg_temp.drive(p_run bigint, p_dry boolean, p_size integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE k text; r record; n integer := 0;
BEGIN
    LOOP
        SELECT * INTO r FROM backfill_snapshots_batch(p_run, k, p_size, p_dry, NOT p_dry, 'scan');
        EXIT WHEN r.done;
        k := r.last_key;
        n := n + 1;
        IF n > 1000 THEN RAISE EXCEPTION 'no termination'; END IF;
    END LOOP;
    RETURN n;
END $$;
SELECT is(pg_temp.drive(1, true, 7), 5, 'dry run: 31 candidates in 5 batches of 7, then done');
SELECT is(pg_temp.changed_rows(), 0, 'dry run: session_summaries untouched (not even updated_at)');
SELECT is((SELECT count(*)::int FROM backfill_undo), 0, 'dry run: no undo log');
SELECT is((SELECT jsonb_array_length(sample) FROM backfill_runs WHERE run_id = 1), 17, 'dry run: a sample of the would-be changes (all 17 here, at most 20)');
SELECT is((SELECT e -> 'new' ->> 'snapshot_country' FROM backfill_runs, jsonb_array_elements(sample) e
           WHERE run_id = 1 AND e ->> 'session_id' = 's28-prefilled-country'), 'JP', 'dry run: the sample shows the kept value');

-- the real run, in batches of 5, must do exactly what the dry run said
INSERT INTO backfill_runs (run_id, dry_run, record_undo) VALUES (2, false, true);
SELECT is(pg_temp.drive(2, false, 5), 7, 'real run: 31 candidates in 7 batches of 5');
SELECT is(pg_temp.counters(2), pg_temp.counters(1), 'dry run counters (by outcome, column and source) = real run counters');
SELECT is((SELECT count(*)::int FROM ((SELECT session_id, reason, detail FROM backfill_rejects WHERE run_id = 1
                                       EXCEPT SELECT session_id, reason, detail FROM backfill_rejects WHERE run_id = 2)
                                      UNION ALL
                                      (SELECT session_id, reason, detail FROM backfill_rejects WHERE run_id = 2
                                       EXCEPT SELECT session_id, reason, detail FROM backfill_rejects WHERE run_id = 1)) x), 0,
          'dry run rejects = real run rejects (session, reason and detail, both ways)');
SELECT cmp_ok((SELECT count(*)::int FROM backfill_rejects WHERE run_id = 1 AND detail IS NOT NULL), '>', 0,
              'dry run rejects carry their details');
SELECT is((SELECT count(*)::int FROM backfill_runs r, jsonb_array_elements(r.sample) e
           JOIN session_summaries s ON s.session_id = e ->> 'session_id'
           WHERE r.run_id = 1
             AND (e -> 'new' ->> 'source_ip', (e -> 'new' ->> 'snapshot_asn')::int, e -> 'new' ->> 'snapshot_country',
                  e -> 'new' ->> 'snapshot_ip_type', (e -> 'new' ->> 'enrichment_at')::timestamptz)
                 IS DISTINCT FROM (s.source_ip::text, s.snapshot_asn, s.snapshot_country::text, s.snapshot_ip_type, s.enrichment_at)), 0,
          'dry run sample = the values the real run wrote');
SELECT is((SELECT count(*)::int FROM backfill_batches WHERE run_id = 2), 7, 'real run: one backfill_batches row per batch');
SELECT is((SELECT array_agg(a.e ->> 'session_id' ORDER BY a.i) FROM backfill_runs r,
                  jsonb_array_elements(r.sample) WITH ORDINALITY AS a(e, i) WHERE r.run_id = 1),
          (SELECT array_agg(u.session_id::text ORDER BY u.session_id) FROM backfill_undo u WHERE u.run_id = 2),
          'dry run sample: every row the real run changed, in key order, gathered over the pages');

-- sweep: rows deferred during the scan are finished by the sweep phase
SELECT pg_temp.mk('t01-deferred', pg_temp.full_json()::json);
SELECT pg_temp.mk('t02-deferred-then-filled', pg_temp.full_json()::json);
UPDATE session_summaries SET source_ip = '5.6.7.8', snapshot_asn = 4837, snapshot_country = 'SE', snapshot_ip_type = 'VPN',
       enrichment_at = now() WHERE session_id = 't02-deferred-then-filled';
INSERT INTO backfill_runs (run_id, dry_run, record_undo, phase, rows_scanned, rows_deferred) VALUES (3, false, true, 'sweep', 2, 2);
INSERT INTO backfill_deferred (run_id, session_id) VALUES (3, 't01-deferred'), (3, 't02-deferred-then-filled');
CREATE TEMP TABLE sw AS SELECT * FROM backfill_snapshots_batch(3, NULL, 100, false, true, 'sweep');
SELECT is((SELECT rows_filled FROM sw), 1, 'sweep: the deferred row that still needs values is filled');
SELECT is((SELECT count(*)::int FROM backfill_deferred WHERE run_id = 3), 0, 'sweep: the deferred list is empty');
SELECT is((SELECT concat_ws(' ', rows_filled, rows_deferred, rows_resolved_elsewhere) FROM backfill_runs WHERE run_id = 3), '1 0 1',
          'sweep: one filled, one resolved by another writer, none left');
SELECT is((SELECT snapshot_country::text FROM session_summaries WHERE session_id = 't02-deferred-then-filled'), 'SE',
          'sweep: the row another writer filled meanwhile is left as it is');
SELECT is((SELECT done FROM backfill_snapshots_batch(3, (SELECT last_key FROM sw), 100, false, true, 'sweep')), true,
          'sweep: done after the last deferred key');
SELECT throws_ok($$SELECT * FROM backfill_snapshots_batch(1, NULL, 10, true, false, 'sweep')$$, '22023', NULL,
                 'a dry run has no sweep phase');

-- the sample stops at 20: 25 more sessions to fill, a dry run in pages of 7, then the real run
SELECT pg_temp.mk(format('u%s-sample', lpad(n::text, 2, '0')), pg_temp.full_json()::json) FROM generate_series(1, 25) n;
INSERT INTO backfill_runs (run_id, dry_run, record_undo) VALUES (4, true, false), (5, false, true);
SELECT pg_temp.drive(4, true, 7), pg_temp.drive(5, false, 100);
SELECT is((SELECT array_agg(a.e ->> 'session_id' ORDER BY a.i) FROM backfill_runs r,
                  jsonb_array_elements(r.sample) WITH ORDINALITY AS a(e, i) WHERE r.run_id = 4),
          (SELECT (array_agg(u.session_id::text ORDER BY u.session_id))[1:20] FROM backfill_undo u WHERE u.run_id = 5),
          'dry run sample: the first 20 would-be changes in key order, no more');

SELECT * FROM finish();
ROLLBACK;
