-- backfill_range_bounds(max_ranges) -> (range_no, lo_key, hi_key)
--
-- How a new backfill run cuts the primary-key space of session_summaries into key
-- ranges for its workers: range n covers lo_key < session_id <= hi_key (NULL lo_key:
-- from the first session; NULL hi_key: to the last, sessions inserted later
-- included). Together the ranges cover every key exactly once, whatever the keys.
-- The cut points are the interior bounds of the planner's histogram of
-- session_summaries.session_id (pg_stats: distinct keys, which ANALYZE sorts in the
-- column's own collation, the order the keyset batches compare in), thinned to at most
-- max_ranges - 1; so the ranges hold about the same number of sessions each when the
-- statistics are current, and many more ranges than workers (a worker that finishes
-- early takes the next one). Without a histogram (a table never analyzed) the cut
-- points are exact quantiles of the keys of the sessions still open (one pass over the
-- partial index of open sessions, or the primary key). An empty table gets one range.
-- Locks: none (reads pg_stats, and without statistics session_summaries).
CREATE OR REPLACE FUNCTION backfill_range_bounds(p_max_ranges integer DEFAULT 100)
RETURNS TABLE (range_no integer, lo_key text, hi_key text)
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    v_bounds text[];
    v_n      integer;
    v_step   double precision;
    v_cuts   text[] := '{}';
    v_i      integer;
BEGIN
    IF p_max_ranges IS NULL OR p_max_ranges NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'backfill_range_bounds: max_ranges must be between 1 and 10000 (got %)', p_max_ranges
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT st.histogram_bounds::text::text[] INTO v_bounds
    FROM pg_stats st
    JOIN pg_class c ON c.relname = st.tablename
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = st.schemaname
    WHERE c.oid = 'session_summaries'::regclass AND st.attname = 'session_id';
    IF v_bounds IS NOT NULL AND cardinality(v_bounds) > 2 THEN
        v_bounds := v_bounds[2:cardinality(v_bounds) - 1];   -- the interior bounds
    ELSE
        SELECT array_agg(q.k ORDER BY q.rn) INTO v_bounds
        FROM (SELECT s.session_id::text AS k,
                     row_number() OVER (ORDER BY s.session_id) AS rn,
                     count(*) OVER () AS total
              FROM session_summaries s
              WHERE s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
                 OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL) q
        WHERE q.rn % greatest(1, q.total / p_max_ranges) = 0 AND q.rn < q.total;
    END IF;
    v_n := COALESCE(cardinality(v_bounds), 0);
    IF v_n > p_max_ranges - 1 THEN
        v_step := v_n::double precision / p_max_ranges;
        FOR v_i IN 1 .. p_max_ranges - 1 LOOP
            v_cuts := v_cuts || v_bounds[greatest(1, least(v_n, round(v_i * v_step)::integer))];
        END LOOP;
    ELSIF v_n > 0 THEN
        v_cuts := v_bounds;
    END IF;
    -- in array order: the histogram's (and the quantiles') order is the column's own
    RETURN QUERY
    WITH ordered AS (
        SELECT c.k, c.i::integer AS i FROM unnest(v_cuts) WITH ORDINALITY AS c(k, i)
    )
    SELECT 1, NULL::text, (SELECT o.k FROM ordered o WHERE o.i = 1)
    UNION ALL
    SELECT o.i + 1, o.k, (SELECT o2.k FROM ordered o2 WHERE o2.i = o.i + 1)
    FROM ordered o;
END
$fn$;
