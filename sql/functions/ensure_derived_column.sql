-- ensure_derived_column(table, column): completeness guard and in-place repair of one derived
-- column of ip_inventory as expected_derived_columns() defines it.
--   missing generated column      ALTER TABLE ... ADD COLUMN ... GENERATED ALWAYS AS (...) STORED
--                                 (rewrites the table: every row's value is computed)
--   wrong generation expression   PostgreSQL >= 17: ALTER COLUMN ... SET EXPRESSION AS (...)
--                                 older: DROP COLUMN + ADD COLUMN in one ALTER TABLE (rewrite)
--   plain (or VIRTUAL, or wrong-  DROP COLUMN + ADD COLUMN ... STORED in one ALTER TABLE: the
--   typed) column where a STORED  values are derived from enrichment, so nothing is lost
--   generated one belongs
--   missing plain ip_types        ADD COLUMN ip_types text[] NOT NULL DEFAULT '{}' (no rewrite)
--   ip_types generated            DROP EXPRESSION (values kept) + SET DEFAULT / NOT NULL
--   ip_types default/NOT NULL     SET DEFAULT / SET NOT NULL
-- Indexes on a column that is dropped and re-added are re-created in the same transaction
-- with their previous definition, so the schema is never left without them.
-- Generation expressions are compared by schema_expression_key() (read-only: p_apply = false
-- works in a READ ONLY transaction, as check and validate need). A view depending on a column that must be dropped, a missing
-- enrichment column, or a plain ip_types of another type cannot be repaired here: reported as
-- a blocker (p_apply = false) or raised as one error before anything is changed.
-- p_apply = false: changes nothing, returns the planned step. Returns one row (action 'none'
-- when the column is as expected).
-- Locks: ACCESS EXCLUSIVE on the table (via lock_table_with_retry) when a change is needed.
CREATE OR REPLACE FUNCTION ensure_derived_column(
    p_table  text,
    p_column text,
    p_apply  boolean DEFAULT true)
RETURNS TABLE (action text, table_name text, object_name text, statement text,
               lock_mode text, rewrites_table boolean, blocker text, message text)
LANGUAGE plpgsql
SET lock_timeout = '5s'
AS $fn$
DECLARE
    e        record;
    a        record;
    v_rel    regclass := to_regclass(format('%I', p_table));
    v_have   text;
    v_stmts  text[] := '{}';
    v_idx    text[] := '{}';
    v_views  text;
    v_pass   integer;
BEGIN
    SELECT * INTO e FROM expected_derived_columns() x
     WHERE x.table_name = p_table AND x.column_name = p_column;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ensure_derived_column: %.% is not a derived column of the schema', p_table, p_column
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    table_name := p_table; object_name := p_column;
    IF v_rel IS NULL THEN
        RAISE EXCEPTION 'ensure_derived_column: table % does not exist', p_table
            USING ERRCODE = 'undefined_table', HINT = 'Run the migrations first (cowrie-db migrate).';
    END IF;

    -- Pass 1 decides (without locks); with p_apply, pass 2 takes the lock and decides again.
    FOR v_pass IN 1 .. (CASE WHEN p_apply THEN 2 ELSE 1 END) LOOP
        v_stmts := '{}'; v_idx := '{}'; action := 'none'; blocker := NULL; rewrites_table := false;
        lock_mode := 'ACCESS EXCLUSIVE';
        SELECT at.attnum, at.attgenerated::text AS gen, format_type(at.atttypid, at.atttypmod) AS typ,
               at.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS expr
          INTO a
          FROM pg_attribute at
          LEFT JOIN pg_attrdef d ON d.adrelid = at.attrelid AND d.adnum = at.attnum
         WHERE at.attrelid = v_rel AND at.attname = p_column AND at.attnum > 0 AND NOT at.attisdropped;

        IF e.generation_expression IS NOT NULL THEN
            -- Read-only: the expression is compared by schema_expression_key() (no probe table),
            -- and the column it reads must exist (json or jsonb: the operators work on both).
            IF NOT EXISTS (SELECT 1 FROM pg_attribute x
                            WHERE x.attrelid = v_rel AND x.attname = 'enrichment' AND NOT x.attisdropped
                              AND x.atttypid IN ('json'::regtype, 'jsonb'::regtype)) THEN
                blocker := format('the expression of %I.%I cannot be built on this table (it reads the column '
                                  'enrichment, json or jsonb, which is missing or of another type); restore it', p_table, p_column);
            END IF;
            IF blocker IS NOT NULL THEN
                action := 'add_generated_column';
            ELSIF a.attnum IS NULL THEN
                action := 'add_generated_column';
                v_stmts := ARRAY[format('ALTER TABLE %I ADD COLUMN %s', p_table, e.column_ddl)];
                rewrites_table := true;
            ELSIF a.gen = 's' AND a.typ = e.column_type
                  AND schema_expression_key(a.expr) = schema_expression_key(e.generation_expression) THEN
                action := 'none';
            ELSIF a.gen = 's' AND a.typ = e.column_type AND current_setting('server_version_num')::int >= 170000 THEN
                action := 'set_expression';
                v_stmts := ARRAY[format('ALTER TABLE %I ALTER COLUMN %I SET EXPRESSION AS (%s)',
                                        p_table, p_column, e.generation_expression)];
                rewrites_table := true;
            ELSE
                action := CASE WHEN a.gen = 's' AND a.typ = e.column_type THEN 'replace_expression'
                               ELSE 'replace_with_generated' END;
                v_stmts := ARRAY[format('ALTER TABLE %I DROP COLUMN %I, ADD COLUMN %s', p_table, p_column, e.column_ddl)];
                rewrites_table := true;
            END IF;
        ELSE
            IF a.attnum IS NULL THEN
                action := 'add_column';
                v_stmts := ARRAY[format('ALTER TABLE %I ADD COLUMN %s', p_table, e.column_ddl)];
            ELSIF a.typ <> e.column_type THEN
                action := 'alter_column';
                blocker := format('%I.%I has type %s where %s is expected; convert it by hand '
                                  '(ALTER TABLE %I ALTER COLUMN %I TYPE %s USING ...)',
                                  p_table, p_column, a.typ, e.column_type, p_table, p_column, e.column_type);
            ELSE
                IF a.gen <> '' THEN
                    v_stmts := v_stmts || format('ALTER TABLE %I ALTER COLUMN %I DROP EXPRESSION', p_table, p_column);
                END IF;
                IF a.gen <> '' OR a.expr IS DISTINCT FROM e.default_expression THEN
                    v_stmts := v_stmts || CASE WHEN e.default_expression IS NULL
                                               THEN format('ALTER TABLE %I ALTER COLUMN %I DROP DEFAULT', p_table, p_column)
                                               ELSE format('ALTER TABLE %I ALTER COLUMN %I SET DEFAULT %s', p_table, p_column, e.default_expression) END;
                END IF;
                IF e.not_null AND NOT a.attnotnull THEN
                    v_stmts := v_stmts || format('UPDATE %I SET %I = DEFAULT WHERE %I IS NULL', p_table, p_column, p_column)
                                       || format('ALTER TABLE %I ALTER COLUMN %I SET NOT NULL', p_table, p_column);
                END IF;
                IF cardinality(v_stmts) > 0 THEN
                    action := 'alter_column';
                END IF;
            END IF;
        END IF;

        -- A column that is dropped and re-added takes its indexes with it (re-created below)
        -- and cannot be dropped under a view.
        IF action IN ('replace_expression', 'replace_with_generated') THEN
            SELECT coalesce(array_agg(pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid), '{}')
              INTO v_idx
              FROM pg_index i
             WHERE i.indrelid = v_rel
               AND EXISTS (SELECT 1 FROM pg_depend dp
                            WHERE dp.classid = 'pg_class'::regclass AND dp.objid = i.indexrelid
                              AND dp.refobjid = v_rel AND dp.refobjsubid = a.attnum);
            v_stmts := v_stmts || v_idx;
            SELECT string_agg(DISTINCT r.ev_class::regclass::text, ', ')
              INTO v_views
              FROM pg_depend dp JOIN pg_rewrite r ON r.oid = dp.objid
             WHERE dp.classid = 'pg_rewrite'::regclass AND dp.refobjid = v_rel
               AND dp.refobjsubid = a.attnum AND r.ev_class <> v_rel;
            IF v_views IS NOT NULL THEN
                blocker := format('%I.%I must be dropped and re-added but view(s) %s depend on it; drop them '
                                  '(cowrie-db migrate re-creates its own views afterwards) and run the repair again',
                                  p_table, p_column, v_views);
            END IF;
        END IF;

        statement := CASE WHEN cardinality(v_stmts) > 0 THEN array_to_string(v_stmts, E';\n') || ';' END;
        IF action = 'none' THEN
            lock_mode := 'none';
            message := format('%I.%I is as expected', p_table, p_column);
        ELSE
            message := format('%I.%I: %s', p_table, p_column, replace(action, '_', ' '));
        END IF;

        EXIT WHEN NOT p_apply OR action = 'none';
        IF v_pass = 1 THEN
            PERFORM lock_table_with_retry(p_table, 'ACCESS EXCLUSIVE');
        END IF;
    END LOOP;

    IF NOT p_apply OR action = 'none' THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF blocker IS NOT NULL THEN
        RAISE EXCEPTION 'cannot repair %.%: %', p_table, p_column, blocker
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = coalesce('statement: ' || statement, ''), HINT = 'Nothing was changed.';
    END IF;

    FOREACH statement IN ARRAY v_stmts LOOP
        EXECUTE statement;
    END LOOP;
    statement := array_to_string(v_stmts, E';\n') || ';';

    -- Verify.
    IF (SELECT x.action FROM ensure_derived_column(p_table, p_column, false) x) <> 'none' THEN
        RAISE EXCEPTION 'ensure_derived_column: %.% still differs from the expected definition after repair', p_table, p_column;
    END IF;
    message := message || CASE WHEN rewrites_table
                               THEN format(' (table rewritten, now %s)', pg_size_pretty(pg_total_relation_size(v_rel)))
                               ELSE '' END
                       || CASE WHEN cardinality(v_idx) > 0 THEN format('; re-created %s index(es)', cardinality(v_idx)) ELSE '' END;
    RAISE NOTICE '%', message;
    RETURN NEXT;
END
$fn$;
