-- schema_repair_plan(concurrently): the steps still needed to bring the live schema to the
-- one the migrations define, in the order they must run; changes nothing (dry run).
-- Sources: align_snapshot_ip_type(), ensure_derived_column(), ensure_constraint() and
-- ensure_index(), each called with p_apply = false, over expected_derived_columns(),
-- expected_constraints() and expected_indexes().
-- Columns:
--   step            1, 2, ... (run in this order)
--   action          e.g. rename, merge, add_generated_column, set_expression,
--                   replace_with_generated, add_constraint, validate_constraint, create_index
--   statement       the DDL the step executes (for display: migrate --dry-run)
--   lock_mode       the lock it takes on table_name
--   rewrites_table  true when the whole table is rewritten under ACCESS EXCLUSIVE
--   table_bytes     pg_total_relation_size(table_name) now
--   concurrently    true: run_sql is a CREATE/DROP INDEX CONCURRENTLY statement; send it
--                   alone, outside any transaction block (autocommit)
--   run_sql         what the runner sends: for non-concurrent steps a SELECT * FROM ensure_*(...)
--                   call, to be run in its own transaction (it re-checks, locks with bounded
--                   retries, applies, verifies, and is a no-op if already done)
--   blocker         not NULL when the step cannot be applied (rows violate a constraint,
--                   a conversion would lose values, ...): what and how to fix it. The runner
--                   must stop BEFORE applying any step if any blocker is present.
-- p_concurrently = false gives in-transaction index builds (psql, tests, small tables).
-- Needs a read-write transaction (canonical_generation_expression() uses a temp table);
-- run it in a transaction that is rolled back for a strict dry run.
-- Locks: ACCESS SHARE on the tables it inspects (row counts for constraint checks).
CREATE OR REPLACE FUNCTION schema_repair_plan(p_concurrently boolean DEFAULT true)
RETURNS TABLE (step integer, action text, table_name text, object_name text, statement text,
               lock_mode text, rewrites_table boolean, table_bytes bigint, concurrently boolean,
               run_sql text, blocker text, message text)
LANGUAGE plpgsql
AS $fn$
DECLARE
    r       record;
    m       record;
    v_step  integer := 0;
    v_last  text := '';
BEGIN
    FOR r IN
        WITH steps AS (
            SELECT 1 AS grp, 0 AS ord, a.*, 'SELECT * FROM align_snapshot_ip_type()' AS call, false AS conc
              FROM align_snapshot_ip_type(p_apply => false) a
             WHERE (SELECT s.state FROM snapshot_ip_type_state() s) <> 'no-table'
            UNION ALL
            SELECT 2, d.ordinal, x.*, format('SELECT * FROM ensure_derived_column(%L, %L)', d.table_name, d.column_name), false
              FROM expected_derived_columns() d
              CROSS JOIN LATERAL ensure_derived_column(d.table_name, d.column_name, p_apply => false) x
             WHERE to_regclass(format('%I', d.table_name)) IS NOT NULL
            UNION ALL
            SELECT 3, c.ordinal, x.*,
                   format('SELECT * FROM ensure_constraint(%L, %L, p_validate => %s)', c.table_name, c.constraint_name,
                          CASE WHEN x.action = 'add_constraint' THEN 'false' ELSE 'true' END),
                   false
              FROM expected_constraints() c
              CROSS JOIN LATERAL ensure_constraint(c.table_name, c.constraint_name, p_validate => true, p_apply => false) x
             WHERE to_regclass(format('%I', c.table_name)) IS NOT NULL
            UNION ALL
            SELECT 4, i.ordinal, x.*,
                   CASE WHEN p_concurrently AND x.action IN ('create_index', 'drop_index') THEN x.statement
                        ELSE format('SELECT * FROM ensure_index(%L, %L)', i.table_name, i.index_name) END,
                   p_concurrently AND x.action IN ('create_index', 'drop_index')
              FROM expected_indexes() i
              CROSS JOIN LATERAL ensure_index(i.table_name, i.index_name, p_concurrently, p_apply => false) x
             WHERE to_regclass(format('%I', i.table_name)) IS NOT NULL
        )
        SELECT * FROM steps ORDER BY grp, ord
    LOOP
        CONTINUE WHEN r.action = 'none';
        -- a non-concurrent index rebuild (drop + create) is one ensure_index() call: one step
        CONTINUE WHEN r.grp = 4 AND NOT r.conc AND r.action = 'create_index'
                  AND v_last = 'drop_index:' || r.object_name;
        v_last := r.action || ':' || r.object_name;
        v_step := v_step + 1;
        step := v_step; action := r.action; table_name := r.table_name; object_name := r.object_name;
        statement := r.statement; lock_mode := r.lock_mode; rewrites_table := r.rewrites_table;
        table_bytes := pg_total_relation_size(to_regclass(format('%I', r.table_name)));
        schema_repair_plan.concurrently := r.conc;   -- (qualified: CONCURRENTLY is a keyword)
        run_sql := r.call;
        blocker := r.blocker; message := r.message;
        RETURN NEXT;
    END LOOP;
    -- Tables the migrations create but that are missing cannot be repaired here.
    FOR m IN
        SELECT DISTINCT t.table_name
          FROM (SELECT 'session_summaries' AS table_name
                UNION SELECT x.table_name FROM expected_derived_columns() x
                UNION SELECT x.table_name FROM expected_constraints() x
                UNION SELECT x.table_name FROM expected_indexes() x) t
         WHERE to_regclass(format('%I', t.table_name)) IS NULL
         ORDER BY 1
    LOOP
        v_step := v_step + 1;
        step := v_step; action := 'missing_table'; table_name := m.table_name; object_name := m.table_name;
        statement := NULL; lock_mode := 'none'; rewrites_table := false; table_bytes := NULL;
        schema_repair_plan.concurrently := false; run_sql := NULL;
        blocker := format('table %I does not exist: run the migrations (cowrie-db migrate); if the migration that '
                          'creates it is recorded as applied, roll back to v15 (sql/rollback/v16_to_v15.sql) and migrate again',
                          m.table_name);
        message := format('table %s is missing', m.table_name);
        RETURN NEXT;
    END LOOP;
END
$fn$;
