-- schema_expression_key(expression): the comparison key of an SQL expression as written by
-- hand or as the server deparses it (pg_get_expr of a generation expression or a CHECK):
-- whitespace, parentheses and '::text' casts removed, so
--   snapshot_country IS NULL OR snapshot_country ~ '^[A-Z]{2}$'
-- and the catalog's
--   ((snapshot_country IS NULL) OR ((snapshot_country)::text ~ '^[A-Z]{2}$'::text))
-- have the same key. Read-only and IMMUTABLE (no probe table), so check and validate can
-- compare expressions in a READ ONLY transaction on any PostgreSQL version.
-- Used by: ensure_derived_column(), schema_constraint_matches(), schema_duplicates(),
-- schema_findings(). Locks: none.
CREATE OR REPLACE FUNCTION schema_expression_key(p_expression text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT regexp_replace(replace(p_expression, '::text', ''), '[\s()]', '', 'g')
$fn$;
