-- The migrations keep schema_state.schema_version in step and record themselves.
BEGIN;
SELECT plan(4);
SELECT has_table('schema_state');
SELECT results_eq(
    $$SELECT value FROM schema_state WHERE key = 'schema_version'$$,
    ARRAY['16'::varchar],
    'schema_version is 16 after the v16 migration');
SELECT col_is_pk('schema_state', 'key');
SELECT ok(
    (SELECT count(*) FROM pgmigrations WHERE name IN ('001_v15-baseline', '002_v16-three-tier-enrichment')) = 2,
    'both upstream migrations are recorded in pgmigrations');
SELECT * FROM finish();
ROLLBACK;
