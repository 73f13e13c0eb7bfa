-- validate_coverage() -> one row per coverage bucket of session_summaries
--
-- Read-only breakdown used by `cowrie-db validate` (coverage and readiness checks);
-- a DBA can run it from psql: SELECT * FROM validate_coverage();
-- Every session falls in exactly one bucket; the rows add up to count(*):
--   filled                 snapshot_country is set and source_ip is set (in ip_inventory)
--   filled_no_inventory    snapshot_country is set, source_ip is NULL: written from the
--                          session JSON, the IP is not in ip_inventory (no FK target)
--   pending                not filled; the backfill rule (backfill_snapshot_source) would
--                          fill it now: derivable IP, in ip_inventory, no reject reason
--   no_inventory_match     not filled; the IP parses but ip_inventory does not have it
--   rejected               not filled; the rule rejects it: reason = bad_asn, bad_country,
--                          bad_enriched_at (the values are in the session JSON but unusable),
--                          or row_error (the JSON holds a \u0000 escape and cannot be read as
--                          text: the rule says so, as the backfill records it)
--   no_source_ip           not filled; no source IP can be derived: reason = no_enrichment,
--                          no_source_ip, bad_ip
-- "filled" follows the runbooks ("with snapshots" = snapshot_country IS NOT NULL);
-- the backfill always writes a country (the JSON's, the inventory's or 'XX').
-- Cost: one sequential scan of session_summaries; the rule (JSON parse + one index probe
-- of ip_inventory and ip_asn_history) runs only for the sessions not filled yet.
-- Locks: ACCESS SHARE on session_summaries, ip_inventory, ip_asn_history. Writes nothing.
CREATE OR REPLACE FUNCTION validate_coverage()
RETURNS TABLE (bucket text, reason text, sessions bigint)
LANGUAGE sql STABLE
AS $fn$
SELECT c.bucket, c.reason, count(*)::bigint
FROM (
    SELECT CASE
               WHEN s.snapshot_country IS NOT NULL AND s.source_ip IS NOT NULL THEN 'filled'
               WHEN s.snapshot_country IS NOT NULL THEN 'filled_no_inventory'
               WHEN s.reject_reason IN ('no_enrichment', 'no_source_ip', 'bad_ip') THEN 'no_source_ip'
               WHEN s.reject_reason IS NOT NULL THEN 'rejected'
               WHEN NOT s.in_inventory THEN 'no_inventory_match'
               ELSE 'pending'
           END AS bucket,
           CASE WHEN s.snapshot_country IS NULL THEN s.reject_reason END AS reason
    FROM (
        -- OFFSET 0: the rule's outputs computed once per row (pulled up, each reference
        -- to reject_reason above would evaluate its expression again)
        SELECT s.snapshot_country, s.source_ip, r.reject_reason, r.in_inventory
        FROM session_summaries s
        LEFT JOIN LATERAL backfill_snapshot_source(s.enrichment, s.first_event_at, s.created_at) r
               ON s.snapshot_country IS NULL
        OFFSET 0
    ) s
) c
GROUP BY c.bucket, c.reason
ORDER BY array_position(ARRAY['filled', 'filled_no_inventory', 'pending', 'no_inventory_match',
                              'rejected', 'no_source_ip'], c.bucket), c.reason
$fn$;
