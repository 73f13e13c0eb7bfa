-- 22_backfill_dry_sweep: the dry run computes exactly what a real run changes and writes
-- nothing to session_summaries; the sweep phase finishes rows that were deferred
-- (locked by another transaction when their batch ran).
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(16);

-- fixture (inside the test's transaction, rolled back at the end): empty tables, then
-- a small inventory and one session per case; mk() inserts a session.
TRUNCATE session_summaries, ip_asn_history, ip_inventory, asn_inventory,
         backfill_runs, backfill_batches, backfill_rejects, backfill_undo, backfill_deferred CASCADE;
INSERT INTO asn_inventory (asn_number, first_seen, last_seen)
SELECT a, '2024-01-01', '2025-11-01' FROM unnest(ARRAY[4134, 4837, 13335, 64500]) a;
INSERT INTO ip_inventory (ip_address, current_asn, first_seen, last_seen, enrichment, enrichment_updated_at, ip_types) VALUES
    ('1.2.3.4', 4134, '2024-01-01', '2025-11-01', '{"maxmind": {"country": "CN"}}', '2025-06-01 00:00+00', '{datacenter}'),
    ('5.6.7.8', 4837, '2024-01-01', '2025-11-01', '{}', NULL, '{}'),
    ('2001:db8::1', 13335, '2024-01-01', '2025-11-01', '{"cymru": {"country": "us"}}', '2025-07-01 00:00+00', '{MOBILE}'),
    ('10.0.0.1', NULL, '2024-01-01', '2025-11-01', '{"maxmind": {"country": "u1"}}', NULL, '{}');
INSERT INTO ip_asn_history (ip_address, asn_number, observed_at) VALUES
    ('1.2.3.4', 4837, '2025-01-01 00:00+00'),
    ('1.2.3.4', 4134, '2025-06-01 00:00+00');
CREATE FUNCTION pg_temp.mk(p_id text, p_enrichment json, p_first timestamptz DEFAULT '2025-03-01 00:00+00')
RETURNS void LANGUAGE sql AS $$
    INSERT INTO session_summaries (session_id, first_event_at, last_event_at, enrichment)
    VALUES (p_id, p_first, p_first, p_enrichment)
$$;
-- the complete, clean enrichment of a session from 1.2.3.4; cases start from it
CREATE FUNCTION pg_temp.full_json() RETURNS jsonb LANGUAGE sql AS $$
    SELECT '{"dshield": {"ip": {"number": "1.2.3.4", "ascountry": "CN"}},
             "cymru": {"asn": 4134, "country": "CN"},
             "maxmind": {"country": "CN"},
             "spur": {"client": {"types": "DATACENTER"}},
             "enriched_at": "2025-05-01T10:00:00Z"}'::jsonb
