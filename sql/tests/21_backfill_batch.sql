-- 21_backfill_batch: backfill_snapshots_batch on a hand-made set of sessions that covers
-- every source precedence, every reject reason and the dirty cases of real data:
-- NULL-only filling, no overwrite, the counters, the checkpoint, the undo log.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(62);

-- fixture: the hand-made sessions of sql/tests/fixtures/backfill_cases.sql
\ir fixtures/backfill_cases.sql

INSERT INTO backfill_runs (run_id, dry_run, record_undo) VALUES (1, false, true);
CREATE TEMP TABLE r1 AS SELECT * FROM backfill_snapshots_batch(1, NULL, 1000, false, true, 'scan');
CREATE FUNCTION pg_temp.row_of(p_id text) RETURNS text LANGUAGE sql AS $$
    SELECT format('%s|%s|%s|%s|%s', source_ip, snapshot_asn, snapshot_country, snapshot_ip_type,
                  to_char(enrichment_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'))
    FROM session_summaries WHERE session_id = p_id
$$;
CREATE FUNCTION pg_temp.reject_of(p_id text) RETURNS text LANGUAGE sql AS $$
    SELECT reason FROM backfill_rejects WHERE run_id = 1 AND session_id = p_id
$$;

-- the batch itself
SELECT is((SELECT rows_scanned FROM r1), 31, 'batch: 31 sessions needed something (the fully written one is not a candidate)');
SELECT is((SELECT last_key FROM r1), 's32-not-object', 'batch: last_key is the last session examined');
SELECT is((SELECT done FROM r1), false, 'batch: not done after a batch with rows');
SELECT is((SELECT rows_errors FROM r1), 0, 'batch: no statement failed (the unreadable row is a reject before the rule, not an error; 25 tests the isolation of a failing row)');
SELECT is((SELECT rows_filled + rows_unchanged + rows_rejected FROM r1), 31, 'batch: every examined row has an outcome');

-- sources, in order (source_ip|asn|country|type|enrichment_at)
SELECT is(pg_temp.row_of('s01-full'), '1.2.3.4|4134|CN|DATACENTER|2025-05-01 10:00', 'json: every value from the session JSON');
SELECT is(pg_temp.row_of('s02-asn-string'), '1.2.3.4|4837|CN|DATACENTER|2025-05-01 10:00', 'asn: AS4837 string from JSON');
SELECT is(pg_temp.row_of('s03-asn-history'), '1.2.3.4|4837|CN|DATACENTER|2025-05-01 10:00', 'asn: no cymru -> ip_asn_history as of first_event_at');
SELECT is(pg_temp.row_of('s04-asn-history-later'), '1.2.3.4|4134|CN|DATACENTER|2025-05-01 10:00', 'asn: history picks the latest observation before the session');
SELECT is(pg_temp.row_of('s05-asn-inventory'), '1.2.3.4|4134|CN|DATACENTER|2025-05-01 10:00', 'asn: no observation before the session -> ip_inventory.current_asn');
SELECT is(pg_temp.row_of('s06-asn-json-null'), '1.2.3.4|4837|CN|DATACENTER|2025-05-01 10:00', 'asn: JSON null counts as missing -> history');
SELECT is(pg_temp.row_of('s07-country-cymru'), '1.2.3.4|4134|DE|DATACENTER|2025-05-01 10:00', 'country: no maxmind -> cymru.country, upper-cased');
SELECT is(pg_temp.row_of('s08-country-dshield'), '1.2.3.4|4837|CN|DATACENTER|2025-05-01 10:00', 'country: no geolocation in JSON -> ip_inventory.geo_country before dshield.ip.ascountry');
SELECT is(pg_temp.row_of('s09-country-inventory'), '1.2.3.4|4837|CN|DATACENTER|2025-05-01 10:00', 'country: none in JSON -> ip_inventory.geo_country');
SELECT is(pg_temp.row_of('s10-country-xx'), '5.6.7.8|4837|XX||', 'country: inventory without country -> XX; no type, no time anywhere -> NULL');
SELECT is(pg_temp.row_of('s22-no-inventory'), '|4134|CN|DATACENTER|2025-05-01 10:00', 'no inventory: source_ip left NULL, the rest from JSON');
SELECT is(pg_temp.row_of('s23-ipv6'), '2001:db8::1|13335|US|MOBILE|2025-05-01 10:00', 'IPv6 canonical; asn, country, type from inventory');
SELECT is(pg_temp.row_of('s24-types-array'), '1.2.3.4|4134|CN|VPN|2025-05-01 10:00', 'type: the preferred element of the array (VPN before MOBILE), upper-cased');
SELECT is(pg_temp.row_of('s25-type-inventory'), '1.2.3.4|4134|CN|DATACENTER|2025-05-01 10:00', 'type: no spur -> ip_inventory.ip_types[1], upper-cased');
SELECT is(pg_temp.row_of('s26-type-none'), '5.6.7.8|4837|SE||2025-03-01 01:00', 'type: no spur and empty ip_types -> stays NULL; enrichment_at: the country came from the capture -> created_at');
SELECT is(pg_temp.row_of('s27-at-inventory'), '1.2.3.4|4134|CN|DATACENTER|2025-03-01 01:00', 'enrichment_at: no enriched_at, values from the capture -> the session''s created_at');

-- NULL-only filling, never an overwrite
SELECT is(pg_temp.row_of('s28-prefilled-country'), '1.2.3.4|4134|JP|DATACENTER|2025-05-01 10:00', 'a value written by someone else (JP) is kept, the NULLs are filled');
SELECT is(pg_temp.row_of('s29-prefilled-all'), '5.6.7.8|64500|SE|VPN|2020-01-01 00:00', 'a fully written row is not touched');

-- rejects: reason, and the row is left as it was
SELECT is(pg_temp.reject_of('s11-country-3letter'), 'bad_country', 'reject: 3-letter country');
SELECT is(pg_temp.reject_of('s12-bad-ip'), 'bad_ip', 'reject: not an IP');
SELECT is(pg_temp.reject_of('s13-bad-ip-range'), 'bad_ip', 'reject: octet out of range');
SELECT is(pg_temp.reject_of('s14-no-dshield'), 'no_source_ip', 'reject: no dshield member');
SELECT is(pg_temp.reject_of('s15-ip-json-null'), 'no_source_ip', 'reject: JSON null IP');
SELECT is(pg_temp.reject_of('s16-enrichment-null'), 'no_enrichment', 'reject: SQL NULL enrichment');
SELECT is(pg_temp.reject_of('s17-enrichment-empty'), 'no_enrichment', 'reject: {} enrichment');
SELECT is(pg_temp.reject_of('s18-enrichment-json-null'), 'no_enrichment', 'reject: JSON null enrichment');
SELECT is(pg_temp.reject_of('s32-not-object'), 'no_enrichment', 'reject: enrichment that is not an object');
SELECT is(pg_temp.reject_of('s19-bad-asn'), 'bad_asn', 'reject: ASN ASx');
SELECT is(pg_temp.reject_of('s20-asn-zero'), 'bad_asn', 'reject: ASN 0');
SELECT is(pg_temp.reject_of('s21-bad-enriched-at'), 'bad_enriched_at', 'reject: enriched_at yesterday');
SELECT is(pg_temp.reject_of('s31-private-bad-inventory-country'), 'bad_country', 'reject: inventory country U1 fails the CHECK');
SELECT is(pg_temp.reject_of('s30-nul-escape'), 'row_error', 'reject: a row whose JSON cannot be read (NUL escape) is a row_error');
SELECT matches((SELECT detail FROM backfill_rejects WHERE run_id = 1 AND session_id = 's30-nul-escape'), '^22P05: ', 'reject: row_error keeps SQLSTATE and message');
SELECT is((SELECT detail FROM backfill_rejects WHERE run_id = 1 AND session_id = 's11-country-3letter'), 'CHN', 'reject: detail is the raw value');
SELECT is((SELECT count(*)::int FROM backfill_rejects WHERE run_id = 1), 14, 'reject: 14 rejects in all');
SELECT is((SELECT count(*)::int FROM session_summaries s JOIN backfill_rejects r ON r.session_id = s.session_id
           WHERE r.run_id = 1 AND NOT (s.source_ip IS NULL AND s.snapshot_asn IS NULL AND s.snapshot_country IS NULL
                                       AND s.snapshot_ip_type IS NULL AND s.enrichment_at IS NULL)), 0,
          'reject: every rejected row still has all five columns NULL');

-- counters and checkpoint of the run
SELECT is((SELECT last_key FROM backfill_runs WHERE run_id = 1)::text, 's32-not-object', 'checkpoint: last_key in backfill_runs');
SELECT is((SELECT rows_scanned FROM backfill_runs WHERE run_id = 1), 31::bigint, 'counter: rows_scanned');
SELECT is((SELECT rows_rejected FROM backfill_runs WHERE run_id = 1), 14::bigint, 'counter: rows_rejected');
SELECT is((SELECT rows_filled FROM backfill_runs WHERE run_id = 1), 17::bigint, 'counter: rows_filled');
SELECT is((SELECT rows_no_inventory FROM backfill_runs WHERE run_id = 1), 1::bigint, 'counter: one session with an IP missing from ip_inventory');
SELECT is((SELECT rows_scanned - rows_filled - rows_unchanged - rows_rejected - rows_deferred - rows_resolved_elsewhere
           FROM backfill_runs WHERE run_id = 1), 0::bigint, 'counter: scanned = filled + unchanged + rejected + deferred + elsewhere');
SELECT is((SELECT format('%s %s %s', asn_from_json, asn_from_history, asn_from_inventory) FROM backfill_runs WHERE run_id = 1),
          '8 5 4', 'counter: ASN sources (json, history, inventory)');
SELECT is((SELECT format('%s %s %s', country_from_json, country_from_inventory, country_default) FROM backfill_runs WHERE run_id = 1),
          '12 3 1', 'counter: country sources (json, inventory, default: the inventory says XX and the session names no country)');
SELECT is((SELECT batches FROM backfill_runs WHERE run_id = 1), 1, 'checkpoint: one batch counted');
SELECT is((SELECT count(*)::int FROM backfill_batches WHERE run_id = 1), 1, 'checkpoint: one backfill_batches row');

-- the undo log has exactly the changed rows, with old and new values
SELECT is((SELECT count(*)::int FROM backfill_undo WHERE run_id = 1), 17, 'undo: one entry per changed row');
SELECT is((SELECT format('%s>%s %s>%s', old_snapshot_country, new_snapshot_country, old_source_ip, new_source_ip)
           FROM backfill_undo WHERE run_id = 1 AND session_id = 's28-prefilled-country'), 'JP>JP >1.2.3.4',
          'undo: previous and new values of the five columns');
SELECT is((SELECT count(*)::int FROM backfill_undo u JOIN session_summaries s USING (session_id)
           WHERE u.run_id = 1 AND (s.source_ip, s.snapshot_asn, s.snapshot_country, s.snapshot_ip_type, s.enrichment_at)
                 IS DISTINCT FROM (u.new_source_ip, u.new_snapshot_asn, u.new_snapshot_country, u.new_snapshot_ip_type, u.new_enrichment_at)), 0,
          'undo: new_* are the values now in the table');

-- keyset: the next batch starts after last_key and finds nothing; batch size 1 walks one key at a time
CREATE TEMP TABLE r2 AS SELECT * FROM backfill_snapshots_batch(1, 's32-not-object', 1000, false, true, 'scan');
SELECT is((SELECT done FROM r2), true, 'keyset: nothing after the last key, done');
INSERT INTO backfill_runs (run_id, dry_run, record_undo) VALUES (2, false, true);
-- run 1 settled every session it decided (backfill_settled): a run with recheck_all
-- forgets them first, as here, and looks at every session that still has a NULL column
DELETE FROM backfill_settled;
SELECT is((SELECT last_key FROM backfill_snapshots_batch(2, NULL, 1, false, true, 'scan')), 's10-country-xx',
          'keyset: batch size 1 takes the first key that still has a NULL column');
SELECT is((SELECT last_key FROM backfill_snapshots_batch(2, 's10-country-xx', 2, false, true, 'scan')), 's12-bad-ip',
          'keyset: the next batch continues after it');

-- idempotence: a new run over the whole table changes nothing
INSERT INTO backfill_runs (run_id, dry_run, record_undo) VALUES (3, false, true);
CREATE TEMP TABLE before3 AS SELECT session_id, source_ip, snapshot_asn, snapshot_country, snapshot_ip_type, enrichment_at FROM session_summaries;
SELECT is((SELECT rows_filled FROM backfill_snapshots_batch(3, NULL, 1000, false, true, 'scan')), 0, 'idempotent: a second run fills nothing');
SELECT is((SELECT count(*)::int FROM before3 b JOIN session_summaries s USING (session_id)
           WHERE (b.source_ip, b.snapshot_asn, b.snapshot_country, b.snapshot_ip_type, b.enrichment_at)
                 IS DISTINCT FROM (s.source_ip, s.snapshot_asn, s.snapshot_country, s.snapshot_ip_type, s.enrichment_at)), 0,
          'idempotent: the table is unchanged');
SELECT is((SELECT count(*)::int FROM backfill_undo WHERE run_id = 3), 0, 'idempotent: nothing in the undo log');

-- arguments
SELECT throws_ok($$SELECT * FROM backfill_snapshots_batch(1, NULL, 0)$$, '22023', NULL, 'batch size 0 is refused');
SELECT throws_ok($$SELECT * FROM backfill_snapshots_batch(999, NULL, 10)$$, 'P0002', NULL, 'unknown run is refused');

SELECT * FROM finish();
ROLLBACK;
