-- validate_backfill_estimate(sample_size, seed) -> one row: a dry-run estimate that writes
-- nothing (not even a run row), for `cowrie-db validate` readiness before a backfill.
--   pending_sessions     sessions without a snapshot (snapshot_country IS NULL)
--   sampled              how many of them were run through the backfill rule
--                        (backfill_snapshot_source), picked by hashtextextended(session_id, seed)
--   would_fill / no_inventory / rejected / no_source_ip
--                        what the rule says for the sample (no_inventory: filled from the JSON
--                        without source_ip; rejected / no_source_ip: left untouched)
--   sample_ms            time the rule took for the sample (clock_timestamp, this backend)
--   est_compute_seconds  sample_ms extrapolated to pending_sessions: the time the backfill
--                        needs to COMPUTE the values; the UPDATEs, WAL and index maintenance
--                        come on top (see docs/validate.md), so it is a lower bound.
-- psql: SELECT * FROM validate_backfill_estimate(2000, 0);
-- Locks: ACCESS SHARE on session_summaries, ip_inventory, ip_asn_history. Writes nothing.
CREATE OR REPLACE FUNCTION validate_backfill_estimate(p_sample_size integer DEFAULT 2000, p_seed bigint DEFAULT 0)
RETURNS TABLE (pending_sessions bigint, sampled integer, would_fill integer, no_inventory integer,
               rejected integer, no_source_ip integer, sample_ms numeric, est_compute_seconds numeric)
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    v_start timestamptz;
    v_ids   varchar[];
BEGIN
    SELECT count(*) INTO pending_sessions FROM session_summaries WHERE snapshot_country IS NULL;
    SELECT coalesce(array_agg(x.session_id), '{}') INTO v_ids
      FROM (SELECT s.session_id FROM session_summaries s
             WHERE s.snapshot_country IS NULL
             ORDER BY hashtextextended(s.session_id, p_seed)
             LIMIT greatest(p_sample_size, 0)) x;
    v_start := clock_timestamp();   -- time the rule (and the primary-key reads), not the sampling
    SELECT count(*)::int,
           count(*) FILTER (WHERE r.reject_reason IS NULL AND r.in_inventory)::int,
           count(*) FILTER (WHERE r.reject_reason IS NULL AND NOT r.in_inventory)::int,
           count(*) FILTER (WHERE r.reject_reason NOT IN ('no_enrichment', 'no_source_ip', 'bad_ip'))::int,
           count(*) FILTER (WHERE r.reject_reason IN ('no_enrichment', 'no_source_ip', 'bad_ip'))::int
      INTO sampled, would_fill, no_inventory, rejected, no_source_ip
      FROM (-- OFFSET 0: each output of the rule computed once per row, as the backfill does
            SELECT r.reject_reason, r.in_inventory
              FROM session_summaries s
             CROSS JOIN LATERAL backfill_snapshot_source(s.enrichment, s.first_event_at, s.created_at) r
             WHERE s.session_id = ANY (v_ids)
            OFFSET 0) r;
    sample_ms := round(extract(epoch FROM clock_timestamp() - v_start)::numeric * 1000, 1);
    est_compute_seconds := CASE WHEN sampled > 0
                                THEN round(sample_ms / 1000 / sampled * pending_sessions, 1) END;
    RETURN NEXT;
END
$fn$;
