-- repair_schema(p_include_indexes, p_opt_in): the psql route to what cowrie-db migrate
-- repairs, in the CURRENT transaction (all or nothing; indexes built in place, not
-- CONCURRENTLY): the steps of schema_repair_plan(false, p_opt_in).
-- First, if schema_findings() has a CRITICAL or ERROR finding that is not repaired
-- automatically (repair = 'manual': rows violating a constraint, a type to convert by hand,
-- ...), ONE error is raised with it and its manual step, and nothing is changed (the CLI
-- instead repairs the rest and reports it). Then each step's run_sql is executed in order;
-- the plan is computed again (a step can make another possible, e.g. a column before the
-- constraint on it) up to three rounds; anything left is an error.
-- p_include_indexes = false leaves index steps to the caller (CONCURRENTLY).
-- Use from psql:  SELECT * FROM repair_schema();   (autocommit: all or nothing)
-- Locks: those of each step (see schema_findings): up to ACCESS EXCLUSIVE on
-- session_summaries / ip_inventory, each taken with lock_timeout and bounded retries.
CREATE OR REPLACE FUNCTION repair_schema(p_include_indexes boolean DEFAULT true, p_opt_in text[] DEFAULT '{}')
RETURNS TABLE (step integer, action text, table_name text, object_name text, message text)
LANGUAGE plpgsql
AS $fn$
DECLARE
    p       record;
    r       record;
    v_n     integer;
    v_round integer;
    v_step  integer := 0;
BEGIN
    SELECT * INTO p FROM schema_findings(false) f
     WHERE f.repair = 'manual' AND f.severity IN ('CRITICAL', 'ERROR')
       AND (p_include_indexes OR f.kind NOT IN ('missing_index', 'rebuild_index'))
     ORDER BY f.step LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'schema repair stopped at step % (% %.%): %', p.step, p.kind, p.table_name, p.object_name,
                        coalesce(p.manual_step, p.message)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = coalesce('statement: ' || p.fix, 'no statement'),
                  HINT = 'Nothing was changed. Do the manual step, then run it again.';
    END IF;

    FOR v_round IN 1 .. 3 LOOP
        v_n := 0;
        FOR p IN SELECT * FROM schema_repair_plan(false, p_opt_in) x
                  WHERE p_include_indexes OR x.action NOT IN ('missing_index', 'rebuild_index', 'duplicate_index')
                  ORDER BY x.step LOOP
            v_n := v_n + 1;
            v_step := v_step + 1;
            -- one row per change made: the rows the ensure_*() call returns (its action), or
            -- the step itself for a plain statement (schema_fix_run, convert_enrichment_to_jsonb)
            FOR r IN EXECUTE format('SELECT to_jsonb(x) AS j FROM (%s) x', p.run_sql) LOOP
                CONTINUE WHEN r.j ->> 'action' = 'none';
                step := v_step; action := coalesce(r.j ->> 'action', p.action);
                table_name := coalesce(r.j ->> 'table_name', p.table_name);
                object_name := coalesce(r.j ->> 'object_name', p.object_name);
                message := coalesce(r.j ->> 'message', p.message);
                RETURN NEXT;
                EXIT WHEN r.j ->> 'action' IS NULL;   -- a set of statements (e.g. the jsonb conversion): one row
            END LOOP;
        END LOOP;
        EXIT WHEN v_n = 0;
    END LOOP;

    SELECT count(*) INTO v_n FROM schema_repair_plan(false, p_opt_in) x
     WHERE p_include_indexes OR x.action NOT IN ('missing_index', 'rebuild_index', 'duplicate_index');
    IF v_n > 0 THEN
        RAISE EXCEPTION 'schema repair incomplete: % step(s) still needed after applying the plan', v_n
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'SELECT * FROM schema_repair_plan(false) shows them; nothing was committed.';
    END IF;
END
$fn$;
