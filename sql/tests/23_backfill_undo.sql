-- 23_backfill_undo: undo_backfill_batch restores exactly the previous values of exactly
-- the rows a run changed, leaves alone the rows changed since by someone else, and
-- counts them and the rows deleted since.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(13);

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
SELECT session_id, source_ip, snapshot_asn, snapshot_country, snapshot_ip_type, enrichment_at FROM session_summaries;
INSERT INTO backfill_runs (run_id, dry_run, record_undo) VALUES (1, false, true);
SELECT * FROM backfill_snapshots_batch(1, NULL, 1000, false, true, 'scan');
SELECT is((SELECT count(*)::int FROM backfill_undo WHERE run_id = 1), 17, 'the run changed 17 rows');

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
SELECT throws_ok($$CALL undo_backfill(NULL)$$, '22023', NULL, 'undo_backfill needs a run id');

SELECT * FROM finish();
ROLLBACK;
