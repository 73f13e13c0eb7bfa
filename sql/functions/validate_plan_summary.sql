-- validate_plan_summary(plan jsonb) -> jsonb: an EXPLAIN (FORMAT JSON) plan in brief:
-- nodes ("Index Only Scan using idx_x", "Seq Scan on t", ...; the plan tree in pre-order),
-- indexes used, relations read by a Seq Scan, executionMs (EXPLAIN ANALYZE's).
-- Locks: none.
CREATE OR REPLACE FUNCTION validate_plan_summary(p_plan jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $fn$
WITH root AS (SELECT CASE WHEN jsonb_typeof(p_plan) = 'array' THEN p_plan -> 0 ELSE p_plan END AS r),
     n AS (SELECT x.node, x.i FROM root, jsonb_path_query(root.r -> 'Plan', 'strict $.**') WITH ORDINALITY x(node, i)
           WHERE jsonb_typeof(x.node) = 'object' AND x.node ? 'Node Type')
SELECT jsonb_build_object(
    'nodes', COALESCE((SELECT jsonb_agg(CASE WHEN node ? 'Index Name' THEN format('%s using %s', node ->> 'Node Type', node ->> 'Index Name')
                                             WHEN node ? 'Relation Name' THEN format('%s on %s', node ->> 'Node Type', node ->> 'Relation Name')
                                             ELSE node ->> 'Node Type' END ORDER BY i) FROM n), '[]'),
    'indexes', COALESCE((SELECT jsonb_agg(DISTINCT node ->> 'Index Name') FROM n WHERE node ? 'Index Name'), '[]'),
    'seqScans', COALESCE((SELECT jsonb_agg(DISTINCT node ->> 'Relation Name') FROM n WHERE node ->> 'Node Type' = 'Seq Scan' AND node ? 'Relation Name'), '[]'),
    'executionMs', (SELECT r -> 'Execution Time' FROM root))
$fn$;
