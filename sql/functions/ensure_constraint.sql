-- ensure_constraint(table, name, validate): completeness guard and in-place repair of one
-- CHECK / FOREIGN KEY constraint as expected_constraints() defines it.
--   missing      ALTER TABLE ... ADD CONSTRAINT ... NOT VALID (no scan; brief lock)
--   NOT VALID    ALTER TABLE ... VALIDATE CONSTRAINT ... (scan under SHARE UPDATE EXCLUSIVE:
--                reads and writes go on) -- only when p_validate
-- Before validating, the violating rows are counted; if there are any, nothing is changed and
-- the row returned carries the blocker (the statement, the count and the fix); with p_apply a
-- WARNING says so too (not an error: see below). The constraint is matched by what it does, under any name
-- (schema_constraint_matches(): ours, the ORM's, the upstream v16 one): an equivalent is never
-- added a second time, and an equivalent that is NOT VALID is the one validated. A constraint
-- with the expected name that does another job is a blocker (drop or rename it by hand).
-- p_apply = false: changes nothing, returns the planned steps (0, 1 or 2 rows; one row with
-- action 'none' when the constraint is present and validated).
-- Locks: add: ACCESS EXCLUSIVE on the table (CHECK) or SHARE ROW EXCLUSIVE on the table and
-- the referenced table (FK); validate: SHARE UPDATE EXCLUSIVE on the table (+ ROW SHARE on the
-- referenced table). All through lock_table_with_retry().
CREATE OR REPLACE FUNCTION ensure_constraint(
    p_table    text,
    p_name     text,
    p_validate boolean DEFAULT true,
    p_apply    boolean DEFAULT true)
RETURNS TABLE (action text, table_name text, object_name text, statement text,
               lock_mode text, rewrites_table boolean, blocker text, message text)
LANGUAGE plpgsql
SET lock_timeout = '5s'
AS $fn$
DECLARE
    e         record;
    v_rel     regclass := to_regclass(format('%I', p_table));
    v_exists  boolean;
    v_valid   boolean;
    v_bad     bigint;
    v_count   text;
    v_block   text;
    v_add     text;
    v_val     text;
    v_add_lock text;
    v_val_lock text;
    v_name     text;
    v_other    text;
BEGIN
    SELECT * INTO e FROM expected_constraints() x
     WHERE x.table_name = p_table AND x.constraint_name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ensure_constraint: % on % is not a constraint of the schema', p_name, p_table
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_rel IS NULL THEN
        RAISE EXCEPTION 'ensure_constraint: table % does not exist', p_table
            USING ERRCODE = 'undefined_table', HINT = 'Run the migrations first (cowrie-db migrate).';
    END IF;
    table_name := p_table; object_name := p_name; rewrites_table := false;

    SELECT true, m.validated, m.conname INTO v_exists, v_valid, v_name
      FROM schema_constraint_matches(p_table, p_name) m WHERE m.same_job LIMIT 1;
    v_exists := coalesce(v_exists, false);
    v_name := coalesce(v_name, p_name);
    object_name := v_name;
    IF NOT v_exists THEN
        SELECT m.definition INTO v_other FROM schema_constraint_matches(p_table, p_name) m WHERE NOT m.same_job LIMIT 1;
    END IF;

    v_add := format('ALTER TABLE %I ADD CONSTRAINT %I %s NOT VALID', p_table, p_name, e.definition);
    v_val := format('ALTER TABLE %I VALIDATE CONSTRAINT %I', p_table, v_name);
    IF e.constraint_type = 'c' THEN
        v_add_lock := 'ACCESS EXCLUSIVE';
        v_val_lock := 'SHARE UPDATE EXCLUSIVE';
        v_count := format('SELECT count(*) FROM %I WHERE NOT (%s)', p_table, e.check_expression);
    ELSE
        v_add_lock := format('SHARE ROW EXCLUSIVE (and on %s)', e.ref_table);
        v_val_lock := format('SHARE UPDATE EXCLUSIVE (ROW SHARE on %s)', e.ref_table);
        v_count := format('SELECT count(*) FROM %I c WHERE c.%I IS NOT NULL AND NOT EXISTS '
                          '(SELECT 1 FROM %I p WHERE p.%I = c.%I)',
                          p_table, e.fk_column, e.ref_table, e.ref_column, e.fk_column);
    END IF;

    IF v_exists AND (v_valid OR NOT p_validate) THEN
        action := 'none'; lock_mode := 'none';
        message := format('%s on %s is present%s%s', p_name, p_table,
                          CASE WHEN v_name <> p_name THEN format(' as %s', v_name) ELSE '' END,
                          CASE WHEN v_valid THEN ' and validated' ELSE ' (NOT VALID)' END);
        RETURN NEXT;
        RETURN;
    END IF;

    -- Count the rows that would make VALIDATE fail (needed for a new constraint as well: it
    -- would be added NOT VALID and then fail to validate).
    IF p_validate THEN
        BEGIN
            EXECUTE v_count INTO v_bad;
        EXCEPTION WHEN undefined_column OR undefined_table THEN
            v_block := format('cannot check %s: %s; run the migrations (cowrie-db migrate) first', p_name, SQLERRM);
        END;
        IF v_bad > 0 THEN
            v_block := format('%s rows of %s violate %s (%s). Fix: %s', v_bad, p_table, v_name, e.definition, e.violation_fix);
        END IF;
    END IF;
    IF v_other IS NOT NULL THEN
        v_block := format('a constraint named %s exists on %s but does another job (%s); drop or rename it '
                          '(ALTER TABLE %I RENAME CONSTRAINT %I TO %I), then run the repair again',
                          p_name, p_table, v_other, p_table, p_name, p_name || '_old');
    END IF;

    IF NOT p_apply THEN
        IF NOT v_exists THEN
            action := 'add_constraint'; statement := v_add || ';'; lock_mode := v_add_lock;
            blocker := CASE WHEN NOT p_validate OR v_other IS NOT NULL THEN v_block END;
            message := format('add %s NOT VALID', p_name);
            RETURN NEXT;
        END IF;
        IF p_validate THEN
            action := 'validate_constraint'; statement := v_val || ';'; lock_mode := v_val_lock;
            blocker := v_block;
            message := format('validate %s%s', v_name, CASE WHEN v_bad IS NOT NULL THEN format(' (%s violating rows)', v_bad) ELSE '' END);
            RETURN NEXT;
        END IF;
        RETURN;
    END IF;

    IF v_block IS NOT NULL THEN
        -- Not repairable automatically (rows violate it, or its name is taken): nothing is
        -- changed, a WARNING says so and the row carries the blocker. Not an error: migration
        -- 002 calls this for every constraint, and on a real install one table's orphan rows
        -- must not stop the rest of the repair; schema_findings() reports it as manual, with
        -- this blocker as the manual step (and repair_schema() refuses before changing anything).
        RAISE WARNING 'cannot repair %: %', p_table, v_block
            USING DETAIL = 'statement: ' || CASE WHEN v_exists THEN v_val ELSE v_add || '; ' || v_val END,
                  HINT = 'Nothing was changed for this constraint. Fix the rows, then run cowrie-db migrate (or SELECT * FROM repair_schema()) again.';
        action := CASE WHEN v_exists THEN 'validate_constraint' ELSE 'add_constraint' END;
        statement := CASE WHEN v_exists THEN v_val ELSE v_add || '; ' || v_val END || ';';
        lock_mode := CASE WHEN v_exists THEN v_val_lock ELSE v_add_lock END;
        blocker := v_block;
        message := format('%s: %s not repaired: %s', p_table, v_name, v_block);
        RETURN NEXT;
        RETURN;
    END IF;

    IF NOT v_exists THEN
        IF e.constraint_type = 'c' THEN
            PERFORM lock_table_with_retry(p_table, 'ACCESS EXCLUSIVE');
        ELSE
            PERFORM lock_table_with_retry(p_table, 'SHARE ROW EXCLUSIVE');
            PERFORM lock_table_with_retry(e.ref_table, 'SHARE ROW EXCLUSIVE');
        END IF;
        IF NOT EXISTS (SELECT 1 FROM schema_constraint_matches(p_table, p_name) m WHERE m.same_job) THEN
            EXECUTE v_add;
            action := 'add_constraint'; statement := v_add || ';'; lock_mode := v_add_lock;
            message := format('%s: added %s NOT VALID', p_table, p_name);
            RAISE NOTICE '%', message;
            RETURN NEXT;
        END IF;
    END IF;

    IF p_validate THEN
        PERFORM lock_table_with_retry(p_table, 'SHARE UPDATE EXCLUSIVE');
        IF e.constraint_type = 'f' THEN
            PERFORM lock_table_with_retry(e.ref_table, 'ROW SHARE');
        END IF;
        BEGIN
            EXECUTE v_val;
        EXCEPTION WHEN check_violation OR foreign_key_violation THEN
            EXECUTE v_count INTO v_bad;
            RAISE EXCEPTION 'cannot repair %: % rows violate % (%). Fix: %', p_table, v_bad, v_name, e.definition, e.violation_fix
                USING ERRCODE = SQLSTATE, DETAIL = 'statement: ' || v_val,
                      HINT = 'Nothing was changed in this transaction.';
        END;
        action := 'validate_constraint'; statement := v_val || ';'; lock_mode := v_val_lock;
        message := format('%s: validated %s', p_table, v_name);
        RAISE NOTICE '%', message;
        RETURN NEXT;
    END IF;
END
$fn$;
