-- backfill_split_ranges(run_id, max_ranges) -> integer: the ranges added
--
-- Cuts the part still to walk of each unfinished key range of a backfill run (from its
-- checkpoint, or its lo_key, to its hi_key) at the cut points of
-- backfill_range_bounds(max_ranges) that fall inside it, so that more workers can share
-- it: the range keeps its checkpoint and ends at the first cut point; each cut point
-- starts a new range (lo_key < session_id <= hi_key) that ends at the next one, the last
-- at the old hi_key. Together they still cover every key once. A run starts with one
-- range; backfill_snapshots splits it when it starts or resumes with workers => N > 1
-- and fewer than 4N ranges are left.
-- Only ranges no live worker holds are split (a worker walks its range to the end it
-- read when it claimed it). The cut points are compared as keys of session_summaries
-- (those still in the table), so in the column's own order and collation.
-- Runs in the caller's transaction.
-- Locks: FOR UPDATE (SKIP LOCKED) on the split backfill_ranges rows.
CREATE OR REPLACE FUNCTION backfill_split_ranges(p_run_id bigint, p_max_ranges integer)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_bounds text[];
    v_cuts   text[];
    v_from   text;
    v_next   integer;
    v_added  integer := 0;
    v_i      integer;
    g        record;
BEGIN
    SELECT array_agg(b.hi_key) INTO v_bounds FROM backfill_range_bounds(p_max_ranges) b WHERE b.hi_key IS NOT NULL;
    IF v_bounds IS NULL THEN
        RETURN 0;
    END IF;
    SELECT COALESCE(max(r.range_no), 0) + 1 INTO v_next FROM backfill_ranges r WHERE r.run_id = p_run_id;
    FOR g IN
        SELECT r.range_no, r.lo_key, r.hi_key, r.last_key
        FROM backfill_ranges r
        WHERE r.run_id = p_run_id AND NOT r.done
          AND (r.worker_pid IS NULL OR r.worker_pid NOT IN (SELECT lw.pid FROM backfill_run_workers(p_run_id) lw))
        ORDER BY r.range_no
        FOR UPDATE OF r SKIP LOCKED
    LOOP
        v_from := COALESCE(g.last_key, g.lo_key);
        SELECT array_agg(s.session_id::text ORDER BY s.session_id) INTO v_cuts
        FROM session_summaries s
        WHERE s.session_id = ANY (v_bounds)
          AND (v_from IS NULL OR s.session_id > v_from)
          AND (g.hi_key IS NULL OR s.session_id < g.hi_key);
        CONTINUE WHEN v_cuts IS NULL;
        UPDATE backfill_ranges r SET hi_key = v_cuts[1]
        WHERE r.run_id = p_run_id AND r.range_no = g.range_no;
        FOR v_i IN 1 .. cardinality(v_cuts) LOOP
            INSERT INTO backfill_ranges (run_id, range_no, lo_key, hi_key)
            VALUES (p_run_id, v_next, v_cuts[v_i], CASE WHEN v_i < cardinality(v_cuts) THEN v_cuts[v_i + 1] ELSE g.hi_key END);
            v_next := v_next + 1;
            v_added := v_added + 1;
        END LOOP;
    END LOOP;
    RETURN v_added;
END
$fn$;
