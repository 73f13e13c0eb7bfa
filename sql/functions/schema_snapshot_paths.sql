-- schema_snapshot_paths(snapshot): flattens a schema_snapshot() jsonb into one row per leaf,
-- (path, value), e.g. ('tables.ip_inventory.columns.geo_country.generated', 's'), so that two
-- snapshots can be compared with EXCEPT / pgTAP set_eq and every difference is one row.
-- Locks: none (pure function of its argument).
CREATE OR REPLACE FUNCTION schema_snapshot_paths(p_snapshot jsonb)
RETURNS TABLE (path text, value text)
LANGUAGE sql IMMUTABLE
AS $fn$
    WITH RECURSIVE walk(path, node) AS (
        SELECT NULL::text, p_snapshot
        UNION ALL
        SELECT CASE WHEN w.path IS NULL THEN e.key ELSE w.path || '.' || e.key END, e.value
          FROM walk w
          CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(w.node) = 'object' THEN w.node ELSE '{}'::jsonb END) e
    )
    SELECT w.path, w.node #>> '{}'
      FROM walk w
     WHERE w.path IS NOT NULL AND jsonb_typeof(w.node) <> 'object'
$fn$;
