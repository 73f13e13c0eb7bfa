-- validate_coverage_figures(context) -> jsonb: the coverage buckets of session_summaries
-- as coverage.snapshots reports them in details: total, filled, filledNoInventory,
-- pending, noInventoryMatch, rejected {total, reasons}, noSourceIp {total, reasons}.
-- Taken from context's coverage.snapshots when that check ran already (one scan per
-- validate run), else measured with validate_coverage().
-- Locks: those of validate_coverage() (ACCESS SHARE on session_summaries, ip_inventory,
-- ip_asn_history) when it measures.
CREATE OR REPLACE FUNCTION validate_coverage_figures(p_context jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    v_known jsonb := validate_context_check(p_context, 'coverage.snapshots') -> 'details';
    v       jsonb;
BEGIN
    IF v_known ? 'total' THEN
        RETURN v_known;
    END IF;
    EXECUTE $q$
        WITH c AS (SELECT bucket, reason, sessions FROM validate_coverage()),
             b AS (SELECT bucket, sum(sessions)::bigint AS n FROM c GROUP BY bucket)
        SELECT jsonb_build_object(
            'total', COALESCE((SELECT sum(n) FROM b), 0)::bigint,
            'filled', COALESCE((SELECT n FROM b WHERE bucket = 'filled'), 0),
            'filledNoInventory', COALESCE((SELECT n FROM b WHERE bucket = 'filled_no_inventory'), 0),
            'pending', COALESCE((SELECT n FROM b WHERE bucket = 'pending'), 0),
            'noInventoryMatch', COALESCE((SELECT n FROM b WHERE bucket = 'no_inventory_match'), 0),
            'rejected', jsonb_build_object('total', COALESCE((SELECT n FROM b WHERE bucket = 'rejected'), 0),
                'reasons', COALESCE((SELECT jsonb_object_agg(reason, sessions) FROM c WHERE bucket = 'rejected' AND reason IS NOT NULL), '{}')),
            'noSourceIp', jsonb_build_object('total', COALESCE((SELECT n FROM b WHERE bucket = 'no_source_ip'), 0),
                'reasons', COALESCE((SELECT jsonb_object_agg(reason, sessions) FROM c WHERE bucket = 'no_source_ip' AND reason IS NOT NULL), '{}')))$q$
    INTO v;
    RETURN v;
END
$fn$;
