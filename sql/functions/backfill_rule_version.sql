-- backfill_rule_version() -> text
--
-- A fingerprint of the snapshot rule as installed: md5 over the signatures and bodies
-- of the functions that compute a session's snapshot values (backfill_snapshot_source,
-- backfill_enrichment_capture, backfill_enrichment_unreadable, backfill_parse_*,
-- backfill_spur_ip_type). backfill_settled records it with every session a run left
-- open; a run forgets the entries of another version (an upgraded rule may fill what
-- the old one could not), so installing a new rule makes the next run look at every
-- open session once.
-- Locks: none (reads pg_proc).
CREATE OR REPLACE FUNCTION backfill_rule_version()
RETURNS text
LANGUAGE sql STABLE
AS $fn$
SELECT md5(COALESCE(string_agg(p.oid::regprocedure::text || ':' || p.prosrc, E'\n'
                               ORDER BY p.oid::regprocedure::text), ''))
FROM pg_proc p
WHERE p.pronamespace = (SELECT c.relnamespace FROM pg_class c WHERE c.oid = 'backfill_settled'::regclass)
  AND (p.proname IN ('backfill_snapshot_source', 'backfill_enrichment_capture',
                     'backfill_enrichment_unreadable', 'backfill_spur_ip_type')
       OR p.proname LIKE 'backfill\_parse\_%')
$fn$;
