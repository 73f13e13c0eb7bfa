-- 25_backfill_loader_shape: the snapshot rule on session enrichment written the way the
-- upstream loader writes it ({"session": {"<ip>": {"dshield": ..., "urlhaus": ...,
-- "spur": [18 strings] or {...}}}}), case by case: every source and precedence step,
-- the skip-enrich payload (blanks fall through to ip_inventory), several IPs, the dirty
-- values of each shape, and one batch over all of them (counters, no abort).
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(67);

TRUNCATE session_summaries, ip_asn_history, ip_inventory, asn_inventory,
         backfill_runs, backfill_batches, backfill_rejects, backfill_undo, backfill_deferred CASCADE;
INSERT INTO asn_inventory (asn_number, first_seen, last_seen)
SELECT a, '2024-01-01', '2025-11-01' FROM unnest(ARRAY[16509, 4134, 4837, 14061]) a;
-- 203.0.113.10: full inventory; 198.51.100.20: geolocation unknown (XX), SPUR list in its
-- enrichment, no ip_types; 192.0.2.30: SPUR object with several types; 192.0.2.40: no type anywhere
INSERT INTO ip_inventory (ip_address, current_asn, first_seen, last_seen, enrichment, enrichment_updated_at, ip_types) VALUES
    ('203.0.113.10', 16509, '2024-01-01', '2025-11-01', '{"maxmind": {"country": "US"}}', '2025-06-01 00:00+00', '{}'),
    ('198.51.100.20', 4134, '2024-01-01', '2025-11-01',
     '{"spur": ["4134", "CHINANET", "", "residential", "", "", "", "", "", "", "", "", "", "", "", "", "", ""]}', '2025-07-01 00:00+00', '{}'),
    ('192.0.2.30', 14061, '2024-01-01', '2025-11-01',
     '{"cymru": {"country": "de"}, "spur": {"client": {"types": ["MOBILE", "PROXY"]}}}', '2025-08-01 00:00+00', '{}'),
    ('192.0.2.40', 4837, '2024-01-01', '2025-11-01', '{"maxmind": {"country": "CN"}}', NULL, '{residential, vpn}');
INSERT INTO ip_asn_history (ip_address, asn_number, observed_at) VALUES
    ('198.51.100.20', 4837, '2025-01-01 00:00+00');

-- rule(enrichment): the five values and the reject of backfill_snapshot_source, as one string
CREATE FUNCTION pg_temp.rule(p json, p_first timestamptz DEFAULT '2025-03-01 00:00+00') RETURNS text LANGUAGE sql AS $$
    SELECT format('%s|%s|%s|%s|%s|%s', r.new_source_ip, r.new_snapshot_asn, r.new_snapshot_country,
                  r.new_snapshot_ip_type, to_char(r.new_enrichment_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),
                  r.reject_reason)
    FROM backfill_snapshot_source(p, p_first, timestamptz '2025-03-01 01:00+00') r
$$;
CREATE FUNCTION pg_temp.src(p json) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' ', r.asn_source, r.country_source, r.ip_type_source, r.enrichment_at_source)
    FROM backfill_snapshot_source(p, timestamptz '2025-03-01 00:00+00', timestamptz '2025-03-01 01:00+00') r
$$;
-- the capture of one IP, the way the loader writes it (spur: the 18-string list)
CREATE FUNCTION pg_temp.cap(p_ip text, p_as text DEFAULT '16509', p_ascountry text DEFAULT 'US',
                            p_spur0 text DEFAULT '16509', p_spur3 text DEFAULT 'DATACENTER') RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'dshield', jsonb_build_object('ip', jsonb_build_object('number', p_ip, 'as', p_as::jsonb, 'asname', 'AMAZON-02',
                                                               'ascountry', p_ascountry, 'count', '999', 'attacks', '1000')),
        'urlhaus', '',
        'spur', jsonb_build_array(p_spur0, 'AMAZON-02', 'Amazon.com', p_spur3, '', '', '', '', '', '', '', '', '',
                                  'Ashburn, Virginia, US', '', '', '', ''))
