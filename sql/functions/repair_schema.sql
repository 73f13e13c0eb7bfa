-- repair_schema(): applies schema_repair_plan(false) in the CURRENT transaction, for psql and
-- tests (the CLI runs the plan step by step instead: cowrie-db migrate).
-- First every step is checked: if any step has a blocker, ONE error is raised with the first
-- blocker (what, the statement, the rows counted, the fix) and nothing is changed. Otherwise
-- each step's run_sql is executed in order (indexes built in place, not CONCURRENTLY), then
-- the plan is computed again and must be empty, else the transaction fails.
-- p_include_indexes = false leaves missing indexes to be built CONCURRENTLY by the caller
-- (see schema_repair_plan(true)).
-- Use from psql:  SELECT * FROM repair_schema();   (autocommit: all or nothing)
-- Locks: those of each step (see schema_repair_plan): up to ACCESS EXCLUSIVE on
-- session_summaries / ip_inventory, each taken with lock_timeout and bounded retries.
CREATE OR REPLACE FUNCTION repair_schema(p_include_indexes boolean DEFAULT true)
RETURNS TABLE (step integer, action text, table_name text, object_name text, message text)
LANGUAGE plpgsql
AS $fn$
DECLARE
    p   record;
    r   record;
    v_n integer;
BEGIN
    SELECT * INTO p FROM schema_repair_plan(false) x
     WHERE x.blocker IS NOT NULL AND (p_include_indexes OR x.action NOT IN ('create_index', 'drop_index', 'rename_index'))
     ORDER BY x.step LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'schema repair stopped at step % (% %.%): %', p.step, p.action, p.table_name, p.object_name, p.blocker
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = coalesce('statement: ' || p.statement, 'no statement'),
                  HINT = 'Nothing was changed.';
    END IF;

    FOR p IN SELECT * FROM schema_repair_plan(false) x ORDER BY x.step LOOP
        CONTINUE WHEN NOT p_include_indexes AND p.action IN ('create_index', 'drop_index', 'rename_index');
        FOR r IN EXECUTE p.run_sql LOOP
            CONTINUE WHEN r.action = 'none';
            step := p.step; action := r.action; table_name := r.table_name; object_name := r.object_name;
            message := r.message;
            RETURN NEXT;
        END LOOP;
    END LOOP;

    SELECT count(*) INTO v_n FROM schema_repair_plan(false) x
     WHERE p_include_indexes OR x.action NOT IN ('create_index', 'drop_index', 'rename_index');
    IF v_n > 0 THEN
        RAISE EXCEPTION 'schema repair incomplete: % step(s) still needed after applying the plan', v_n
            USING HINT = 'SELECT * FROM schema_repair_plan(false) shows them; nothing was committed.';
    END IF;
END
$fn$;
