-- 20_backfill_parse: the safe parse helpers of the backfill never raise and read the
-- dirty values of real enrichment JSON the documented way (docs/backfill.md).
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(52);

-- IP: canonical host text, or NULL
SELECT is(backfill_parse_ip('1.2.3.4'), '1.2.3.4', 'ip: plain IPv4');
SELECT is(backfill_parse_ip('  1.2.3.4 '), '1.2.3.4', 'ip: surrounding blanks ignored');
SELECT is(backfill_parse_ip('01.2.3.4'), '1.2.3.4', 'ip: leading zeros read as inet reads them');
SELECT is(backfill_parse_ip('1.2.3.4/32'), '1.2.3.4', 'ip: /32 is a host');
SELECT is(backfill_parse_ip('2001:DB8::1'), '2001:db8::1', 'ip: IPv6 lower-cased and compressed');
SELECT is(backfill_parse_ip('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1', 'ip: long IPv6 compressed');
SELECT is(backfill_parse_ip('10.1.2.3'), '10.1.2.3', 'ip: private ranges are addresses');
SELECT is(backfill_parse_ip('::ffff:1.2.3.4'), '::ffff:1.2.3.4', 'ip: v4-mapped IPv6');
SELECT ok(backfill_parse_ip('not-an-ip') IS NULL, 'ip: garbage gives NULL');
SELECT ok(backfill_parse_ip('999.1.2.3') IS NULL, 'ip: octet out of range gives NULL');
SELECT ok(backfill_parse_ip('1.2.3') IS NULL, 'ip: three octets give NULL');
SELECT ok(backfill_parse_ip('1.2.3.0/24') IS NULL, 'ip: a network gives NULL');
SELECT ok(backfill_parse_ip('fe80::1%eth0') IS NULL, 'ip: zone id gives NULL');
SELECT ok(backfill_parse_ip('') IS NULL AND backfill_parse_ip(NULL) IS NULL, 'ip: blank and NULL give NULL');
SELECT lives_ok($$SELECT backfill_parse_ip(repeat('x', 10000)) || backfill_parse_ip(E'\t')$$, 'ip: never raises');

-- ASN: positive integer, 'AS' prefix stripped
SELECT is(backfill_parse_asn('4134'), 4134, 'asn: digits');
SELECT is(backfill_parse_asn('AS4134'), 4134, 'asn: AS prefix');
SELECT is(backfill_parse_asn('as 4134'), 4134, 'asn: lower-case prefix and blank');
SELECT is(backfill_parse_asn(' AS0001 '), 1, 'asn: leading zeros and blanks');
SELECT is(backfill_parse_asn('2147483647'), 2147483647, 'asn: largest integer');
SELECT ok(backfill_parse_asn('0') IS NULL, 'asn: 0 is not positive');
SELECT ok(backfill_parse_asn('-5') IS NULL, 'asn: negative');
SELECT ok(backfill_parse_asn('4134.0') IS NULL, 'asn: decimal');
SELECT ok(backfill_parse_asn('2147483648') IS NULL, 'asn: out of integer range');
SELECT ok(backfill_parse_asn('99999999999999999999') IS NULL, 'asn: huge');
SELECT ok(backfill_parse_asn('AS') IS NULL AND backfill_parse_asn('ASN4134') IS NULL AND backfill_parse_asn('n/a') IS NULL, 'asn: words');
SELECT ok(backfill_parse_asn('') IS NULL AND backfill_parse_asn(NULL) IS NULL, 'asn: blank and NULL');

-- country: two letters after trim + upper-case; 3-letter codes are not mapped
SELECT is(backfill_parse_country('cn')::text, 'CN', 'country: upper-cased');
SELECT is(backfill_parse_country(' de ')::text, 'DE', 'country: trimmed');
SELECT is(backfill_parse_country('XX')::text, 'XX', 'country: XX (unknown) is valid');
SELECT ok(backfill_parse_country('CHN') IS NULL, 'country: 3-letter code gives NULL');
SELECT ok(backfill_parse_country('C1') IS NULL AND backfill_parse_country('C') IS NULL, 'country: not two letters');
SELECT ok(backfill_parse_country(NULL) IS NULL, 'country: NULL');

-- enriched_at
SELECT is(backfill_parse_timestamptz('2025-05-01T10:00:00Z'), '2025-05-01 10:00:00+00'::timestamptz, 'time: ISO with Z');
SELECT is(backfill_parse_timestamptz('2025-05-01T12:00:00.5+02:00'), '2025-05-01 10:00:00.5+00'::timestamptz, 'time: ISO with offset');
SELECT is(backfill_parse_timestamptz('2025-05-01 10:00:00'), '2025-05-01 10:00:00+00'::timestamptz, 'time: no zone is UTC');
SELECT is(backfill_parse_timestamptz('2025-05-01'), '2025-05-01 00:00:00+00'::timestamptz, 'time: date only is UTC midnight');
SELECT is(backfill_parse_timestamptz('1746093600'), '2025-05-01 10:00:00+00'::timestamptz, 'time: epoch seconds');
SELECT is(backfill_parse_timestamptz('2025-05-01 12:00 Europe/Paris'), '2025-05-01 10:00:00+00'::timestamptz, 'time: zone name');
SELECT ok(backfill_parse_timestamptz('2025-13-45') IS NULL, 'time: impossible date');
SELECT ok(backfill_parse_timestamptz('2025-02-29T00:00:00Z') IS NULL, 'time: not a leap year');
SELECT ok(backfill_parse_timestamptz('now') IS NULL AND backfill_parse_timestamptz('infinity') IS NULL, 'time: special words refused');
SELECT ok(backfill_parse_timestamptz('05/01/2025') IS NULL AND backfill_parse_timestamptz('yesterday') IS NULL, 'time: other forms refused');
SELECT ok(backfill_parse_timestamptz('') IS NULL AND backfill_parse_timestamptz(NULL) IS NULL, 'time: blank and NULL');

-- spur.client.types
SELECT is(backfill_parse_ip_type('"datacenter"'::json), 'DATACENTER', 'type: string upper-cased');
SELECT is(backfill_parse_ip_type('["mobile", "desktop"]'::json), 'MOBILE', 'type: first element of an array');
SELECT is(backfill_parse_ip_type('[" ", 5, "vpn"]'::json), 'VPN', 'type: first non-blank string of an array');
SELECT ok(backfill_parse_ip_type('[]'::json) IS NULL AND backfill_parse_ip_type('null'::json) IS NULL, 'type: empty array and JSON null');
SELECT ok(backfill_parse_ip_type('{"a": 1}'::json) IS NULL AND backfill_parse_ip_type('5'::json) IS NULL, 'type: object and number');
SELECT ok(backfill_parse_ip_type('""'::json) IS NULL AND backfill_parse_ip_type(NULL) IS NULL, 'type: blank string and NULL');

-- the helpers on a set of garbage never fail the statement that uses them
SELECT lives_ok($$
    SELECT count(backfill_parse_ip(v)) + count(backfill_parse_asn(v)) + count(backfill_parse_country(v))
           + count(backfill_parse_timestamptz(v))
    FROM unnest(ARRAY['', ' ', 'x', '-', '::', '1.2.3.4.5', 'AS-1', '9999-99-99', '2025-01-01T99:99:99Z',
                      '2025-01-01 10:00 Mars/Olympus', repeat('9', 64), E'\n', '１２３', 'NaN']) v
$$, 'helpers: garbage never raises');
SELECT is(backfill_parse_timestamptz('2025-01-01 10:00 Mars/Olympus'), NULL, 'time: unknown zone name gives NULL');

SELECT * FROM finish();
ROLLBACK;