$$;
CREATE FUNCTION pg_temp.loader(p_ip text, p_cap jsonb) RETURNS json LANGUAGE sql AS $$
    SELECT jsonb_build_object('session', jsonb_build_object(p_ip, p_cap), 'virustotal', '{}'::jsonb)::json
$$;
-- the loader's skip-enrich payload for one IP: every lookup an empty string
CREATE FUNCTION pg_temp.skip(p_ip text) RETURNS json LANGUAGE sql AS $$
    SELECT jsonb_build_object('session', jsonb_build_object(p_ip, jsonb_build_object(
        'dshield', '{"ip": {"asname": "", "ascountry": ""}}'::jsonb, 'urlhaus', '',
        'spur', to_jsonb(array_fill(''::text, ARRAY[18])))))::json
$$;

-- the issue's own session, verbatim
SELECT is(pg_temp.rule('{"session":{"203.0.113.10":{"dshield":{"ip":{"number":"203.0.113.10","as":16509,"ascountry":"US"}},
 "urlhaus":"","spur":["16509","AMAZON-02","Amazon.com","DATACENTER","","","","","","","","","","Ashburn, Virginia, US","","","",""]}},"virustotal":{}}'),
          '203.0.113.10|16509|US|DATACENTER|2025-03-01 01:00|', 'loader: the hand-written session gets 203.0.113.10 / 16509 / US / DATACENTER');
SELECT is(pg_temp.src(pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10'))), 'json inventory json session',
          'loader: ASN and type from the capture, country from the inventory''s geolocation, time = created_at');

-- source_ip
SELECT is(split_part(pg_temp.rule(pg_temp.loader(' 203.0.113.10 ', pg_temp.cap('10.9.9.9'))), '|', 1), '203.0.113.10',
          'source_ip: the session key (trimmed), not dshield.ip.number inside it');
SELECT is(pg_temp.rule(pg_temp.loader('2001:DB8::0:1', '{}'::jsonb)), '||XX|||',
          'source_ip: an IPv6 key is canonical; an empty capture leaves the rest to the (absent) inventory');
SELECT is((SELECT parsed_ip FROM backfill_snapshot_source(pg_temp.loader('2001:DB8::0:1', '{}'::jsonb), now(), now())), '2001:db8::1',
          'source_ip: the key parses to its canonical form');
SELECT is(pg_temp.rule(pg_temp.loader('not-an-ip', pg_temp.cap('not-an-ip'))), '|16509|US|DATACENTER|2025-03-01 01:00|bad_ip', 'reject: a key that is not an IP is bad_ip (the other values are never written)');
SELECT is((SELECT reject_detail FROM backfill_snapshot_source(pg_temp.loader('999.1.2.3', pg_temp.cap('x')), now(), now())), '999.1.2.3',
          'reject: bad_ip names the key');
SELECT is(pg_temp.rule('{"session": {}, "virustotal": {}}'), '||XX|||no_source_ip', 'reject: an empty session object names no IP');
SELECT is(pg_temp.rule('{"session": {"": {"dshield": {"ip": {"number": "203.0.113.10"}}}}}'),
          '203.0.113.10|16509|US||2025-06-01 00:00|', 'source_ip: a blank key falls back to dshield.ip.number of its capture');
SELECT is(pg_temp.rule('{"virustotal": {"abc": {}}}'), '||XX|||no_enrichment', 'reject: only virustotal is no_enrichment');
SELECT is(pg_temp.rule('{"session": "203.0.113.10"}'), '||XX|||no_source_ip', 'reject: a session member that is not an object names no IP');

-- several IPs: the first key in document order, counted
SELECT is(pg_temp.rule(('{"session": {"198.51.100.20": ' || pg_temp.cap('198.51.100.20', '4134', 'CN', '4134', 'RESIDENTIAL')::text
                        || ', "203.0.113.10": ' || pg_temp.cap('203.0.113.10')::text || '}}')::json),
          '198.51.100.20|4134|CN|RESIDENTIAL|2025-03-01 01:00|', 'several IPs: the first key in document order is used');
SELECT is((SELECT ip_keys FROM backfill_snapshot_source(('{"session": {"203.0.113.10": {}, "198.51.100.20": {}, "192.0.2.30": {}}}')::json, now(), now())),
          3, 'several IPs: ip_keys counts them');
SELECT is((SELECT ip_keys FROM backfill_snapshot_source(pg_temp.loader('203.0.113.10', '{}'::jsonb), now(), now())), 1, 'one IP: ip_keys 1');
SELECT ok((SELECT ip_keys IS NULL FROM backfill_snapshot_source('{"dshield": {"ip": {"number": "203.0.113.10"}}}'::json, now(), now())),
          'flat shape: ip_keys NULL');

-- snapshot_asn: dshield.ip.as -> asnumber -> spur -> cymru -> history -> inventory
SELECT is(split_part(pg_temp.rule(pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10', '"AS4134"', 'US', '4837'))), '|', 2), '4134',
          'asn: dshield.ip.as first (an AS prefix allowed), before spur[0]');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('203.0.113.10', jsonb_set(pg_temp.cap('203.0.113.10', '""', 'US', '4837'), '{dshield,ip,asnumber}', '"4134"'))), '|', 2), '4134',
          'asn: a blank "as" -> dshield.ip.asnumber');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10', 'null', 'US', 'AS4837'))), '|', 2), '4837',
          'asn: no DShield ASN -> spur[0] of the list');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10', 'null', 'US', '') || '{"cymru": {"asn": 14061}}')), '|', 2), '14061',
          'asn: blank spur[0] -> cymru.asn');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('198.51.100.20', pg_temp.cap('198.51.100.20', 'null', 'US', ''))), '|', 2), '4837',
          'asn: nothing in the capture -> ip_asn_history as of first_event_at');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('198.51.100.20', pg_temp.cap('198.51.100.20', 'null', 'US', '')), '2024-06-01'), '|', 2), '4134',
          'asn: no observation before the session -> ip_inventory.current_asn');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('203.0.113.10', '{"spur": {"asn": {"number": 4134, "organization": "x"}}}')), '|', 2), '4134',
          'asn: spur object form, asn {"number": N}');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('203.0.113.10', '{"spur": {"asn": "AS4837"}}')), '|', 2), '4837',
          'asn: spur object form, asn "AS4837"');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('203.0.113.10', '{"spur": {"asn": 14061}}')), '|', 2), '14061',
          'asn: spur object form, asn a number');
