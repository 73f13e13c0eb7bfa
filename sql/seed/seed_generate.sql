-- seed_generate(sessions, seed, ips DEFAULT NULL, chunk_size DEFAULT 250000,
--               enrichment_shape DEFAULT 'real')
--
-- Fills an EMPTY upstream v16 schema (asn_inventory, ip_inventory,
-- ip_asn_history, session_summaries) with deterministic, production-shaped
-- synthetic data and returns the rows written per table. Same (sessions, seed,
-- ips, enrichment_shape) => identical rows, on any plan or server: every value
-- is derived from hashint8extended(row number, seed-derived key) (see
-- seed_session_core), no random(), no now(); the data covers
-- 2024-11-06 .. 2025-11-06 UTC.
--
-- Shape: ips defaults to round(sessions * 38864 / 1682827) (the production
-- ratio, at least 1); every IP has at least one session, a few IPs have
-- thousands (skew u^3). 1.5% of the IPs are IPv6 and 1.0% private/reserved
-- (10/8, 192.168/16, 127/8, 172.16/12), the rest public IPv4. About 2% of the
-- IPs are absent from ip_inventory; about 10% changed ASN during the year
-- (2 or 3 observations in ip_asn_history), so the ASN "as of first_event_at"
-- differs from ip_inventory.current_asn for part of their sessions.
--
-- Session enrichment (json), enrichment_shape 'real' (the selector rates are
-- in seed_session_core and docs/seed.md): ~92% in the upstream loader's shape,
--   {"session": {"<ip>": {"dshield": {"ip": {"number", "as", "asname",
--    "ascountry", "count", "attacks"}}, "urlhaus": "...", "spur": [18 strings]
--    or SPUR's object}}, "virustotal": {...}}
-- (values of the IP at the session's time: the ASN of its era, the AS's
-- country, SPUR infrastructure/types and location from the IP's inventory
-- data), ~3% the loader's skip-enrich payload (every value ''), ~4% the flat
-- shape (top-level dshield.ip.number, cymru.asn, cymru.country,
-- maxmind.country, dshield.ip.ascountry, spur.client.types, enriched_at),
-- 0.5% two IPs under "session", 1% SQL NULL, 0.5% '{}', and the dirty cases of
-- each shape. enrichment_shape 'flat': every object session in the flat shape
-- (the rows this function wrote before the loader shape existed).
-- Snapshot columns are NULL except ~1% of sessions that "someone already
-- wrote" (valid values, source_ip present in ip_inventory; for the loader
-- shapes what the snapshot rule reads from them and from the inventory).
--
-- Refuses (SQLSTATE 55000) when any of the four tables already has rows:
-- call seed_reset() first. Runs in the caller's transaction (nothing is
-- visible until it commits; an error leaves the database as it was). Sets
-- synchronous_commit = off, work_mem and maintenance_work_mem = 256MB for the
-- rest of the transaction. For the load, the foreign keys among the four
-- tables, the primary key of session_summaries (when no other table refers to
-- it) and its other indexes are dropped; afterwards they are recreated from
-- their own definitions (pg_get_constraintdef / pg_get_indexdef: same names,
-- same NOT VALID state) and the four tables are ANALYZEd.
--
-- Raises 22023 for a bad argument (sessions, seed, ips, chunk_size, a shape
-- other than 'real' or 'flat').
--
-- Re-runnable: the earlier 4-argument form is dropped first (an overload would
-- make seed_generate(n, seed) ambiguous).
-- Locks: ACCESS EXCLUSIVE on the four tables (DROP/ADD CONSTRAINT, DROP/CREATE
-- INDEX) until the caller's transaction ends. Meant for an empty database, not
-- for one in use.
DO $drop$ BEGIN  -- quietly: no NOTICE when there is nothing to drop
    IF to_regprocedure('seed_generate(bigint,integer,integer,integer)') IS NOT NULL THEN
        DROP FUNCTION seed_generate(bigint, integer, integer, integer);
    END IF;
END $drop$;
CREATE OR REPLACE FUNCTION seed_generate(
    sessions bigint, seed integer, ips integer DEFAULT NULL,
    chunk_size integer DEFAULT 250000, enrichment_shape text DEFAULT 'real')
RETURNS TABLE (table_name text, rows_written bigint)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_sessions  bigint  := sessions;
    v_seed      integer := seed;
    v_ips       integer;
    v_kv6       integer;
    v_kpriv     integer;
    v_kpub      integer;
    v_nasn      integer;
    v_key       bigint  := seed::bigint << 8;
    v_idoff     bigint;
    v_c2        text[];
    v_c3        text[];
    v_rir       text[];
    v_cpick     integer[];
    v_types     text[];
    v_oct       integer[] := ARRAY[1,2,5,14,27,36,39,42,43,45,46,47,49,58,59,60,61,62,
        77,78,79,80,81,82,83,85,87,89,91,92,93,94,95,101,103,104,106,107,109,110,
        111,112,113,114,115,116,117,118,119,120,121,122,123,124,125,134,138,139,141,
        143,144,146,147,150,152,154,157,159,162,164,165,167,170,171,175,176,178,179,
        180,181,182,183,185,186,187,188,189,190,191,193,194,195,196,197,200,201,202,
        210,211,212,213,217,218,219,220,221,222,223];
    v_v6pfx     text[]  := ARRAY['2a01:4f8','2001:41d0','240e:3b7','2400:8901',
        '2604:a880','2a03:b0c0','2001:da8','2409:8a1e','2a02:4780','2001:19f0'];
    v_words1    text[]  := ARRAY['NET','TELE','CLOUD','DATA','HOST','WEB','FIBER',
        'LINK','SKY','STAR','GLOBAL','METRO','NORTH','BLUE','GREEN','FAST','PRIME'];
    v_words2    text[]  := ARRAY['COM','NET','HOSTING','TELECOM','SYSTEMS','SERVERS',
        'BROADBAND','NETWORKS','CLOUD','ONLINE','DIGITAL'];
    v_lo        bigint;
    v_hi        bigint;
    v_n         bigint;
    v_asn_rows  bigint;
    v_ip_rows   bigint;
    v_hist_rows bigint;
    v_sess_rows bigint := 0;
    v_idx       record;
    v_idx_defs  text[] := '{}';
    v_def       text;
    v_pk_name   text;
    v_type_col  text;
    v_type_arr  boolean := false;
    v_has_types boolean;
    v_pk_def    text;
    v_fk        record;
    v_fk_sql    text[] := '{}';
    v_rels      regclass[];
    v_t0        timestamptz := clock_timestamp();
    v_flat      boolean;
BEGIN
    IF v_sessions IS NULL OR v_sessions < 1 OR v_sessions > 50000000 THEN
        RAISE EXCEPTION 'seed_generate: sessions must be between 1 and 50000000 (got %)', v_sessions
            USING ERRCODE = '22023';
    END IF;
    IF v_seed IS NULL THEN
        RAISE EXCEPTION 'seed_generate: seed must not be NULL' USING ERRCODE = '22023';
    END IF;
    v_ips := coalesce(ips, greatest(1, round(v_sessions * 38864.0 / 1682827)::integer));
    IF v_ips < 1 OR v_ips > v_sessions THEN
        RAISE EXCEPTION 'seed_generate: ips must be between 1 and sessions (%) (got %)', v_sessions, v_ips
            USING ERRCODE = '22023';
    END IF;
    IF enrichment_shape IS NULL OR enrichment_shape NOT IN ('real', 'flat') THEN
        RAISE EXCEPTION 'seed_generate: enrichment_shape must be real or flat (got %)', enrichment_shape
            USING ERRCODE = '22023';
    END IF;
    v_flat := enrichment_shape = 'flat';
    IF chunk_size IS NULL OR chunk_size < 1000 THEN
        RAISE EXCEPTION 'seed_generate: chunk_size must be at least 1000 (got %)', chunk_size
            USING ERRCODE = '22023';
    END IF;

    -- The upstream v16 schema must be there, with the singular snapshot column
    -- (drift is applied after generation by seed_apply_drift).
    IF to_regclass('session_summaries') IS NULL OR to_regclass('ip_inventory') IS NULL
       OR to_regclass('asn_inventory') IS NULL OR to_regclass('ip_asn_history') IS NULL THEN
        RAISE EXCEPTION 'seed_generate: the v16 tables are missing (session_summaries, ip_inventory, asn_inventory, ip_asn_history)'
            USING ERRCODE = '42P01', HINT = 'Apply migrations 001 and 002 first.';
    END IF;
    -- Drifted shapes are accepted, so that a drift can be applied to the empty
    -- schema first (cheap) and the data written in the drifted form: the
    -- snapshot type goes to snapshot_ip_type, else snapshot_ip_types (text or
    -- text[], one-element arrays); ip_inventory.ip_types is written if present.
    SELECT a.attname, a.atttypid = 'text[]'::regtype INTO v_type_col, v_type_arr
    FROM pg_attribute AS a
    WHERE a.attrelid = 'session_summaries'::regclass AND NOT a.attisdropped
      AND a.attname IN ('snapshot_ip_type', 'snapshot_ip_types')
      AND a.atttypid IN ('text'::regtype, 'text[]'::regtype)
    ORDER BY a.attname
    LIMIT 1;
    v_has_types := EXISTS (SELECT 1 FROM pg_attribute AS a
                           WHERE a.attrelid = 'ip_inventory'::regclass AND NOT a.attisdropped
                             AND a.attname = 'ip_types');
    IF EXISTS (SELECT 1 FROM session_summaries) OR EXISTS (SELECT 1 FROM ip_inventory)
       OR EXISTS (SELECT 1 FROM asn_inventory) OR EXISTS (SELECT 1 FROM ip_asn_history) THEN
        RAISE EXCEPTION 'seed_generate: the database already has data (session_summaries or the inventory tables are not empty)'
            USING ERRCODE = '55000', HINT = 'Call seed_reset() first (cowrie-db seed --reset).';
    END IF;

    v_rels := ARRAY['asn_inventory', 'ip_inventory', 'ip_asn_history', 'session_summaries']::regclass[];
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM set_config('maintenance_work_mem', '256MB', true);
    -- the per-IP table (~1 kB a row) must hash in memory: a batched hash join
    -- would spill every chunk of sessions to temporary files
    PERFORM set_config('work_mem', '256MB', true);

    v_kv6   := floor(v_ips * 0.015)::integer;
    v_kpriv := floor(v_ips * 0.010)::integer;
    v_kpub  := v_ips - v_kv6 - v_kpriv;
    v_nasn  := greatest(1, round(v_ips * 0.09)::integer);
    v_idoff := hashint8extended(v_seed, 48) & 281474976710655;

    -- Countries (alpha-2, alpha-3, RIR) and their weights.
    IF to_regclass('pg_temp.seed_tmp_country') IS NOT NULL THEN
        DROP TABLE pg_temp.seed_tmp_country, pg_temp.seed_tmp_asn,
                   pg_temp.seed_tmp_slot, pg_temp.seed_tmp_stats;
    END IF;
    CREATE TEMP TABLE seed_tmp_country ON COMMIT DROP AS
    SELECT ord AS idx, v.c2, c3, rir, w, l.city, l.state
    FROM (VALUES
        (1,'CN','CHN','apnic',20), (2,'US','USA','arin',16), (3,'RU','RUS','ripencc',6),
        (4,'IN','IND','apnic',6), (5,'BR','BRA','lacnic',5), (6,'VN','VNM','apnic',5),
        (7,'KR','KOR','apnic',4), (8,'DE','DEU','ripencc',4), (9,'SG','SGP','apnic',4),
        (10,'HK','HKG','apnic',3), (11,'NL','NLD','ripencc',3), (12,'FR','FRA','ripencc',3),
        (13,'ID','IDN','apnic',3), (14,'TW','TWN','apnic',2), (15,'GB','GBR','ripencc',2),
        (16,'JP','JPN','apnic',2), (17,'IR','IRN','ripencc',2), (18,'UA','UKR','ripencc',2),
        (19,'TH','THA','apnic',1), (20,'BG','BGR','ripencc',1), (21,'RO','ROU','ripencc',1),
        (22,'AR','ARG','lacnic',1), (23,'MX','MEX','lacnic',1), (24,'PK','PAK','apnic',1),
        (25,'TR','TUR','ripencc',1), (26,'EG','EGY','afrinic',1), (27,'ZA','ZAF','afrinic',1),
        (28,'CA','CAN','arin',1), (29,'IT','ITA','ripencc',1), (30,'PL','POL','ripencc',1)
    ) AS v(ord, c2, c3, rir, w)
    -- SPUR's location of an IP in the country (one city each)
    LEFT JOIN (VALUES
        ('CN','Beijing','Beijing'), ('US','Ashburn','Virginia'), ('RU','Moscow','Moscow'),
        ('IN','Mumbai','Maharashtra'), ('BR','Sao Paulo','Sao Paulo'), ('VN','Hanoi','Hanoi'),
        ('KR','Seoul','Seoul'), ('DE','Frankfurt am Main','Hesse'), ('SG','Singapore','Singapore'),
        ('HK','Hong Kong','Hong Kong'), ('NL','Amsterdam','North Holland'), ('FR','Paris','Ile-de-France'),
        ('ID','Jakarta','Jakarta'), ('TW','Taipei','Taipei'), ('GB','London','England'),
        ('JP','Tokyo','Tokyo'), ('IR','Tehran','Tehran'), ('UA','Kyiv','Kyiv City'),
        ('TH','Bangkok','Bangkok'), ('BG','Sofia','Sofia City'), ('RO','Bucharest','Bucuresti'),
        ('AR','Buenos Aires','Buenos Aires'), ('MX','Mexico City','Mexico City'), ('PK','Karachi','Sindh'),
        ('TR','Istanbul','Istanbul'), ('EG','Cairo','Cairo'), ('ZA','Johannesburg','Gauteng'),
        ('CA','Toronto','Ontario'), ('IT','Milan','Lombardy'), ('PL','Warsaw','Mazovia')
    ) AS l(c2, city, state) ON l.c2 = v.c2;
    SELECT array_agg(c2 ORDER BY idx), array_agg(c3 ORDER BY idx), array_agg(rir ORDER BY idx)
      INTO v_c2, v_c3, v_rir FROM seed_tmp_country;
    SELECT array_agg(idx ORDER BY idx, g) INTO v_cpick
      FROM seed_tmp_country, generate_series(1, w) AS g;
    -- spur client types of an IP (comma-separated, '' = none), weighted.
    SELECT array_agg(t ORDER BY ord, g) INTO v_types
      FROM (VALUES (1,'DATACENTER',40), (2,'DATACENTER,PROXY',10), (3,'RESIDENTIAL',15),
                   (4,'MOBILE',5), (5,'VPN',8), (6,'DATACENTER,VPN',5), (7,'TOR',1),
                   (8,'RESIDENTIAL,PROXY',6), (9,'',10)) AS v(ord, t, w),
           generate_series(1, w) AS g;

    -- ASNs: the well-known honeypot sources first (busiest), then synthetic
    -- ones (400000 + 3*idx + r: distinct, above every well-known number).
    CREATE TEMP TABLE seed_tmp_asn ON COMMIT DROP AS
    WITH known(idx, asn, org, c2, asn_type) AS (VALUES
        (1, 4134, 'CHINANET-BACKBONE No.31,Jin-rong Street', 'CN', 'isp'),
        (2, 14061, 'DIGITALOCEAN-ASN', 'US', 'hosting'),
        (3, 45090, 'TENCENT-NET-AP Shenzhen Tencent Computer Systems Company Limited', 'CN', 'hosting'),
        (4, 4837, 'CHINA169-BACKBONE CHINA UNICOM China169 Backbone', 'CN', 'isp'),
        (5, 37963, 'ALIBABA-CN-NET Hangzhou Alibaba Advertising Co.,Ltd.', 'CN', 'hosting'),
        (6, 16509, 'AMAZON-02', 'US', 'hosting'),
        (7, 396982, 'GOOGLE-CLOUD-PLATFORM', 'US', 'hosting'),
        (8, 16276, 'OVH', 'FR', 'hosting'),
        (9, 24940, 'HETZNER-AS', 'DE', 'hosting'),
        (10, 63949, 'AKAMAI-LINODE-AP Akamai Connected Cloud', 'US', 'hosting'),
        (11, 8075, 'MICROSOFT-CORP-MSN-AS-BLOCK', 'US', 'hosting'),
        (12, 9808, 'CHINAMOBILE-CN China Mobile Communications Group Co., Ltd.', 'CN', 'isp'),
        (13, 4766, 'KIXS-AS-KR Korea Telecom', 'KR', 'isp'),
        (14, 3462, 'HINET Data Communication Business Group', 'TW', 'isp'),
        (15, 9829, 'BSNL-NIB National Internet Backbone', 'IN', 'isp'),
        (16, 7552, 'VIETEL-AS-AP Viettel Group', 'VN', 'isp'),
        (17, 45899, 'VNPT-AS-VN VNPT Corp', 'VN', 'isp'),
        (18, 28573, 'Claro NXT Telecomunicacoes Ltda', 'BR', 'isp'),
        (19, 12389, 'ROSTELECOM-AS', 'RU', 'isp'),
        (20, 135377, 'UCLOUD-HK-AS-AP UCLOUD INFORMATION TECHNOLOGY HK LIMITED', 'HK', 'hosting'),
        (21, 51167, 'CONTABO', 'DE', 'hosting'),
        (22, 20473, 'AS-CHOOPA', 'US', 'hosting'),
        (23, 6939, 'HURRICANE', 'US', 'isp'),
        (24, 14618, 'AMAZON-AES', 'US', 'hosting'),
        (25, 132203, 'TENCENT-NET-AP-CN Tencent Building, Kejizhongyi Avenue', 'CN', 'hosting'),
        (26, 18403, 'FPT-AS-AP The Corporation for Financing & Promoting Technology', 'VN', 'isp'),
        (27, 7922, 'COMCAST-7922', 'US', 'isp'),
        (28, 9009, 'M247', 'GB', 'hosting'),
        (29, 200019, 'ALEXHOST', 'MD', 'hosting'),
        (30, 49505, 'SELECTEL', 'RU', 'hosting'))
    SELECT g AS idx,
           coalesce(k.asn, 400000 + 3 * g + (abs(hashint8extended(g, v_key + 20)) % 3)::integer) AS asn,
           coalesce(k.org, v_words1[1 + abs(hashint8extended(g, v_key + 21)) % 17] || '-'
                           || v_words2[1 + abs(hashint8extended(g, v_key + 22)) % 11] || '-AS') AS org,
           coalesce(k.c2, v_c2[v_cpick[1 + abs(hashint8extended(g, v_key + 23)) % array_length(v_cpick, 1)]]) AS c2,
           coalesce(k.asn_type, (ARRAY['isp','isp','hosting','hosting','hosting','business','education','government'])
                                [1 + abs(hashint8extended(g, v_key + 24)) % 8]) AS asn_type,
           abs(hashint8extended(g, v_key + 25)) % 100 < 4 AS is_vpn
    FROM generate_series(1, v_nasn) AS g
    LEFT JOIN known AS k ON k.idx = g;
    -- 'MD' is not in the weighted list: give the ASN table its own RIR lookup.
    ALTER TABLE seed_tmp_asn ADD COLUMN rir text;
    UPDATE seed_tmp_asn a SET rir = coalesce(
        (SELECT c.rir FROM seed_tmp_country c WHERE c.c2 = a.c2), 'ripencc');
    ALTER TABLE seed_tmp_asn ADD PRIMARY KEY (idx);

    -- IP slots: address, country, ASN over time, spur types, inventory flags.
    -- toast_tuple_target: keep the ~1 kB rows uncompressed (read once per session)
    CREATE TEMP TABLE seed_tmp_slot WITH (toast_tuple_target = 8160) ON COMMIT DROP AS
    WITH b AS (
        SELECT g AS slot,
               CASE WHEN g <= v_kpub THEN '4' WHEN g <= v_kpub + v_kv6 THEN '6' ELSE 'p' END AS kind,
               hashint8extended(g, v_key + 30) AS k1,
               hashint8extended(g, v_key + 31) AS k2,
               hashint8extended(g, v_key + 32) AS k3,
               hashint8extended(g, v_key + 33) AS k4
        FROM generate_series(1, v_ips) AS g
    ), c AS (
        SELECT b.*,
               -- ASN index: skewed toward the first (busiest) ASNs
               1 + floor(v_nasn * (u.a * u.a * sqrt(u.a)))::integer AS ai1,
               1 + (((b.k2 >> 16) & 4294967295) % v_nasn)::integer AS ai2r,
               1 + (((b.k3 >> 16) & 4294967295) % v_nasn)::integer AS ai3r,
               CASE WHEN b.kind = 'p' OR v_nasn < 2 THEN 1
                    WHEN (b.k2 & 65535) < 4588 THEN 2
                    WHEN (b.k2 & 65535) < 6554 THEN 3
                    ELSE 1 END AS nobs,
               -- public IPv4: first octet from the list, low 24 bits a bijection of the slot
               ((b.slot::bigint * 2654435761 + (v_idoff & 16777215)) & 16777215) AS low24,
               ((b.slot - v_kpub - v_kv6 - 1) / 4)::bigint * 40503 % 65536 AS pm
        FROM b
        CROSS JOIN LATERAL (SELECT ((b.k1 >> 16) & 4294967295)::float8 / 4294967296.0 AS a) AS u
    ), d AS (
        SELECT c.*,
               CASE WHEN c.ai2r = c.ai1 THEN 1 + c.ai1 % v_nasn ELSE c.ai2r END AS ai2,
               CASE WHEN ((c.k3 >> 48) & 1) = 0 THEN c.ai1
                    WHEN c.ai3r = c.ai1 THEN 1 + c.ai1 % v_nasn ELSE c.ai3r END AS ai3,
               CASE c.kind
                 WHEN '4' THEN v_oct[1 + (abs(c.k4) % array_length(v_oct, 1))] || '.'
                               || (c.low24 >> 16) || '.' || ((c.low24 >> 8) & 255) || '.' || (c.low24 & 255)
                 WHEN '6' THEN host((v_v6pfx[1 + abs(c.k4) % array_length(v_v6pfx, 1)] || ':'
                               || to_hex((c.k4 >> 8) & 65535) || ':' || to_hex((c.k4 >> 24) & 65535) || '::'
                               || to_hex((c.slot - v_kpub - 1) >> 16) || ':' || to_hex((c.slot - v_kpub - 1) & 65535))::inet)
                 ELSE CASE (c.slot - v_kpub - v_kv6 - 1) % 4
                        WHEN 0 THEN '10.' || (c.pm >> 8) || '.' || (c.pm & 255) || '.' || (1 + abs(c.k4) % 254)
                        WHEN 1 THEN '192.168.' || (c.pm >> 8) || '.' || (c.pm & 255)
                        WHEN 2 THEN '127.' || (c.pm >> 8) || '.' || (c.pm & 255) || '.' || (1 + abs(c.k4) % 254)
                        ELSE '172.' || (16 + (c.pm >> 12)) || '.' || ((c.pm >> 4) & 255) || '.'
                             || ((c.pm & 15) * 16 + 1 + abs(c.k4) % 15)
                      END
               END AS ip,
               CASE c.kind
                 WHEN '4' THEN v_oct[1 + (abs(c.k4) % array_length(v_oct, 1))] || '.' || (c.low24 >> 16) || '.0.0/16'
                 WHEN '6' THEN v_v6pfx[1 + abs(c.k4) % array_length(v_v6pfx, 1)] || '::/32'
               END AS prefix,
               -- ASN changes: t1 in the first 2/3 of the year, t2 1-3 months later
               timestamptz '2024-11-06 00:00:00+00'
                 + interval '1 second' * (2592000 + ((c.k2 >> 16) & 65535) * 200) AS t1,
               timestamptz '2024-11-06 00:00:00+00'
                 + interval '1 second' * (2592000 + ((c.k2 >> 16) & 65535) * 200
                                          + 2592000 + ((c.k2 >> 32) & 65535) * 80) AS t2,
               timestamptz '2024-11-06 00:00:00+00'
                 - interval '1 second' * (3600 + ((c.k3 >> 16) & 65535) * 39) AS t0,
               v_types[1 + abs(c.k3) % array_length(v_types, 1)] AS types_csv,
               -- ~2% absent from ip_inventory (never one of the busiest slots)
               NOT (c.slot > least(50, v_kpub / 10) AND ((c.k4 >> 32) & 65535) < 1311) AS in_inv
        FROM c
    )
    SELECT d.slot, d.kind, d.ip, d.prefix, d.nobs, d.t0, d.t1, d.t2, d.in_inv,
           CASE WHEN d.kind = 'p' THEN NULL::integer[]
                WHEN d.nobs = 1 THEN ARRAY[a1.asn]
                WHEN d.nobs = 2 THEN ARRAY[a1.asn, a2.asn]
                ELSE ARRAY[a1.asn, a2.asn, a3.asn] END AS asns,
           CASE WHEN d.kind = 'p' THEN NULL::text[]
                ELSE ARRAY[a1.org, a2.org, a3.org] END AS orgs,
           CASE WHEN d.kind = 'p' THEN NULL::text[]
                ELSE ARRAY[a1.c2, a2.c2, a3.c2] END AS actry,
           CASE WHEN d.kind = 'p' THEN NULL::text[]
                ELSE ARRAY[a1.rir, a2.rir, a3.rir] END AS arir,
           -- geolocation country: the ASN's country 90% of the time
           CASE WHEN d.kind = 'p' THEN NULL
                WHEN ((d.k1 >> 48) & 65535) < 58982 AND a1.c2 = ANY (v_c2) THEN a1.c2
                ELSE v_c2[v_cpick[1 + ((d.k1 >> 48) & 65535) % array_length(v_cpick, 1)]] END AS c2,
           CASE WHEN d.kind = 'p' THEN '{}'::text[]
                ELSE coalesce(string_to_array(nullif(d.types_csv, ''), ','), '{}'::text[]) END AS types,
           ((d.k4 >> 48) & 65535) < 39322 AND d.kind <> 'p' AS scanner,
           ((d.k4 >> 8) & 255) < 13 AS no_maxmind_inv,
           ((d.k4 >> 16) & 255) < 26 AS no_greynoise_inv,
           (1 + abs(d.k1) % 5000)::integer AS dcount,
           (1 + abs(d.k2) % 900)::integer AS dattacks,
           (5 + abs(d.k3) % 500)::integer AS accuracy
    FROM d
    LEFT JOIN seed_tmp_asn AS a1 ON a1.idx = d.ai1
    LEFT JOIN seed_tmp_asn AS a2 ON a2.idx = d.ai2
    LEFT JOIN seed_tmp_asn AS a3 ON a3.idx = d.ai3;
    -- country columns derived once (alpha-3 for the 'CHN' dirty case)
    -- Pre-built JSON fragments of each IP, so that a session only picks and
    -- joins them: dsh[era] ends the dshield object, cym[asn_mode*3 + era] is the
    -- whole cymru member, mm[country_mode + 1] the maxmind member (mm[5] NULL),
    -- spur[1] array form, spur[2] string form, spur[3] JSON null.
    ALTER TABLE seed_tmp_slot
        ADD COLUMN c3 text,
        ADD COLUMN ip_q text,
        ADD COLUMN dsh text[],
        ADD COLUMN cym text[],
        ADD COLUMN mm text[],
        ADD COLUMN spur text[];
    UPDATE seed_tmp_slot s
       SET c3 = v_c3[array_position(v_c2, s.c2)],
           ip_q = to_json(s.ip)::text,
           dsh = CASE WHEN s.kind = 'p'
                      THEN array_fill(concat(',"count":"', s.dcount, '","attacks":"', s.dattacks, '"}}'), ARRAY[3])
                      ELSE ARRAY[concat(',"count":"', s.dcount, '","attacks":"', s.dattacks,
                                        '","asn":"', s.asns[least(1, s.nobs)],
                                        '","asname":', to_json(s.orgs[least(1, s.nobs)])::text,
                                        ',"ascountry":"', s.actry[least(1, s.nobs)], '"}}'),
                                 concat(',"count":"', s.dcount, '","attacks":"', s.dattacks,
                                        '","asn":"', s.asns[least(2, s.nobs)],
                                        '","asname":', to_json(s.orgs[least(2, s.nobs)])::text,
                                        ',"ascountry":"', s.actry[least(2, s.nobs)], '"}}'),
                                 concat(',"count":"', s.dcount, '","attacks":"', s.dattacks,
                                        '","asn":"', s.asns[least(3, s.nobs)],
                                        '","asname":', to_json(s.orgs[least(3, s.nobs)])::text,
                                        ',"ascountry":"', s.actry[least(3, s.nobs)], '"}}')] END,
           cym = CASE WHEN s.kind = 'p'
                      THEN array_fill('"cymru":{"asn":null,"country":null}'::text, ARRAY[12])
                      ELSE ARRAY[concat('"cymru":{"asn":', s.asns[least(1, s.nobs)]::text, ',"country":"', s.actry[least(1, s.nobs)],
                                        '","prefix":"', s.prefix, '","registry":"', s.arir[least(1, s.nobs)], '"}'),
                                 concat('"cymru":{"asn":', s.asns[least(2, s.nobs)]::text, ',"country":"', s.actry[least(2, s.nobs)],
                                        '","prefix":"', s.prefix, '","registry":"', s.arir[least(2, s.nobs)], '"}'),
                                 concat('"cymru":{"asn":', s.asns[least(3, s.nobs)]::text, ',"country":"', s.actry[least(3, s.nobs)],
                                        '","prefix":"', s.prefix, '","registry":"', s.arir[least(3, s.nobs)], '"}'),
                                 concat('"cymru":{"asn":', concat('"AS', s.asns[least(1, s.nobs)], '"'), ',"country":"', s.actry[least(1, s.nobs)],
                                        '","prefix":"', s.prefix, '","registry":"', s.arir[least(1, s.nobs)], '"}'),
                                 concat('"cymru":{"asn":', concat('"AS', s.asns[least(2, s.nobs)], '"'), ',"country":"', s.actry[least(2, s.nobs)],
                                        '","prefix":"', s.prefix, '","registry":"', s.arir[least(2, s.nobs)], '"}'),
                                 concat('"cymru":{"asn":', concat('"AS', s.asns[least(3, s.nobs)], '"'), ',"country":"', s.actry[least(3, s.nobs)],
                                        '","prefix":"', s.prefix, '","registry":"', s.arir[least(3, s.nobs)], '"}'),
                                 concat('"cymru":{"asn":', concat('"', s.asns[least(1, s.nobs)], '"'), ',"country":"', s.actry[least(1, s.nobs)],
                                        '","prefix":"', s.prefix, '","registry":"', s.arir[least(1, s.nobs)], '"}'),
                                 concat('"cymru":{"asn":', concat('"', s.asns[least(2, s.nobs)], '"'), ',"country":"', s.actry[least(2, s.nobs)],
                                        '","prefix":"', s.prefix, '","registry":"', s.arir[least(2, s.nobs)], '"}'),
                                 concat('"cymru":{"asn":', concat('"', s.asns[least(3, s.nobs)], '"'), ',"country":"', s.actry[least(3, s.nobs)],
                                        '","prefix":"', s.prefix, '","registry":"', s.arir[least(3, s.nobs)], '"}'),
                                 concat('"cymru":{"asn":', 'null', ',"country":"', s.actry[least(1, s.nobs)],
                                        '","prefix":"', s.prefix, '","registry":"', s.arir[least(1, s.nobs)], '"}'),
                                 concat('"cymru":{"asn":', 'null', ',"country":"', s.actry[least(2, s.nobs)],
                                        '","prefix":"', s.prefix, '","registry":"', s.arir[least(2, s.nobs)], '"}'),
                                 concat('"cymru":{"asn":', 'null', ',"country":"', s.actry[least(3, s.nobs)],
                                        '","prefix":"', s.prefix, '","registry":"', s.arir[least(3, s.nobs)], '"}')] END,
           mm = CASE WHEN s.kind = 'p'
                     THEN ARRAY['"maxmind":{"country":null}', '"maxmind":{"country":null}',
                                '"maxmind":{"country":null}', '"maxmind":{"country":null}', NULL]
                     ELSE ARRAY[concat('"maxmind":{"country":"', s.c2, '","accuracy_radius":', s.accuracy, '}'),
                                concat('"maxmind":{"country":"', lower(s.c2), '","accuracy_radius":', s.accuracy, '}'),
                                concat('"maxmind":{"country":"', v_c3[array_position(v_c2, s.c2)],
                                       '","accuracy_radius":', s.accuracy, '}'),
                                concat('"maxmind":{"country":null,"accuracy_radius":', s.accuracy, '}'),
                                NULL] END,
           spur = CASE WHEN cardinality(s.types) > 0
                       THEN ARRAY[concat('"spur":{"client":{"types":', array_to_json(s.types)::text, '}}'),
                                  concat('"spur":{"client":{"types":', to_json(s.types[1])::text, '}}'),
                                  '"spur":{"client":{"types":null}}']
                       ELSE ARRAY[NULL, NULL, NULL]::text[] END;
    -- Loader-shape fragments (the upstream loader's per-IP value under "session"):
    -- l_as/l_org/l_ctry/l_c3 per era (DShield's as, asname, ascountry and its
    -- alpha-3), l_head[era] the whole dshield member up to "urlhaus": with the
    -- normal values, l_tail its end (count, attacks), l_spur[era] the full legacy
    -- spur list, l_spur_rest its members [4..17] (location [13], client types [6]
    -- as the loader's str() of a list), l_infra SPUR's infrastructure, l_objloc
    -- the object form's location, l_types / l_type1 the client types (array / the
    -- first as a string). Private IPs: every value '' (DShield/SPUR know nothing).
    ALTER TABLE seed_tmp_slot
        ADD COLUMN l_as text[],
        ADD COLUMN l_org text[],
        ADD COLUMN l_ctry text[],
        ADD COLUMN l_c3 text[],
        ADD COLUMN l_tail text,
        ADD COLUMN l_head text[],
        ADD COLUMN l_infra text,
        ADD COLUMN l_spur_rest text,
        ADD COLUMN l_spur text[],
        ADD COLUMN l_objloc text,
        ADD COLUMN l_types text,
        ADD COLUMN l_type1 text,
        ADD COLUMN l_pref text,
        ADD COLUMN inv_geo text,
        ADD COLUMN inv_at timestamptz;
    UPDATE seed_tmp_slot s
       SET l_as   = ARRAY[s.asns[least(1, s.nobs)]::text, s.asns[least(2, s.nobs)]::text, s.asns[least(3, s.nobs)]::text],
           l_org  = ARRAY[to_json(s.orgs[least(1, s.nobs)])::text, to_json(s.orgs[least(2, s.nobs)])::text,
                          to_json(s.orgs[least(3, s.nobs)])::text],
           l_ctry = ARRAY[s.actry[least(1, s.nobs)], s.actry[least(2, s.nobs)], s.actry[least(3, s.nobs)]],
           l_c3   = ARRAY[coalesce(v_c3[array_position(v_c2, s.actry[least(1, s.nobs)])], CASE WHEN s.actry[least(1, s.nobs)] = 'MD' THEN 'MDA' END),
                          coalesce(v_c3[array_position(v_c2, s.actry[least(2, s.nobs)])], CASE WHEN s.actry[least(2, s.nobs)] = 'MD' THEN 'MDA' END),
                          coalesce(v_c3[array_position(v_c2, s.actry[least(3, s.nobs)])], CASE WHEN s.actry[least(3, s.nobs)] = 'MD' THEN 'MDA' END)],
           l_tail = concat(',"count":"', s.dcount, '","attacks":"', s.dattacks, '"}},"urlhaus":'),
           l_infra = CASE WHEN 'DATACENTER' = ANY (s.types) THEN 'DATACENTER'
                          WHEN 'RESIDENTIAL' = ANY (s.types) THEN 'RESIDENTIAL'
                          WHEN 'MOBILE' = ANY (s.types) THEN 'MOBILE'
                          WHEN cardinality(s.types) > 0 THEN 'DATACENTER'
                          ELSE '' END,
           l_spur_rest = concat(',"","","',
                                CASE WHEN cardinality(s.types) > 0
                                     THEN '[''' || array_to_string(s.types, ''', ''') || ''']' END,
                                '","","","","","","",',
                                to_json(concat_ws(', ', c.city, c.state, s.c2))::text,
                                ',"","","",""]'),
           l_objloc = CASE WHEN s.kind <> 'p' THEN concat('{"city":', to_json(c.city)::text, ',"state":',
                                                          to_json(c.state)::text, ',"country":"', s.c2, '"}') END,
           l_types = array_to_json(s.types)::text,
           l_type1 = coalesce(to_json(s.types[1])::text, '""'),
           -- the type the loader prefers among several; the inventory's geo_country
           -- (its generated expression: maxmind, else cymru country)
           l_pref = CASE WHEN 'VPN' = ANY (s.types) THEN 'VPN' WHEN 'TOR' = ANY (s.types) THEN 'TOR'
                         WHEN 'PROXY' = ANY (s.types) THEN 'PROXY'
                         WHEN 'DATACENTER' = ANY (s.types) THEN 'DATACENTER'
                         WHEN 'RESIDENTIAL' = ANY (s.types) THEN 'RESIDENTIAL'
                         WHEN 'MOBILE' = ANY (s.types) THEN 'MOBILE' ELSE s.types[1] END,
           inv_geo = CASE WHEN s.kind = 'p' THEN 'XX' WHEN s.no_maxmind_inv THEN s.actry[s.nobs] ELSE s.c2 END
      FROM seed_tmp_slot AS s0
      LEFT JOIN seed_tmp_country AS c ON c.c2 = s0.c2
     WHERE s0.slot = s.slot;
    UPDATE seed_tmp_slot s
       SET l_head = CASE WHEN s.kind = 'p'
                         THEN array_fill(concat('{"dshield":{"ip":{"number":', s.ip_q,
                                                ',"as":"","asname":"","ascountry":""', s.l_tail), ARRAY[3])
                         ELSE ARRAY[concat('{"dshield":{"ip":{"number":', s.ip_q, ',"as":', s.l_as[1],
                                           ',"asname":', s.l_org[1], ',"ascountry":"', s.l_ctry[1], '"', s.l_tail),
                                    concat('{"dshield":{"ip":{"number":', s.ip_q, ',"as":', s.l_as[2],
                                           ',"asname":', s.l_org[2], ',"ascountry":"', s.l_ctry[2], '"', s.l_tail),
                                    concat('{"dshield":{"ip":{"number":', s.ip_q, ',"as":', s.l_as[3],
                                           ',"asname":', s.l_org[3], ',"ascountry":"', s.l_ctry[3], '"', s.l_tail)] END,
           l_spur = CASE WHEN s.kind = 'p'
                         THEN array_fill('["","","","","","","","","","","","","","","","","",""]'::text, ARRAY[3])
                         ELSE ARRAY[concat('["', s.l_as[1], '",', s.l_org[1], ',', s.l_org[1], ',"', s.l_infra, '"', s.l_spur_rest),
                                    concat('["', s.l_as[2], '",', s.l_org[2], ',', s.l_org[2], ',"', s.l_infra, '"', s.l_spur_rest),
                                    concat('["', s.l_as[3], '",', s.l_org[3], ',', s.l_org[3], ',"', s.l_infra, '"', s.l_spur_rest)] END;
    ALTER TABLE seed_tmp_slot ADD PRIMARY KEY (slot);
    ANALYZE seed_tmp_slot;

    -- Per-IP activity (only sessions whose JSON names the IP count as sightings).
    CREATE TEMP TABLE seed_tmp_stats ON COMMIT DROP AS
    SELECT c.slot,
           count(*) FILTER (WHERE c.named)::integer AS n_sessions,
           min(c.first_event_at) FILTER (WHERE c.named) AS first_at,
           max(c.last_event_at) FILTER (WHERE c.named) AS last_at
    FROM (SELECT c0.slot, c0.first_event_at, c0.last_event_at,
                 c0.enrich_mode = 0 AND CASE WHEN c0.shape = 3 THEN c0.ip_mode = 0
                                             ELSE c0.key_mode = 0 END AS named
          FROM seed_session_core(v_seed, 1, v_sessions, v_ips, v_kpub, v_kv6, v_kpriv, v_flat) AS c0) AS c
    GROUP BY c.slot;  -- FILTER, not WHERE: the planner then expects many groups and hashes
    ALTER TABLE seed_tmp_stats ADD PRIMARY KEY (slot);
    -- the inventory's enrichment_updated_at of each IP (the pre-written snapshots use it)
    UPDATE seed_tmp_slot s SET inv_at = coalesce(st.last_at, s.t0) + interval '2 hours'
      FROM seed_tmp_slot AS s0 LEFT JOIN seed_tmp_stats AS st ON st.slot = s0.slot
     WHERE s0.slot = s.slot;
    RAISE NOTICE 'seed: % IPs (% IPv6, % private), % ASNs planned (% s)', v_ips, v_kv6, v_kpriv, v_nasn,
        round(extract(epoch FROM clock_timestamp() - v_t0)::numeric, 1);

    -- Foreign keys among the four tables are dropped for the load (the data
    -- satisfies them by construction) and re-added, validated, at the end: one
    -- join per key instead of one lookup per row.
    FOR v_fk IN
        SELECT c.conrelid::regclass::text AS tbl, c.conname, pg_get_constraintdef(c.oid) AS def
        FROM pg_constraint AS c
        WHERE c.contype = 'f' AND c.conrelid = ANY (v_rels) AND c.confrelid = ANY (v_rels)
        ORDER BY 1, 2
    LOOP
        v_fk_sql := v_fk_sql || format('ALTER TABLE %s ADD CONSTRAINT %I %s', v_fk.tbl, v_fk.conname, v_fk.def);
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', v_fk.tbl, v_fk.conname);
    END LOOP;

    -- asn_inventory: every ASN some IP belongs or belonged to.
    INSERT INTO asn_inventory (asn_number, organization_name, organization_country, rir_registry,
        asn_type, is_known_hosting, is_known_vpn, first_seen, last_seen, unique_ip_count,
        total_session_count, enrichment, enrichment_updated_at, created_at, updated_at)
    SELECT a.asn, a.org, a.c2, upper(a.rir), a.asn_type, a.asn_type = 'hosting', a.is_vpn,
           coalesce(u.first_at, timestamptz '2024-11-06 00:00:00+00'),
           coalesce(u.last_at, timestamptz '2024-11-06 00:00:00+00'),
           coalesce(u.n_ips, 0), coalesce(u.n_sessions, 0),
           jsonb_build_object(
               'cymru', jsonb_build_object('asn', a.asn, 'country', a.c2, 'registry', a.rir, 'as_name', a.org),
               'spur', jsonb_build_object('organization', a.org, 'type', a.asn_type)),
           coalesce(u.last_at, timestamptz '2024-11-06 00:00:00+00') + interval '6 hours',
           coalesce(u.first_at, timestamptz '2024-11-06 00:00:00+00') + interval '5 minutes',
           coalesce(u.last_at, timestamptz '2024-11-06 00:00:00+00') + interval '6 hours'
    FROM seed_tmp_asn AS a
    LEFT JOIN (
        SELECT s.asns[cardinality(s.asns)] AS asn, count(*) FILTER (WHERE s.in_inv)::integer AS n_ips,
               sum(st.n_sessions)::integer AS n_sessions,
               min(st.first_at) AS first_at, max(st.last_at) AS last_at
        FROM seed_tmp_slot AS s LEFT JOIN seed_tmp_stats AS st USING (slot)
        WHERE s.asns IS NOT NULL
        GROUP BY 1
    ) AS u ON u.asn = a.asn
    WHERE a.asn IN (SELECT unnest(s.asns) FROM seed_tmp_slot AS s);
    GET DIAGNOSTICS v_asn_rows = ROW_COUNT;

    -- ip_inventory: enrichment jsonb shaped so that the generated columns get values.
    EXECUTE replace(replace($sql$
    INSERT INTO ip_inventory (ip_address, current_asn, asn_last_verified, first_seen, last_seen,
        session_count, enrichment, enrichment_updated_at, enrichment_version, /*IP_TYPES_COL*/
        created_at, updated_at)
    SELECT s.ip, s.asns[cardinality(s.asns)],
           CASE WHEN s.asns IS NOT NULL THEN
                CASE s.nobs WHEN 1 THEN s.t0 WHEN 2 THEN s.t1 ELSE s.t2 END END,
           coalesce(st.first_at, s.t0), coalesce(st.last_at, s.t0),
           coalesce(st.n_sessions, 0),
           CASE WHEN s.kind = 'p' THEN jsonb_build_object(
                    'maxmind', '{}'::jsonb,
                    'cymru', jsonb_build_object('asn', NULL),
                    'dshield', jsonb_build_object('ip', jsonb_build_object('number', s.ip)),
                    'greynoise', jsonb_build_object('noise', false, 'classification', 'unknown'),
                    'validation', jsonb_build_object('is_bogon', true, 'is_private', true),
                    'spur', '{}'::jsonb)
                ELSE jsonb_strip_nulls(jsonb_build_object(
                    'maxmind', CASE WHEN NOT s.no_maxmind_inv THEN jsonb_build_object(
                        'country', s.c2, 'asn', s.asns[s.nobs], 'asn_org', s.orgs[s.nobs],
                        'accuracy_radius', s.accuracy) END,
                    'cymru', jsonb_build_object('asn', s.asns[s.nobs], 'country', s.actry[s.nobs],
                        'prefix', s.prefix, 'registry', s.arir[s.nobs]),
                    'dshield', jsonb_build_object('ip', jsonb_build_object(
                        'number', s.ip, 'count', s.dcount::text, 'attacks', s.dattacks::text,
                        'asn', s.asns[s.nobs]::text, 'asname', s.orgs[s.nobs],
                        'ascountry', s.actry[s.nobs])),
                    'greynoise', CASE WHEN NOT s.no_greynoise_inv THEN jsonb_build_object(
                        'noise', s.scanner,
                        'classification', CASE WHEN s.scanner THEN 'malicious' ELSE 'unknown' END) END,
                    'validation', jsonb_build_object('is_bogon', false, 'is_private', false),
                    'spur', jsonb_build_object('client', jsonb_build_object('types', to_jsonb(s.types)))))
           END,
           coalesce(st.last_at, s.t0) + interval '2 hours',
           '2.1', /*IP_TYPES_VAL*/
           coalesce(st.first_at, s.t0) + interval '1 minute',
           coalesce(st.last_at, s.t0) + interval '2 hours'
    FROM seed_tmp_slot AS s
    LEFT JOIN seed_tmp_stats AS st USING (slot)
    WHERE s.in_inv
    $sql$, '/*IP_TYPES_COL*/', CASE WHEN v_has_types THEN 'ip_types,' ELSE '' END),
           '/*IP_TYPES_VAL*/', CASE WHEN v_has_types THEN 's.types,' ELSE '' END);
    GET DIAGNOSTICS v_ip_rows = ROW_COUNT;

    -- ip_asn_history: first observation before the window, the changes at t1
    -- (and t2), and for 20% of the stable IPs a later re-verification.
    INSERT INTO ip_asn_history (ip_address, asn_number, observed_at)
    SELECT s.ip, o.asn, o.at
    FROM seed_tmp_slot AS s
    CROSS JOIN LATERAL (VALUES (1, s.asns[1], s.t0), (2, s.asns[2], s.t1), (3, s.asns[3], s.t2),
                               (4, s.asns[1], s.t1)) AS o(i, asn, at)
    WHERE s.in_inv AND s.asns IS NOT NULL
      AND (o.i <= s.nobs OR (o.i = 4 AND s.nobs = 1 AND s.dattacks % 5 = 0));
    GET DIAGNOSTICS v_hist_rows = ROW_COUNT;
    RAISE NOTICE 'seed: inventory written: % ASNs, % IPs, % history rows (% s)', v_asn_rows, v_ip_rows,
        v_hist_rows, round(extract(epoch FROM clock_timestamp() - v_t0)::numeric, 1);

    -- session_summaries: drop the primary key (when no foreign key refers to
    -- it) and the other indexes, load in chunks, rebuild them from their own
    -- definitions (a sorted build is ~6x cheaper than 1.7M random inserts).
    SELECT c.conname, pg_get_constraintdef(c.oid) INTO v_pk_name, v_pk_def
    FROM pg_constraint AS c
    WHERE c.conrelid = 'session_summaries'::regclass AND c.contype = 'p';
    IF v_pk_name IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM pg_constraint AS f
           WHERE f.confrelid = 'session_summaries'::regclass AND f.contype = 'f') THEN
        EXECUTE format('ALTER TABLE session_summaries DROP CONSTRAINT %I', v_pk_name);
    ELSE
        v_pk_name := NULL;
    END IF;
    FOR v_idx IN
        SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
        FROM pg_index AS i
        WHERE i.indrelid = 'session_summaries'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid
                                                         AND c.conrelid = i.indrelid)
        ORDER BY 1
    LOOP
        v_idx_defs := v_idx_defs || v_idx.def;
        EXECUTE 'DROP INDEX ' || v_idx.name;
    END LOOP;

    v_lo := 1;
    WHILE v_lo <= v_sessions LOOP
        v_hi := least(v_sessions, v_lo + chunk_size - 1);
        EXECUTE replace(replace($sql$
        INSERT INTO session_summaries (session_id, first_event_at, last_event_at, event_count,
            command_count, file_downloads, login_attempts, ssh_key_injections, unique_ssh_keys,
            vt_flagged, dshield_flagged, risk_score, matcher, source_files, enrichment,
            created_at, updated_at, source_ip, snapshot_asn, snapshot_country,
            /*TYPE_COL*/ enrichment_at)
        SELECT substr(to_hex(z.sid | 281474976710656), 2),
               z.first_event_at, z.last_event_at,
               2 + 2 * z.logins + z.cmds + 2 * z.dls + z.keys + ((z.h6 >> 60) & 3)::integer,
               z.cmds, z.dls, z.logins, z.keys,
               CASE WHEN z.keys = 0 THEN 0 ELSE 1 + ((z.h6 >> 4) & 1)::integer * (z.keys - 1) END,
               z.vt, z.dsf,
               CASE WHEN ((z.h5 >> 48) & 255) < 5 THEN NULL
                    ELSE least(100, 5 + least(z.cmds, 40) + 15 * least(z.dls, 3) + 20 * z.keys
                                    + CASE WHEN z.vt THEN 25 ELSE 0 END
                                    + CASE WHEN z.dsf THEN 10 ELSE 0 END
                                    + CASE WHEN z.logins > 20 THEN 5 ELSE 0 END
                                    + ((z.h5 >> 48) & 7)::integer) END,
               CASE WHEN ((z.h6 >> 32) & 255) < 200 THEN 'cowrie-json'
                    WHEN ((z.h6 >> 32) & 255) < 238 THEN 'dshield-cowrie'
                    WHEN ((z.h6 >> 32) & 255) < 251 THEN 'legacy-text'
                    ELSE NULL END,
               -- source_files: the sensor's daily log file(s) the session came from
               concat('["/mnt/dshield/data/cowrie/', z.sensor, '/cowrie.json.',
                      to_char(z.first_utc, 'YYYY-MM-DD'), '"',
                      CASE WHEN z.first_utc::date <> z.last_utc::date
                           THEN concat(',"/mnt/dshield/data/cowrie/', z.sensor, '/cowrie.json.',
                                       to_char(z.last_utc, 'YYYY-MM-DD'), '"') END,
                      ']')::json,
               CASE WHEN z.enrich_mode = 1 THEN NULL
                    WHEN z.enrich_mode = 2 THEN '{}'::json
                    -- the loader shapes: {"session": {"<ip>": {...}}, "virustotal": {...}}
                    WHEN z.shape <> 3 THEN concat('{"session":{',
                      CASE WHEN z.key_mode <> 4 THEN concat(
                        (ARRAY[z.ip_q, '"not-an-ip"', '"999.1.2.3"', '""'])[z.key_mode + 1], ':',
                        CASE WHEN z.shape = 2
                             THEN '{"dshield":{"ip":{"asname":"","ascountry":""}},"urlhaus":"","spur":["","","","","","","","","","","","","","","","","",""]}'
                             ELSE concat(
                               -- dshield (up to "urlhaus":)
                               CASE WHEN (z.las_mode = 0 AND z.lctry_mode = 0) OR z.kind = 'p' THEN z.l_head[z.era]
                                    ELSE concat('{"dshield":{"ip":{"number":', z.ip_q,
                                      (ARRAY[',"as":' || z.l_as[z.era], ',"as":"AS' || z.l_as[z.era] || '"',
                                             ',"as":"' || z.l_as[z.era] || '"', ',"as":"ASx"', ',"as":0', ',"as":""',
                                             ',"asnumber":' || z.l_as[z.era], ''])[z.las_mode + 1],
                                      ',"asname":', CASE WHEN z.las_mode = 5 THEN '""' ELSE z.l_org[z.era] END,
                                      ',"ascountry":"',
                                      (ARRAY[z.l_ctry[z.era], lower(z.l_ctry[z.era]), z.l_c3[z.era], ''])[z.lctry_mode + 1],
                                      '"', z.l_tail) END,
                               z.urlhaus, ',"spur":',
                               CASE WHEN z.shape = 1 THEN
                                      CASE WHEN z.kind = 'p' THEN '{}'
                                           ELSE concat('{"asn":',
                                             (ARRAY['{"number":' || z.l_as[z.era] || ',"organization":' || z.l_org[z.era] || '}',
                                                    '"AS' || z.l_as[z.era] || '"', z.l_as[z.era]])[z.ospur_asn + 1],
                                             ',"organization":', z.l_org[z.era], ',"infrastructure":"', z.l_infra,
                                             '","client":', (ARRAY['{"types":' || z.l_types || '}',
                                                                   '{"types":' || z.l_type1 || '}', '{}'])[z.ospur_types + 1],
                                             ',"location":', z.l_objloc, '}') END
                                    WHEN z.lspur_mode = 0 OR z.kind = 'p' THEN z.l_spur[z.era]
                                    WHEN z.lspur_mode = 4 THEN '["","","","","","","","","","","","","","","","","",""]'
                                    ELSE concat('["', (ARRAY['AS' || z.l_as[z.era], '', z.l_as[z.era]])[z.lspur_mode],
                                                '",', z.l_org[z.era], ',', z.l_org[z.era], ',"',
                                                CASE WHEN z.lspur_mode = 3 THEN '' ELSE z.l_infra END, '"', z.l_spur_rest) END,
                               '}') END,
                        -- a second IP (shape 4): its normal per-IP value
                        CASE WHEN z.ip2_q IS NOT NULL THEN
                          concat(',', z.ip2_q, ':', z.l_head2[z.era2], '"","spur":', z.l_spur2[z.era2], '}') END) END,
                      '},"virustotal":',
                      CASE WHEN z.vt THEN concat('{"', md5(z.sid::text), md5((z.sid + 1)::text),
                                                 '":{"data":{"attributes":{"last_analysis_stats":{"malicious":',
                                                 1 + ((z.h7 >> 8) & 31), ',"undetected":', 20 + ((z.h7 >> 16) & 31), '}}}}}')
                           ELSE '{}' END,
                      '}')::json
                    ELSE concat('{', concat_ws(',',
                   CASE WHEN z.ip_mode <> 5 THEN
                     concat('"dshield":{"ip":{"number":',
                            (ARRAY[z.ip_q, '"not-an-ip"', '"999.1.2.3"', '""', 'null'])[z.ip_mode + 1],
                            z.dsh[z.era]) END,
                   CASE WHEN z.asn_mode <> 4 THEN z.cym[z.asn_mode * 3 + z.era] END,
                   z.mm[z.country_mode + 1],
                   CASE WHEN z.spur_mode = 2 THEN NULL
                        WHEN z.spur_mode = 1 THEN z.spur[3]
                        WHEN (z.first_event_at >= timestamptz '2025-05-01 00:00:00+00')
                             <> (((z.h5 >> 16) & 65535) % 10 = 0)
                        THEN z.spur[1]
                        ELSE z.spur[2] END,
                   '"urlhaus":' || z.urlhaus,
                   CASE WHEN z.at_mode = 0 THEN
                     concat('"enriched_at":"', to_char(z.enriched_at AT TIME ZONE 'UTC',
                                                       'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'), '"') END
                 ), '}')::json
               END,
               z.created_at, z.updated_at,
               CASE WHEN z.pre THEN z.ip END,
               CASE WHEN z.pre THEN CASE WHEN ((z.h5 >> 56) & 255) < 64 THEN z.asns[z.nobs]
                                         ELSE z.asns[z.era] END END,
               CASE WHEN z.pre AND z.prefill = 1 THEN
                    CASE WHEN z.shape = 3 THEN coalesce(z.c2, 'XX') ELSE z.inv_geo END END,
               /*TYPE_VAL*/
               CASE WHEN z.pre AND z.prefill = 1 THEN
                    CASE WHEN z.shape = 3 THEN z.enriched_at
                         -- loader: the row's created_at when a value came from the session's
                         -- capture (ASN from dshield or spur, type from spur), else the inventory's time
                         WHEN z.kind <> 'p' AND z.shape <> 2
                              AND (z.las_mode IN (0, 1, 2, 6)
                                   OR (z.las_mode IN (5, 7) AND (z.shape = 1 OR z.lspur_mode IN (0, 1, 3)))
                                   OR (cardinality(z.types) > 0 AND (z.shape = 1 OR z.lspur_mode IN (0, 1, 2))))
                         THEN z.created_at
                         ELSE z.inv_at END END
        FROM (
            SELECT y.*,
                   y.first_event_at AT TIME ZONE 'UTC' AS first_utc,
                   y.last_event_at AT TIME ZONE 'UTC' AS last_utc,
                   y.created_at + interval '1 second' * (1 + ((y.h7 >> 48) & 65535) % 300) AS enriched_at,
                   y.prefill > 0 AND y.in_inv AS pre,
                   -- the pre-written snapshot type: what the rule reads (flat: as before)
                   CASE WHEN y.shape = 3 THEN y.types[1]
                        WHEN (y.shape IN (0, 4) AND y.lspur_mode IN (0, 1, 2)) OR (y.shape = 1 AND y.ospur_types = 2)
                             THEN nullif(y.l_infra, '')
                        WHEN y.shape = 1 AND y.ospur_types = 1 THEN y.types[1]
                        ELSE y.l_pref END AS pre_type,
                   CASE WHEN ((y.h6 >> 42) & 63) < 56 THEN '""'
                        WHEN ((y.h6 >> 42) & 63) < 62 THEN '"malware_download"'
                        ELSE '"elf,mirai"' END AS urlhaus
            FROM (
                SELECT c.n, c.first_event_at, c.last_event_at, c.enrich_mode, c.ip_mode,
                       c.asn_mode, c.country_mode, c.spur_mode, c.at_mode, c.prefill, c.h5, c.sid,
                       sl.kind, sl.ip, sl.ip_q, sl.nobs, sl.asns, sl.c2, sl.types, sl.in_inv,
                       sl.dsh, sl.cym, sl.mm, sl.spur,
                       c.shape, c.key_mode, c.las_mode, c.lctry_mode, c.lspur_mode, c.ospur_asn, c.ospur_types,
                       sl.l_as, sl.l_org, sl.l_ctry, sl.l_c3, sl.l_tail, sl.l_head, sl.l_infra, sl.l_spur_rest,
                       sl.l_spur, sl.l_objloc, sl.l_types, sl.l_type1, sl.l_pref, sl.inv_geo, sl.inv_at,
                       s2.ip_q AS ip2_q, s2.l_head AS l_head2, s2.l_spur AS l_spur2,
                       CASE WHEN sl.nobs >= 3 AND c.first_event_at >= sl.t2 THEN 3
                            WHEN sl.nobs >= 2 AND c.first_event_at >= sl.t1 THEN 2
                            ELSE 1 END AS era,
                       CASE WHEN s2.nobs >= 3 AND c.first_event_at >= s2.t2 THEN 3
                            WHEN s2.nobs >= 2 AND c.first_event_at >= s2.t1 THEN 2
                            ELSE 1 END AS era2,
                       -- counters
                       CASE WHEN (c.h4 & 65535) < 6554 THEN 0
                            WHEN (c.h4 & 65535) < 45875 THEN 1 + (c.h4 & 65535) % 3
                            WHEN (c.h4 & 65535) < 62259 THEN 4 + (c.h4 & 65535) % 17
                            ELSE 21 + (c.h4 & 65535) % 180 END::integer AS logins,
                       CASE WHEN ((c.h4 >> 16) & 65535) < 36045 THEN 0
                            WHEN ((c.h4 >> 16) & 65535) < 55705 THEN 1 + ((c.h4 >> 16) & 65535) % 10
                            WHEN ((c.h4 >> 16) & 65535) < 63569 THEN 11 + ((c.h4 >> 16) & 65535) % 40
                            ELSE 51 + ((c.h4 >> 16) & 65535) % 250 END::integer AS cmds,
                       CASE WHEN ((c.h4 >> 32) & 65535) < 60293 THEN 0
                            WHEN ((c.h4 >> 32) & 65535) < 64881 THEN 1 + ((c.h4 >> 32) & 65535) % 3
                            ELSE 4 + ((c.h4 >> 32) & 65535) % 17 END::integer AS dls,
                       CASE WHEN (c.h6 & 65535) < 62915 THEN 0 ELSE 1 + (c.h6 & 1) END::integer AS keys,
                       ((c.h4 >> 32) & 65535) >= 60293 AND ((c.h6 >> 16) & 255) < 77 AS vt,
                       ((c.h6 >> 24) & 255) < 90 AS dsf,
                       (ARRAY['sensor-01','sensor-02','sensor-03','sensor-04'])[1 + ((c.h6 >> 40) & 3)] AS sensor,
                       c.h6, c.h7,
                       c.last_event_at + interval '1 second' *
                           CASE WHEN ((c.h6 >> 48) & 65535) < 1311
                                THEN 86400 * (1 + ((c.h6 >> 48) & 65535) % 30)
                                ELSE 30 + ((c.h6 >> 48) & 65535) % 3600 END AS created_at,
                       c.last_event_at + interval '1 second' *
                           (CASE WHEN ((c.h6 >> 48) & 65535) < 1311
                                 THEN 86400 * (1 + ((c.h6 >> 48) & 65535) % 30)
                                 ELSE 30 + ((c.h6 >> 48) & 65535) % 3600 END
                            + CASE WHEN ((c.h7 >> 32) & 65535) < 52429 THEN 0
                                   ELSE 3600 * (1 + ((c.h7 >> 32) & 65535) % 720) END) AS updated_at
                FROM seed_session_core($1, $2, $3, $4, $5, $6, $7, $8) AS c
                JOIN seed_tmp_slot AS sl ON sl.slot = c.slot
                -- shape 4: the second IP, a public IPv4 slot other than the first
                LEFT JOIN seed_tmp_slot AS s2
                       ON s2.slot = CASE WHEN c.slot2_h IS NOT NULL AND $5 > 1
                                         THEN 1 + ((least(c.slot, $5) + c.slot2_h % ($5 - 1)) % $5)::integer END
                OFFSET 0
            ) AS y
            OFFSET 0
        ) AS z
        $sql$, '/*TYPE_COL*/',
            CASE WHEN v_type_col IS NULL THEN '' ELSE quote_ident(v_type_col) || ',' END),
            '/*TYPE_VAL*/',
            CASE WHEN v_type_col IS NULL THEN ''
                 WHEN v_type_arr THEN 'CASE WHEN z.pre AND z.prefill = 1 AND z.pre_type IS NOT NULL THEN ARRAY[z.pre_type] END,'
                 ELSE 'CASE WHEN z.pre AND z.prefill = 1 THEN z.pre_type END,' END)
        USING v_seed, v_lo, v_hi, v_ips, v_kpub, v_kv6, v_kpriv, v_flat;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_sess_rows := v_sess_rows + v_n;
        RAISE NOTICE 'seed: session_summaries %/% (% s)', v_sess_rows, v_sessions,
            round(extract(epoch FROM clock_timestamp() - v_t0)::numeric, 1);
        v_lo := v_hi + 1;
    END LOOP;

    IF v_pk_name IS NOT NULL THEN
        EXECUTE format('ALTER TABLE session_summaries ADD CONSTRAINT %I %s', v_pk_name, v_pk_def);
    END IF;
    FOREACH v_def IN ARRAY v_idx_defs LOOP
        EXECUTE v_def;
    END LOOP;
    FOREACH v_def IN ARRAY v_fk_sql LOOP
        EXECUTE v_def;
    END LOOP;
    RAISE NOTICE 'seed: % indexes and % foreign keys rebuilt (% s)', cardinality(v_idx_defs) + (v_pk_name IS NOT NULL)::int,
        cardinality(v_fk_sql),
        round(extract(epoch FROM clock_timestamp() - v_t0)::numeric, 1);

    ANALYZE asn_inventory;
    ANALYZE ip_inventory;
    ANALYZE ip_asn_history;
    ANALYZE session_summaries;
    RAISE NOTICE 'seed: analyzed (% s)', round(extract(epoch FROM clock_timestamp() - v_t0)::numeric, 1);

    DROP TABLE pg_temp.seed_tmp_country, pg_temp.seed_tmp_asn,
               pg_temp.seed_tmp_slot, pg_temp.seed_tmp_stats;

    table_name := 'asn_inventory';     rows_written := v_asn_rows;  RETURN NEXT;
    table_name := 'ip_inventory';      rows_written := v_ip_rows;   RETURN NEXT;
    table_name := 'ip_asn_history';    rows_written := v_hist_rows; RETURN NEXT;
    table_name := 'session_summaries'; rows_written := v_sess_rows; RETURN NEXT;
END
$fn$;
