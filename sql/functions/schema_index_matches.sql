-- schema_index_matches(table, name): the indexes on the table that do the job of
-- expected_indexes()' (table, name), under ANY name (ours ix_*, the ORM's ix_<t>_<c>, the
-- upstream v16 idx_*): the same definition as pg_get_indexdef() prints it after
-- "ON <table> " (access method, columns or expressions, order, predicate) and not unique
-- or unique alike. Valid first, then the expected name, then the oldest. With same_job =
-- false: the index that has the expected NAME but another definition or is INVALID.
-- Used by: ensure_index(), schema_duplicates(), schema_findings(). Locks: none (catalog).
CREATE OR REPLACE FUNCTION schema_index_matches(p_table text, p_name text)
RETURNS TABLE (index_name text, valid boolean, same_job boolean, definition text)
LANGUAGE sql STABLE
AS $fn$
    WITH e AS (
        SELECT x.*, to_regclass(format('%I', x.table_name)) AS rel
          FROM expected_indexes() x
         WHERE x.table_name = p_table AND x.index_name = p_name
    ), i AS (
        SELECT ic.oid, ic.relname::text AS index_name, ix.indisvalid,
               regexp_replace(pg_get_indexdef(ix.indexrelid), '^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ ', '') AS def,
               e.definition AS want
          FROM e JOIN pg_index ix ON ix.indrelid = e.rel
          JOIN pg_class ic ON ic.oid = ix.indexrelid
         WHERE NOT ix.indisprimary
    )
    SELECT i.index_name, i.indisvalid, i.indisvalid AND i.def = i.want, i.def
      FROM i
     WHERE (i.indisvalid AND i.def = i.want) OR i.index_name = p_name
     ORDER BY (i.indisvalid AND i.def = i.want) DESC, (i.index_name = p_name) DESC, i.oid
$fn$;
