-- 26_validate_verdict: the GO/NO-GO verdict is SQL's. validate_checks decides each check
-- (status, severity, threshold) on real rows, validate_verdict decides the verdict from
-- them; the verdict flips with the data: one NULL snapshot too many is NO-GO naming
-- coverage.snapshots, a CRITICAL drift blocks the data checks, a check that could not run
-- is never GO. (pgTAP runs in a read-write transaction: the groups are asked one by one,
-- connection.read_only is tested on its own.)
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(26);

TRUNCATE session_summaries, ip_asn_history, ip_inventory, asn_inventory,
         backfill_runs, backfill_batches, backfill_rejects, backfill_undo, backfill_deferred CASCADE;
INSERT INTO ip_inventory (ip_address, first_seen, last_seen, enrichment, ip_types)
VALUES ('198.51.100.7', now(), now(), '{"maxmind": {"country": "DE"}}', '{DATACENTER}');
INSERT INTO session_summaries (session_id, first_event_at, last_event_at, enrichment, source_ip, snapshot_country, snapshot_ip_type, enrichment_at)
SELECT 's' || lpad(g::text, 2, '0'), now(), now(),
       '{"dshield": {"ip": {"number": "198.51.100.7"}}, "maxmind": {"country": "DE"}, "spur": {"client": {"types": "DATACENTER"}}, "enriched_at": "2025-05-01T10:00:00Z"}',
       '198.51.100.7', 'DE', 'DATACENTER', '2025-05-01T10:00:00Z'
FROM generate_series(1, 20) g;

-- verdict over the given groups' checks
CREATE FUNCTION pg_temp.verdict(p_groups text[], p_settings jsonb DEFAULT '{}') RETURNS text LANGUAGE sql AS $$
    SELECT format('%s %s %s', v.verdict, v.exit_code, array_to_string(v.failing, ','))
    FROM validate_verdict((SELECT jsonb_agg(to_jsonb(c)) FROM validate_checks(p_groups, p_settings) c), p_settings) v
$$;
CREATE FUNCTION pg_temp.check_of(p_group text, p_name text, p_settings jsonb DEFAULT '{}', p_context jsonb DEFAULT '{}') RETURNS text LANGUAGE sql AS $$
    SELECT format('%s %s %s', c.status, c.severity, c.display) FROM validate_checks(ARRAY[p_group], p_settings, p_context) c WHERE c.name = p_name
$$;

-- the runbooks' thresholds, in one place
SELECT is(validate_settings('{}') -> 'thresholds',
          '{"coverage": 95, "accuracy": 99, "speedup": 5, "inventoryCoverage": 95, "minServerVersion": 13}'::jsonb,
          'validate_settings: the runbooks'' thresholds (coverage 95%, accuracy 99%, speedup 5x, inventory 95%)');
