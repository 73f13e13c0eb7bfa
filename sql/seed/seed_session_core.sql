-- seed_session_core(seed, from, to, ips, public_ips, v6_ips, private_ips, flat DEFAULT false)
--
-- The deterministic "skeleton" of synthetic sessions number p_from .. p_to:
-- which IP slot each session comes from, its first/last event time and the
-- dirty-case selectors of its enrichment JSON. Every value is derived from
-- hashint8extended(session number, seed-derived key), never from random(), so
-- the same (seed, number) always gives the same row whatever the query plan,
-- the chunking or the server (integer arithmetic plus IEEE-exact *, /, sqrt).
--
-- IP slots are numbered 1..p_ips: 1..p_public_ips are public IPv4 addresses,
-- then p_v6_ips IPv6 addresses, then p_private_ips private/reserved IPv4.
-- Sessions 1..p_ips take slot = number (so every slot has at least one
-- session); the others pick IPv6 (1.5%), private (1.0%) or a public slot with
-- a heavy skew (slot = floor(public * u^3) + 1: the first slots are the busy
-- scanners, the tail has a handful of sessions each).
--
-- Selector columns (small integers; 0 = the normal case), the rates are per
-- session (x/65536 of a 16-bit hash field) and documented in docs/seed.md:
--   enrich_mode  0 object, 1 SQL NULL (1.0%), 2 '{}' (0.5%)
--   shape        of the sessions with enrich_mode 0 (the document's shape):
--                0 loader, spur as the legacy list of 18 strings (the rest, ~82.5%),
--                1 loader, spur as SPUR's object (10.0%),
--                2 loader skip-enrich payload, every value '' (3.0%),
--                3 flat (today's top-level dshield/cymru/maxmind/spur; 4.0%),
--                4 loader with two IPs under "session" (spur list; 0.5%)
--   Loader shapes (0, 1, 2, 4):
--   key_mode     0 the slot IP, 1 'not-an-ip', 2 '999.1.2.3' (0.4% each),
--                3 '' (0.2%), 4 "session": {} (no key; 0.2%)
--   las_mode     dshield.ip.as (shapes 0, 1, 4): 0 integer, 1 'AS16509' string
--                (1.0%), 2 '16509' digit string (1.0%), 3 'ASx' (0.4%), 4 0 (0.3%),
--                5 '' with asname '' (3.0%), 6 named "asnumber" (1.0%), 7 absent (1.0%)
--   lctry_mode   dshield.ip.ascountry (shapes 0, 1, 4): 0 'US', 1 'us' (1.5%),
--                2 'USA' (alpha-3; 1.0%), 3 '' (2.0%)
--   lspur_mode   spur list (shapes 0, 4): 0 full, 1 [0] 'AS16509' (2.0%),
--                2 [0] '' (3.0%), 3 [3] infrastructure '' (3.0%), 4 all 18 '' (5.0%)
--   ospur_asn    spur object (shape 1) "asn": 0 {"number": N, "organization": ..}
--                (50%), 1 'AS16509' string (25%), 2 number (25%)
--   ospur_types  spur object (shape 1) client.types: 0 array (80%), 1 the first
--                type as a string (10%), 2 no "types" (10%: infrastructure decides)
--   slot2_h      shape 4: a 32-bit hash that picks the second IP (seed_generate:
--                a public IPv4 slot other than the first), else NULL
--   Flat shape (3), as before:
--   ip_mode      0 slot IP, 1 'not-an-ip', 2 '999.1.2.3', 3 '' (0.4% each),
--                4 JSON null (0.3%), 5 no "dshield" key (0.5%)
--   asn_mode     0 integer, 1 'AS4134' string (2.0%), 2 '4134' string (1.0%),
--                3 JSON null (1.0%), 4 no "cymru" key (1.5%)
--   country_mode 0 'CN', 1 'cn' (1.5%), 2 'CHN' (1.0%), 3 JSON null (0.5%),
--                4 no "maxmind" key (1.5%)
--   spur_mode    0 by period (string before 2025-05-01, array after, 10%
--                the other way), 1 JSON null (3%), 2 no "spur" key (9%)
--   at_mode      0 enriched_at present, 1 missing (0.5%)
--   Every shape:
--   prefill      0 snapshot columns NULL, 1 all written (0.7%),
--                2 source_ip + snapshot_asn only (0.3%)
-- The selectors are independent (each reads its own hash bits), so the cases
-- combine. p_shape 'flat' makes every object session shape 3: exactly the rows
-- of the generator before the loader shape existed.
-- h4..h7 are further hash words for the counters and cosmetic columns;
-- sid is a 48-bit bijection of (number + seed offset) (multiply/xor-shift
-- rounds modulo 2^48), so session ids are unique by construction.
--
-- h8 and h9 hold the loader-shape selectors (added with the loader shape, so
-- the hash words of the flat shape, and its rows, stayed as they were).
--
-- Inlined by the planner into the calling INSERT (LANGUAGE sql, single SELECT).
-- Re-runnable: the earlier form (7 arguments, fewer columns) is dropped first,
-- since CREATE OR REPLACE cannot change a function's arguments or result.
-- Locks: none on tables (reads nothing); the DROP/CREATE lock only the function.
DO $drop$ BEGIN  -- quietly: no NOTICE when there is nothing to drop
    IF to_regprocedure('seed_session_core(integer,bigint,bigint,integer,integer,integer,integer)') IS NOT NULL THEN
        DROP FUNCTION seed_session_core(integer, bigint, bigint, integer, integer, integer, integer);
    END IF;
END $drop$;
CREATE OR REPLACE FUNCTION seed_session_core(
    p_seed integer, p_from bigint, p_to bigint,
    p_ips integer, p_public_ips integer, p_v6_ips integer, p_private_ips integer,
    p_flat boolean DEFAULT false)
RETURNS TABLE (
    n bigint, slot integer, first_event_at timestamptz, last_event_at timestamptz,
    enrich_mode integer, ip_mode integer, asn_mode integer, country_mode integer,
    spur_mode integer, at_mode integer, prefill integer,
    h4 bigint, h5 bigint, h6 bigint, h7 bigint, sid bigint,
    shape integer, key_mode integer, las_mode integer, lctry_mode integer,
    lspur_mode integer, ospur_asn integer, ospur_types integer, slot2_h bigint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
SELECT * FROM (
SELECT s.n,
       CASE
           WHEN s.n <= p_ips THEN s.n::integer
           WHEN (s.h1 & 65535) < 983 AND p_v6_ips > 0
               THEN p_public_ips + 1 + (((s.h1 >> 16) & 4294967295) % p_v6_ips)::integer
           WHEN (s.h1 & 65535) < 1638 AND p_private_ips > 0
               THEN p_public_ips + p_v6_ips + 1
                    + (((s.h1 >> 16) & 4294967295) % p_private_ips)::integer
           ELSE 1 + floor(p_public_ips * (s.u1 * s.u1 * s.u1))::integer
       END,
       s.t0,
       s.t0 + interval '1 second' * s.dur,
       CASE WHEN (s.h3 & 65535) < 655 THEN 1
            WHEN (s.h3 & 65535) < 983 THEN 2
            ELSE 0 END,
       CASE WHEN ((s.h3 >> 16) & 65535) < 262 THEN 1
            WHEN ((s.h3 >> 16) & 65535) < 524 THEN 2
            WHEN ((s.h3 >> 16) & 65535) < 786 THEN 3
            WHEN ((s.h3 >> 16) & 65535) < 983 THEN 4
            WHEN ((s.h3 >> 16) & 65535) < 1311 THEN 5
            ELSE 0 END,
       CASE WHEN ((s.h3 >> 32) & 65535) < 1311 THEN 1
            WHEN ((s.h3 >> 32) & 65535) < 1966 THEN 2
            WHEN ((s.h3 >> 32) & 65535) < 2621 THEN 3
            WHEN ((s.h3 >> 32) & 65535) < 3604 THEN 4
            ELSE 0 END,
       CASE WHEN ((s.h3 >> 48) & 65535) < 983 THEN 1
            WHEN ((s.h3 >> 48) & 65535) < 1638 THEN 2
            WHEN ((s.h3 >> 48) & 65535) < 1966 THEN 3
            WHEN ((s.h3 >> 48) & 65535) < 2949 THEN 4
            ELSE 0 END,
       CASE WHEN (s.h5 & 65535) < 1966 THEN 1
            WHEN (s.h5 & 65535) < 7864 THEN 2
            ELSE 0 END,
       CASE WHEN ((s.h5 >> 16) & 65535) < 328 THEN 1 ELSE 0 END,
       CASE WHEN ((s.h5 >> 32) & 65535) < 459 THEN 1
            WHEN ((s.h5 >> 32) & 65535) < 655 THEN 2
            ELSE 0 END,
       s.h4, s.h5, s.h6, s.h7,
       s.x2 # (s.x2 >> 24),
       -- shape (h8 bits 0-15)
       CASE WHEN p_flat THEN 3
            WHEN (s.h8 & 65535) < 328 THEN 4
            WHEN (s.h8 & 65535) < 2294 THEN 2
            WHEN (s.h8 & 65535) < 4915 THEN 3
            WHEN (s.h8 & 65535) < 11469 THEN 1
            ELSE 0 END,
       -- key_mode (h8 bits 16-31)
       CASE WHEN ((s.h8 >> 16) & 65535) < 262 THEN 1
            WHEN ((s.h8 >> 16) & 65535) < 524 THEN 2
            WHEN ((s.h8 >> 16) & 65535) < 655 THEN 3
            WHEN ((s.h8 >> 16) & 65535) < 786 THEN 4
            ELSE 0 END,
       -- las_mode (h8 bits 32-47)
       CASE WHEN ((s.h8 >> 32) & 65535) < 655 THEN 1
            WHEN ((s.h8 >> 32) & 65535) < 1311 THEN 2
            WHEN ((s.h8 >> 32) & 65535) < 1573 THEN 3
            WHEN ((s.h8 >> 32) & 65535) < 1769 THEN 4
            WHEN ((s.h8 >> 32) & 65535) < 3735 THEN 5
            WHEN ((s.h8 >> 32) & 65535) < 4390 THEN 6
            WHEN ((s.h8 >> 32) & 65535) < 5045 THEN 7
            ELSE 0 END,
       -- lctry_mode (h8 bits 48-63)
       CASE WHEN ((s.h8 >> 48) & 65535) < 983 THEN 1
            WHEN ((s.h8 >> 48) & 65535) < 1638 THEN 2
            WHEN ((s.h8 >> 48) & 65535) < 2949 THEN 3
            ELSE 0 END,
       -- lspur_mode (h9 bits 0-15)
       CASE WHEN (s.h9 & 65535) < 1311 THEN 1
            WHEN (s.h9 & 65535) < 3277 THEN 2
            WHEN (s.h9 & 65535) < 5243 THEN 3
            WHEN (s.h9 & 65535) < 8520 THEN 4
            ELSE 0 END,
       -- ospur_asn (h9 bits 16-23), ospur_types (h9 bits 24-31)
       CASE WHEN ((s.h9 >> 16) & 255) < 128 THEN 0
            WHEN ((s.h9 >> 16) & 255) < 192 THEN 1
            ELSE 2 END,
       CASE WHEN ((s.h9 >> 24) & 255) < 205 THEN 0
            WHEN ((s.h9 >> 24) & 255) < 231 THEN 1
            ELSE 2 END,
       -- slot2_h (h9 bits 32-63): shape 4 only
       CASE WHEN NOT p_flat AND (s.h8 & 65535) < 328 THEN ((s.h9 >> 32) & 4294967295) END
FROM (
    SELECT r.n, r.h1, r.h3, r.h4, r.h5, r.h6, r.h7, r.h8, r.h9,
           -- x2 = (x1 xor x1>>21) * 0xBED6938C53E5 mod 2^48, computed in 24-bit halves
           (((r.x1 # (r.x1 >> 21)) & 16777215) * 9196517
            + (((((r.x1 # (r.x1 >> 21)) >> 24) * 9196517
                 + ((r.x1 # (r.x1 >> 21)) & 16777215) * 12506771) & 16777215) << 24))
           & 281474976710655 AS x2,
           ((r.h1 >> 16) & 4294967295)::float8 / 4294967296.0 AS u1,
           -- first event: a year from 2024-11-06 00:00 UTC; one session in
           -- three drawn from a rising density (traffic grows over the year);
           -- microsecond resolution
           timestamptz '2024-11-06 00:00:00+00'
             + interval '1 microsecond' * (
                 CASE WHEN (r.h2 & 65535) < 21845
                      THEN floor(sqrt(((r.h2 >> 16) & 4294967295)::float8 / 4294967296.0)
                                 * 31536000000000.0)
                      ELSE floor((((r.h2 >> 16) & 4294967295)::float8 / 4294967296.0)
                                 * 31536000000000.0)
                 END) AS t0,
           -- duration in seconds: 60% under 10 s, 30% up to 2 min,
           -- 9% up to 30 min, 1% up to 2 h
           CASE WHEN ((r.h2 >> 48) & 65535) < 39322 THEN ((r.h4 >> 48) & 65535) % 10
                WHEN ((r.h2 >> 48) & 65535) < 58982 THEN 10 + ((r.h4 >> 48) & 65535) % 110
                WHEN ((r.h2 >> 48) & 65535) < 64880 THEN 120 + ((r.h4 >> 48) & 65535) % 1680
                ELSE 1800 + ((r.h4 >> 48) & 65535) % 5400
           END AS dur
    FROM (
        SELECT g AS n,
               hashint8extended(g, (p_seed::bigint << 8) + 1) AS h1,
               hashint8extended(g, (p_seed::bigint << 8) + 2) AS h2,
               hashint8extended(g, (p_seed::bigint << 8) + 3) AS h3,
               hashint8extended(g, (p_seed::bigint << 8) + 4) AS h4,
               hashint8extended(g, (p_seed::bigint << 8) + 5) AS h5,
               hashint8extended(g, (p_seed::bigint << 8) + 6) AS h6,
               hashint8extended(g, (p_seed::bigint << 8) + 7) AS h7,
               hashint8extended(g, (p_seed::bigint << 8) + 8) AS h8,
               hashint8extended(g, (p_seed::bigint << 8) + 9) AS h9,
               -- x1 = (g + offset) * 0x9E3779794B4B mod 2^48 (odd multiplier: a bijection)
               (((((g + (hashint8extended(p_seed, 48) & 281474976710655)) & 281474976710655)
                  & 16777215) * 7949131
                 + ((((((g + (hashint8extended(p_seed, 48) & 281474976710655)) & 281474976710655) >> 24)
                      * 7949131
                      + (((g + (hashint8extended(p_seed, 48) & 281474976710655)) & 281474976710655)
                         & 16777215) * 10368889) & 16777215) << 24))
                & 281474976710655) AS x1
        FROM generate_series(p_from, p_to) AS g
        OFFSET 0
    ) AS r
    OFFSET 0
) AS s
-- fence: the callers (hash join on slot, filters) then read the computed
-- columns instead of re-evaluating their expressions
OFFSET 0
) AS core
$fn$;