SELECT is(pg_temp.rule(pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10', '"ASx"'))), '203.0.113.10|16509|US|DATACENTER|2025-03-01 01:00|bad_asn',
          'reject: dshield.ip.as "ASx" is bad_asn: the row is rejected, not filled from the fallbacks');
SELECT is(pg_temp.rule(pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10', '0'))), '203.0.113.10|16509|US|DATACENTER|2025-03-01 01:00|bad_asn',
          'reject: dshield.ip.as 0 is bad_asn');
SELECT is(pg_temp.rule(pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10', 'null', 'US', 'n/a'))), '203.0.113.10|16509|US|DATACENTER|2025-03-01 01:00|bad_asn',
          'reject: spur[0] "n/a" is bad_asn');

-- snapshot_country: maxmind -> cymru -> inventory geo (not XX) -> dshield ascountry -> XX
SELECT is(split_part(pg_temp.rule(pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10') || '{"maxmind": {"country": "de"}}')), '|', 3), 'DE',
          'country: a geolocation captured with the session comes first');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10', '16509', 'JP'))), '|', 3), 'US',
          'country: the inventory''s geolocation before DShield''s ascountry');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('198.51.100.20', pg_temp.cap('198.51.100.20', '4134', 'cn'))), '|', 3), 'CN',
          'country: inventory XX -> dshield.ip.ascountry (upper-cased)');
SELECT is(pg_temp.src(pg_temp.loader('198.51.100.20', pg_temp.cap('198.51.100.20', '4134', 'cn'))), 'json json json session',
          'country: ascountry is counted as from the session''s capture');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('198.51.100.20', pg_temp.cap('198.51.100.20', '4134', ''))), '|', 3), 'XX',
          'country: inventory XX and a blank ascountry -> XX');