SELECT is(validate_settings('{"thresholds": {"coverage": 99}}') #>> '{thresholds,coverage}', '99', 'a threshold given wins over the default');
SELECT throws_ok($$SELECT validate_settings('{"thresholds": {"coverage": 150}}')$$, '22023', NULL, 'a coverage threshold above 100 is refused');
SELECT throws_ok($$SELECT validate_settings('{"severity": {"coverage.snapshots": "LOUD"}}')$$, '22023', NULL, 'an unknown severity is refused');
SELECT throws_ok($$SELECT * FROM validate_checks(ARRAY['coverage', 'nonsense'])$$, '22023', NULL, 'an unknown group is refused');

-- coverage: 20 of 20, then the NULL snapshots that flip it
SELECT is(pg_temp.check_of('coverage', 'coverage.snapshots'), 'pass ERROR 100.0%', 'every session filled: coverage passes');
SELECT is(pg_temp.verdict(ARRAY['coverage']), 'GO 0 ', 'coverage checks pass: GO, exit 0');
UPDATE session_summaries SET snapshot_country = NULL WHERE session_id = 's01';
SELECT is(pg_temp.check_of('coverage', 'coverage.snapshots'), 'pass ERROR 95.0%', '19 of 20 (95.0%) still meets ">= 95%"');
UPDATE session_summaries SET snapshot_country = NULL WHERE session_id = 's02';
SELECT is(pg_temp.check_of('coverage', 'coverage.snapshots'), 'fail ERROR 90.0%', '18 of 20 (90.0%): coverage fails');
SELECT is(pg_temp.verdict(ARRAY['coverage']), 'NO-GO 1 coverage.snapshots', 'one NULL snapshot too many: NO-GO, exit 1, naming coverage.snapshots');
SELECT matches((SELECT reasons[1] FROM validate_verdict((SELECT jsonb_agg(to_jsonb(c)) FROM validate_checks(ARRAY['coverage']) c))),
               '^coverage\.snapshots: 18 of 20 sessions have snapshots', 'the reason says what was found');
SELECT is(pg_temp.verdict(ARRAY['coverage'], '{"thresholds": {"coverage": 90}}'), 'GO 0 ', 'with coverage >= 90% it is GO again');
SELECT is(pg_temp.check_of('coverage', 'coverage.snapshots', '{"severity": {"coverage.snapshots": "WARNING"}}'), 'fail WARNING 90.0%',
          'a severity override makes the failure a WARNING');
SELECT is(pg_temp.verdict(ARRAY['coverage'], '{"severity": {"coverage.snapshots": "WARNING"}}'), 'GO 0 ', 'and a WARNING never changes the verdict');

-- readiness reads coverage: the two sessions left are waiting with their IP in ip_inventory
SELECT is(pg_temp.check_of('readiness', 'readiness.pending'), 'pass INFO 2', 'readiness: 2 sessions need a backfill');
SELECT is(pg_temp.check_of('readiness', 'readiness.inventory_coverage'), 'pass WARNING 100.0%', 'readiness: their IPs are in ip_inventory');

-- an unfinished run is the one backfill_resumable_run names: a WARNING, still GO
INSERT INTO backfill_runs (run_id, dry_run, status) VALUES (7, false, 'paused');
SELECT is(pg_temp.check_of('coverage', 'coverage.backfill_runs'), 'fail WARNING last run #7 paused', 'the paused run is reported unfinished');
SELECT matches((SELECT detail FROM validate_checks(ARRAY['coverage']) WHERE name = 'coverage.backfill_runs'), '#7 paused', 'naming the run backfill_resumable_run(false) resumes');
SELECT is(pg_temp.verdict(ARRAY['coverage'], '{"thresholds": {"coverage": 90}}'), 'GO 0 ', 'an unfinished run alone does not make it NO-GO');
UPDATE backfill_runs SET status = 'completed' WHERE run_id = 7;
SELECT is(pg_temp.check_of('coverage', 'coverage.backfill_runs'), 'pass WARNING last run #7 completed', 'a completed run passes');

-- migrations: the files are the client's; without them the check says so, with them it decides
SELECT is(pg_temp.check_of('schema', 'schema.migrations'), 'skip ERROR -', 'without the client''s migration files: skipped, not passed');
SELECT is(pg_temp.check_of('schema', 'schema.migrations', '{}',
          jsonb_build_object('migrations', jsonb_build_object('onDisk', (SELECT jsonb_agg(name ORDER BY name) FROM pgmigrations) || '["999_not-applied"]', 'files', '{}'))),
          format('fail ERROR %s applied, 1 pending', (SELECT count(*) FROM pgmigrations)), 'a migration file not applied: ERROR, 1 pending');

-- the session is read-write here: read_only fails, CRITICAL
SELECT is(pg_temp.check_of('connection', 'connection.read_only'), 'fail CRITICAL read only off', 'a read-write session fails connection.read_only');
SELECT is(pg_temp.verdict(ARRAY['connection']), 'CRITICAL 2 connection.read_only', 'so the verdict is CRITICAL, exit 2');

-- a check that could not run is never GO
SELECT is((SELECT format('%s %s', verdict, exit_code) FROM validate_verdict('[{"name": "coverage.snapshots", "status": "error", "severity": "ERROR", "detail": "x"},
                                                                              {"name": "accuracy.sample", "status": "pass", "severity": "ERROR", "detail": "y"}]')),
          'COULD-NOT-RUN 3', 'a check that could not run: COULD-NOT-RUN, exit 3');

-- a CRITICAL drift blocks the data checks: they are skipped, not passed
ALTER TABLE session_summaries RENAME COLUMN snapshot_ip_type TO snapshot_ip_types;
SELECT is((SELECT string_agg(format('%s:%s:%s', name, status, severity), ' ' ORDER BY name)
           FROM validate_checks(ARRAY['schema', 'coverage']) WHERE name IN ('schema.drift', 'coverage.snapshots')),
          'coverage.snapshots:skip:ERROR schema.drift:fail:CRITICAL', 'a renamed snapshot column: schema.drift CRITICAL, coverage skipped');

SELECT * FROM finish();
ROLLBACK;
