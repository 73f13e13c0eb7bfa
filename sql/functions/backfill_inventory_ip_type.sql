-- backfill_inventory_ip_type(ip_types text[], spur json) -> text
--
-- The IP type ip_inventory knows for an IP, as the snapshot rule reads it when the
-- session's own capture has none: the preferred element of ip_types
-- (backfill_parse_ip_type), else the SPUR member of the row's enrichment read as the
-- rule reads a session's (backfill_spur_ip_type: list [3], or object client.types then
-- infrastructure). ip_types is empty in most real installs (nothing upstream fills it),
-- so the SPUR data is what they have. Call it with (ip_types, (enrichment -> 'spur')::json):
-- enrichment is jsonb or, in the upstream ORM's form, json.
-- Used by the rule (backfill_snapshot_source), by validation's temporal drift
-- (validate_accuracy) and by the JOIN form of the snapshot queries
-- (validate_benchmark_queries), so that all of them mean the same "type of today's IP".
-- Locks: none (reads nothing). Inlined (LANGUAGE sql, one expression).
CREATE OR REPLACE FUNCTION backfill_inventory_ip_type(p_ip_types text[], p_spur json)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
SELECT COALESCE(backfill_parse_ip_type(to_json(p_ip_types)), backfill_spur_ip_type(p_spur))
$fn$;