SELECT is(pg_temp.rule(pg_temp.loader('198.51.100.20', pg_temp.cap('198.51.100.20', '4134', 'CHN'))), '198.51.100.20|4134||DATACENTER|2025-03-01 01:00|bad_country',
          'reject: ascountry CHN (when it is the chosen source) is bad_country');
SELECT is((SELECT reject_detail FROM backfill_snapshot_source(pg_temp.loader('198.51.100.20', pg_temp.cap('198.51.100.20', '4134', 'CHN')), now(), now())),
          'CHN', 'reject: bad_country names the raw value');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10', '16509', 'CHN'))), '|', 6), '',
          'country: a bad ascountry that is not chosen (the inventory knows the country) is no reject');

-- snapshot_ip_type: capture spur -> ip_inventory.ip_types -> inventory enrichment spur
SELECT is(split_part(pg_temp.rule(pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10', '16509', 'US', '16509', ' mobile '))), '|', 4), 'MOBILE',
          'type: spur[3] of the list, trimmed and upper-cased');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('203.0.113.10', '{"spur": {"client": {"types": ["DESKTOP", "tor", "VPN"]}, "infrastructure": "DATACENTER"}}')), '|', 4), 'VPN',
          'type: spur object client.types, the preferred of several (VPN > TOR)');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('203.0.113.10', '{"spur": {"client": {"types": []}, "infrastructure": "datacenter"}}')), '|', 4), 'DATACENTER',
          'type: spur object without client types -> infrastructure');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('192.0.2.40', pg_temp.cap('192.0.2.40', '4837', 'CN', '4837', ''))), '|', 4), 'VPN',
          'type: blank spur[3] -> ip_inventory.ip_types, the preferred element (VPN before RESIDENTIAL)');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('198.51.100.20', pg_temp.cap('198.51.100.20', '4134', 'CN', '4134', ''))), '|', 4), 'RESIDENTIAL',
          'type: empty ip_types -> the inventory''s own SPUR list, element [3]');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('192.0.2.30', '{}'::jsonb)), '|', 4), 'PROXY',
          'type: the inventory''s SPUR object, client.types preferred (PROXY before MOBILE)');
