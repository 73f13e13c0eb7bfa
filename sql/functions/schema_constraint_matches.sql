-- schema_constraint_matches(table, name): the constraints on the table that do the job of
-- expected_constraints()' (table, name), under ANY name (ours, the ORM's fk_<t>_<c>_<ref>, the
-- upstream v16 fk_session_source_ip / fk_ip_current_asn / snapshot_country_iso, ...):
--   FOREIGN KEY: the same referencing column -> the same referenced table and column;
--   CHECK: the same expression (schema_expression_key of pg_get_expr(conbin)).
-- Best first: validated, then the expected name, then the oldest. The first row is the one
-- that satisfies the expectation; the others are duplicates (schema_duplicates()).
-- Also returns, with same_job = false, a constraint that has the expected NAME but does
-- another job (so the name cannot be used for a new one).
-- Used by: ensure_constraint(), schema_duplicates(), schema_findings(). Locks: none (catalog).
CREATE OR REPLACE FUNCTION schema_constraint_matches(p_table text, p_name text)
RETURNS TABLE (conname text, validated boolean, same_job boolean, definition text)
LANGUAGE sql STABLE
AS $fn$
    WITH e AS (
        SELECT x.*, to_regclass(format('%I', x.table_name)) AS rel,
               to_regclass(format('%I', x.ref_table)) AS ref
          FROM expected_constraints() x
         WHERE x.table_name = p_table AND x.constraint_name = p_name
    ), c AS (
        SELECT k.oid, k.conname::text AS conname, k.convalidated,
               pg_get_constraintdef(k.oid) AS definition,
               CASE e.constraint_type
                   WHEN 'f' THEN k.contype = 'f'
                                 AND k.conkey = ARRAY[(SELECT a.attnum FROM pg_attribute a
                                                        WHERE a.attrelid = e.rel AND a.attname = e.fk_column
                                                          AND NOT a.attisdropped)]
                                 AND k.confrelid = e.ref
                                 AND k.confkey = ARRAY[(SELECT a.attnum FROM pg_attribute a
                                                         WHERE a.attrelid = e.ref AND a.attname = e.ref_column
                                                           AND NOT a.attisdropped)]
                   ELSE k.contype = 'c'
                        AND schema_expression_key(pg_get_expr(k.conbin, k.conrelid))
                            = schema_expression_key(e.check_expression)
               END AS same_job
          FROM e JOIN pg_constraint k ON k.conrelid = e.rel
    )
    SELECT c.conname, c.convalidated, coalesce(c.same_job, false), c.definition
      FROM c
     WHERE c.same_job OR c.conname = p_name
     ORDER BY c.same_job DESC, c.convalidated DESC, (c.conname = p_name) DESC, c.oid
$fn$;