$$;
SELECT pg_temp.mk('s01-full', pg_temp.full_json()::json);
SELECT pg_temp.mk('s02-asn-string', jsonb_set(pg_temp.full_json(), '{cymru,asn}', '"AS4837"')::json);
SELECT pg_temp.mk('s03-asn-history', (pg_temp.full_json() - 'cymru')::json, '2025-03-01 00:00+00');
SELECT pg_temp.mk('s04-asn-history-later', (pg_temp.full_json() - 'cymru')::json, '2025-07-01 00:00+00');
SELECT pg_temp.mk('s05-asn-inventory', (pg_temp.full_json() - 'cymru')::json, '2024-06-01 00:00+00');
SELECT pg_temp.mk('s06-asn-json-null', jsonb_set(pg_temp.full_json(), '{cymru,asn}', 'null')::json, '2025-03-01 00:00+00');
SELECT pg_temp.mk('s07-country-cymru', (pg_temp.full_json() - 'maxmind' || '{"cymru": {"asn": 4134, "country": "de"}}')::json);
SELECT pg_temp.mk('s08-country-dshield', (pg_temp.full_json() - 'maxmind' - 'cymru' || '{"dshield": {"ip": {"number": "1.2.3.4", "ascountry": "fr"}}}')::json);
SELECT pg_temp.mk('s09-country-inventory', (pg_temp.full_json() - 'maxmind' - 'cymru' || '{"dshield": {"ip": {"number": "1.2.3.4"}}}')::json);
SELECT pg_temp.mk('s10-country-xx', '{"dshield": {"ip": {"number": "5.6.7.8"}}}'::json);
SELECT pg_temp.mk('s11-country-3letter', jsonb_set(pg_temp.full_json(), '{maxmind,country}', '"CHN"')::json);
SELECT pg_temp.mk('s12-bad-ip', jsonb_set(pg_temp.full_json(), '{dshield,ip,number}', '"not-an-ip"')::json);
SELECT pg_temp.mk('s13-bad-ip-range', jsonb_set(pg_temp.full_json(), '{dshield,ip,number}', '"999.1.2.3"')::json);
SELECT pg_temp.mk('s14-no-dshield', (pg_temp.full_json() - 'dshield')::json);
SELECT pg_temp.mk('s15-ip-json-null', jsonb_set(pg_temp.full_json(), '{dshield,ip,number}', 'null')::json);
SELECT pg_temp.mk('s16-enrichment-null', NULL);
SELECT pg_temp.mk('s17-enrichment-empty', '{}'::json);
SELECT pg_temp.mk('s18-enrichment-json-null', 'null'::json);
SELECT pg_temp.mk('s19-bad-asn', jsonb_set(pg_temp.full_json(), '{cymru,asn}', '"ASx"')::json);
SELECT pg_temp.mk('s20-asn-zero', jsonb_set(pg_temp.full_json(), '{cymru,asn}', '0')::json);
SELECT pg_temp.mk('s21-bad-enriched-at', jsonb_set(pg_temp.full_json(), '{enriched_at}', '"yesterday"')::json);
SELECT pg_temp.mk('s22-no-inventory', jsonb_set(pg_temp.full_json(), '{dshield,ip,number}', '"198.51.100.7"')::json);
SELECT pg_temp.mk('s23-ipv6', (pg_temp.full_json() - 'maxmind' - 'cymru' - 'spur' || '{"dshield": {"ip": {"number": "2001:DB8::1"}}}')::json);
SELECT pg_temp.mk('s24-types-array', jsonb_set(pg_temp.full_json(), '{spur,client,types}', '["mobile", "vpn"]')::json);
SELECT pg_temp.mk('s25-type-inventory', (pg_temp.full_json() - 'spur')::json);
SELECT pg_temp.mk('s26-type-none', '{"dshield": {"ip": {"number": "5.6.7.8"}}, "maxmind": {"country": "se"}}'::json);
SELECT pg_temp.mk('s27-at-inventory', (pg_temp.full_json() - 'enriched_at')::json);
SELECT pg_temp.mk('s28-prefilled-country', pg_temp.full_json()::json);
UPDATE session_summaries SET snapshot_country = 'JP' WHERE session_id = 's28-prefilled-country';
SELECT pg_temp.mk('s29-prefilled-all', pg_temp.full_json()::json);
UPDATE session_summaries SET source_ip = '5.6.7.8', snapshot_asn = 64500, snapshot_country = 'SE',
       snapshot_ip_type = 'VPN', enrichment_at = '2020-01-01 00:00+00' WHERE session_id = 's29-prefilled-all';
SELECT pg_temp.mk('s30-nul-escape', '{"dshield": {"ip": {"number": "1.2.3.4"}}, "note": "a\u0000b"}'::json);
SELECT pg_temp.mk('s31-private-bad-inventory-country', '{"dshield": {"ip": {"number": "10.0.0.1"}}}'::json);
SELECT pg_temp.mk('s32-not-object', '[1, 2]'::json);

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
                     ip_type_from_inventory, enrichment_at_from_json, enrichment_at_from_inventory)
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
SELECT is((SELECT count(*)::int FROM (SELECT session_id, reason FROM backfill_rejects WHERE run_id = 1
                                      EXCEPT SELECT session_id, reason FROM backfill_rejects WHERE run_id = 2) x), 0,
          'dry run rejects = real run rejects');
SELECT is((SELECT count(*)::int FROM backfill_runs r, jsonb_array_elements(r.sample) e
           JOIN session_summaries s ON s.session_id = e ->> 'session_id'
           WHERE r.run_id = 1
             AND (e -> 'new' ->> 'source_ip', (e -> 'new' ->> 'snapshot_asn')::int, e -> 'new' ->> 'snapshot_country',
                  e -> 'new' ->> 'snapshot_ip_type', (e -> 'new' ->> 'enrichment_at')::timestamptz)
                 IS DISTINCT FROM (s.source_ip::text, s.snapshot_asn, s.snapshot_country::text, s.snapshot_ip_type, s.enrichment_at)), 0,
          'dry run sample = the values the real run wrote');
SELECT is((SELECT count(*)::int FROM backfill_batches WHERE run_id = 2), 7, 'real run: one backfill_batches row per batch');

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

SELECT * FROM finish();
ROLLBACK;