SELECT is(split_part(pg_temp.rule(pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10', '16509', 'US', '16509', ''))), '|', 4), '',
          'type: none anywhere -> NULL (no reject)');

-- enrichment_at: enriched_at -> created_at for captured values -> inventory
SELECT is(split_part(pg_temp.rule(pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10') || '{"enriched_at": "2025-02-01T00:00:00Z"}')), '|', 5), '2025-02-01 00:00',
          'enrichment_at: enriched_at in the capture comes first');
SELECT is(pg_temp.rule(pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10') || '{"enriched_at": "soon"}')), '203.0.113.10|16509|US|DATACENTER|2025-03-01 01:00|bad_enriched_at',
          'reject: a bad enriched_at is bad_enriched_at');

-- the skip-enrich payload: blanks everywhere fall through to ip_inventory, never a reject
SELECT is(pg_temp.rule(pg_temp.skip('203.0.113.10')), '203.0.113.10|16509|US||2025-06-01 00:00|',
          'skip-enrich: IP from the key, ASN/country/time from ip_inventory');
SELECT is(pg_temp.src(pg_temp.skip('203.0.113.10')), 'inventory inventory inventory',
          'skip-enrich: every value from the inventory (no type known)');
SELECT is(pg_temp.rule(pg_temp.skip('192.0.2.30')), '192.0.2.30|14061|DE|PROXY|2025-08-01 00:00|',
          'skip-enrich: the inventory''s geolocation and SPUR type');
SELECT is(pg_temp.rule(pg_temp.skip('198.51.100.77')), '||XX|||', 'skip-enrich, IP not in ip_inventory: country unknown (XX), no reject');

-- the flat shape, under the new precedence
SELECT is(pg_temp.rule('{"dshield": {"ip": {"number": "198.51.100.20", "ascountry": "cn"}}, "cymru": {"asn": "AS4134"}}'),
          '198.51.100.20|4134|CN|RESIDENTIAL|2025-03-01 01:00|', 'flat: cymru.asn, ascountry after the inventory''s XX, type from the inventory SPUR');

-- the shape each document has (backfill_enrichment_capture, passed through by the rule)
CREATE FUNCTION pg_temp.shape(p json) RETURNS text LANGUAGE sql AS $$
    SELECT shape FROM backfill_snapshot_source(p, now(), now())
$$;
SELECT is(pg_temp.shape(pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10'))), 'loader', 'shape: loader');
SELECT is(pg_temp.shape(pg_temp.skip('203.0.113.10')), 'skip_enrich', 'shape: the all-blank payload is skip_enrich');
SELECT is(pg_temp.shape('{"dshield": {"ip": {"number": "203.0.113.10"}}, "cymru": {"asn": 1}}'), 'flat', 'shape: flat');
SELECT is(concat_ws(' ', pg_temp.shape(NULL), pg_temp.shape('null'), pg_temp.shape(' { } '), pg_temp.shape('{"session": {}}')),
          'empty empty empty empty', 'shape: NULL, null, {} and a session object without IPs are empty');
SELECT is(concat_ws(' ', pg_temp.shape('[1]'), pg_temp.shape('"x"'), pg_temp.shape('{"virustotal": {}}')),
          'unknown unknown unknown', 'shape: not an object, or no member the rule reads, is unknown');

-- one batch over sessions of every kind: nothing aborts, the counters add up
CREATE FUNCTION pg_temp.mk(p_id text, p_enrichment json) RETURNS void LANGUAGE sql AS $$
    INSERT INTO session_summaries (session_id, first_event_at, last_event_at, enrichment, created_at)
    VALUES (p_id, '2025-03-01 00:00+00', '2025-03-01 00:10+00', p_enrichment, '2025-03-01 01:00+00')
$$;
SELECT pg_temp.mk('l01', pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10')));
SELECT pg_temp.mk('l02', pg_temp.skip('192.0.2.30'));
SELECT pg_temp.mk('l03', ('{"session": {"198.51.100.20": ' || pg_temp.cap('198.51.100.20', '4134', 'CN', '4134', '')::text
                          || ', "203.0.113.10": {}}}')::json);
SELECT pg_temp.mk('l04', pg_temp.loader('not-an-ip', pg_temp.cap('not-an-ip')));
SELECT pg_temp.mk('l05', pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10', '"ASx"')));
SELECT pg_temp.mk('l06', pg_temp.skip('198.51.100.77'));
SELECT pg_temp.mk('l07', '{"session": {}, "virustotal": {}}');
SELECT pg_temp.mk('l08', ('{"session": {"203.0.113.10": {"dshield": {"ip": {"asname": "a\u0000b"}}}}}')::json);
INSERT INTO backfill_runs (run_id, dry_run, record_undo) VALUES (1, false, true);
CREATE TEMP TABLE r1 AS SELECT * FROM backfill_snapshots_batch(1, NULL, 100, false, true, 'scan');
SELECT is((SELECT format('%s %s %s', rows_scanned, rows_filled, rows_rejected) FROM r1), '8 4 4',
          'batch: 8 sessions, 4 filled (one only with XX: its IP is not in the inventory), 4 rejected');
SELECT is((SELECT string_agg(session_id || ':' || reason, ' ' ORDER BY session_id) FROM backfill_rejects WHERE run_id = 1),
          'l04:bad_ip l05:bad_asn l07:no_source_ip l08:row_error', 'batch: each bad row has its reason; the NUL row is isolated, not an abort');
SELECT is((SELECT format('%s %s %s', enrichment_at_from_json, enrichment_at_from_session, enrichment_at_from_inventory) FROM backfill_runs WHERE run_id = 1),
          '0 2 1', 'counter: enrichment_at sources (json, session created_at, inventory)');
SELECT is((SELECT rows_multi_ip FROM backfill_runs WHERE run_id = 1), 1::bigint, 'counter: one session named two IPs');

SELECT is((SELECT string_agg(format('%s %s %s', shape, sessions, multi_ip), ', ' ORDER BY shape) FROM validate_enrichment_shapes()),
          'empty 1 0, flat 0 0, loader 4 1, skip_enrich 2 0, unknown 0 0, unreadable 1 0',
          'validate_enrichment_shapes: every shape listed, the sessions counted, the multi-IP one named, the NUL one unreadable (no error)');
SELECT is((SELECT sessions FROM validate_coverage() WHERE bucket = 'rejected' AND reason = 'row_error'), 1::bigint,
          'validate_coverage: the unreadable session is counted as a row_error reject, the scan does not fail');
SELECT is((SELECT sessions FROM validate_coverage() WHERE bucket = 'filled'), 3::bigint,
          'validate_coverage: the three filled sessions whose IP is in ip_inventory');
SELECT is((SELECT examples FROM validate_enrichment_shapes() WHERE shape = 'unreadable'), ARRAY['l08'],
          'validate_enrichment_shapes: the unreadable session is named');
SELECT is(concat_ws(' ', backfill_enrichment_unreadable('{"a": "x\u0000"}'), backfill_enrichment_unreadable('{"a": "x\\u0000"}'),
                    backfill_enrichment_unreadable('{"a": "x\\\u0000"}'), backfill_enrichment_unreadable(NULL)),
          't f t f', 'unreadable: a \u0000 escape, not an escaped backslash before u0000; NULL is readable');

-- a row the statement still fails on (here: a trigger of the application's raising a
-- check violation) is isolated by splitting the batch, recorded as row_error, and skipped
CREATE FUNCTION pg_temp.refuse_l09() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.session_id = 'l09' THEN
        RAISE EXCEPTION 'l09 refused by the application' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_l09 BEFORE UPDATE ON session_summaries FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_l09();
SELECT pg_temp.mk('l09', pg_temp.loader('203.0.113.10', pg_temp.cap('203.0.113.10')));
SELECT pg_temp.mk('l10', pg_temp.loader('192.0.2.30', pg_temp.cap('192.0.2.30', '14061', 'DE', '14061', 'MOBILE')));
INSERT INTO backfill_runs (run_id, dry_run, record_undo) VALUES (2, false, true);
CREATE TEMP TABLE r2 AS SELECT * FROM backfill_snapshots_batch(2, 'l08', 100, false, true, 'scan');
SELECT is((SELECT format('%s %s %s', rows_scanned, rows_filled, rows_errors) FROM r2), '2 1 1',
          'isolation: the failing row is isolated (one error), the other row of the batch is filled');
SELECT matches((SELECT reason || ' ' || detail FROM backfill_rejects WHERE run_id = 2 AND session_id = 'l09'), '^row_error 23514: l09 refused',
          'isolation: row_error with the SQLSTATE and the message');
DROP TRIGGER refuse_l09 ON session_summaries;

-- hostile rows: three documents of ~11 MB and two unreadable ones in one batch; the row
-- locks are held only while the batch writes (the values are computed before any lock)
SELECT pg_temp.mk('m' || i, ('{"session": {"203.0.113.10": ' || pg_temp.cap('203.0.113.10')::text
                             || '}, "pad": "' || repeat('x', 11000000) || '"}')::json)
FROM generate_series(1, 3) i;
SELECT pg_temp.mk('m' || i, '{"session": {"203.0.113.10": {"dshield": {"ip": {"asname": "a\u0000"}}}}}'::json)
FROM generate_series(4, 5) i;
INSERT INTO backfill_runs (run_id, dry_run, record_undo) VALUES (3, false, true);
CREATE TEMP TABLE r3 AS SELECT * FROM backfill_snapshots_batch(3, 'l99', 100, false, true, 'scan');
SELECT is((SELECT format('%s %s %s %s', rows_scanned, rows_filled, rows_rejected, rows_errors) FROM r3), '5 3 2 0',
          'hostile rows: the big ones filled, the unreadable ones rejected, no statement failed');
SELECT cmp_ok((SELECT lock_ms FROM backfill_batches WHERE run_id = 3), '<', 250::double precision,
              'hostile rows: the batch held its row locks under 250 ms');

SELECT * FROM finish();
ROLLBACK;
