-- ensure_index(table, name, concurrently, apply): completeness guard and repair of one index
-- as expected_indexes() defines it. Compares pg_get_indexdef() (schema name removed) with the
-- expected definition, under ANY name (schema_index_matches()).
--   a valid index with the same    nothing: it does the job (the ORM's ix_<t>_<c>, the
--   definition, whatever its name  upstream's idx_*, ours); it is not renamed, and no second
--                                  one is built
--   missing                        CREATE INDEX [CONCURRENTLY] IF NOT EXISTS name ON table ...
--   ours (this name) INVALID (a    DROP INDEX [CONCURRENTLY] + CREATE INDEX [CONCURRENTLY]
--   failed concurrent build) or
--   another definition
-- p_concurrently = true is for the runner: CREATE/DROP INDEX CONCURRENTLY cannot run inside a
-- function or a transaction block, so with p_apply = false the function returns the
-- statements and the runner sends each one on its own, outside a transaction; with p_apply =
-- true it raises. p_concurrently = false (migrations, psql, tests) builds in place.
-- Returns one row per statement (one row with action 'none' when the index is as expected).
-- Locks: CREATE INDEX: SHARE on the table (blocks writes while it builds); CONCURRENTLY:
-- SHARE UPDATE EXCLUSIVE (reads and writes go on); DROP INDEX: ACCESS EXCLUSIVE (CONCURRENTLY:
-- SHARE UPDATE EXCLUSIVE).
CREATE OR REPLACE FUNCTION ensure_index(
    p_table        text,
    p_name         text,
    p_concurrently boolean DEFAULT false,
    p_apply        boolean DEFAULT true)
RETURNS TABLE (action text, table_name text, object_name text, statement text,
               lock_mode text, rewrites_table boolean, blocker text, message text)
LANGUAGE plpgsql
SET lock_timeout = '5s'
AS $fn$
DECLARE
    e        record;
    v_rel    regclass := to_regclass(format('%I', p_table));
    v_idx    record;
    v_same   text;
    v_conc   text := CASE WHEN p_concurrently THEN 'CONCURRENTLY ' ELSE '' END;
    v_create text;
    v_steps  text[] := '{}';
    v_acts   text[] := '{}';
    v_lock   text := CASE WHEN p_concurrently THEN 'SHARE UPDATE EXCLUSIVE' ELSE 'SHARE' END;
    i        integer;
BEGIN
    SELECT * INTO e FROM expected_indexes() x WHERE x.table_name = p_table AND x.index_name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ensure_index: % on % is not an index of the schema', p_name, p_table
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_rel IS NULL THEN
        RAISE EXCEPTION 'ensure_index: table % does not exist', p_table
            USING ERRCODE = 'undefined_table', HINT = 'Run the migrations first (cowrie-db migrate).';
    END IF;
    IF p_apply AND p_concurrently THEN
        RAISE EXCEPTION 'ensure_index: CONCURRENTLY cannot run inside a function; run the statements of %, one by one, outside a transaction',
                        format('ensure_index(%L, %L, true, false)', p_table, p_name)
            USING ERRCODE = 'active_sql_transaction';
    END IF;
    table_name := p_table; object_name := p_name; rewrites_table := false;
    v_create := format('CREATE INDEX %sIF NOT EXISTS %I ON %I %s', v_conc, p_name, p_table, e.definition);

    IF p_apply THEN
        PERFORM lock_table_with_retry(p_table, 'SHARE');
        PERFORM set_config('lock_timeout', coalesce(nullif(current_setting('cowrie_db.lock_timeout', true), ''), '2s'), true);
    END IF;

    -- A valid index with the expected definition, under any name, does the job.
    SELECT m.index_name INTO v_same FROM schema_index_matches(p_table, p_name) m WHERE m.same_job LIMIT 1;
    IF v_same IS NOT NULL THEN
        action := 'none'; lock_mode := 'none'; object_name := v_same;
        message := format('%s on %s is as expected%s', p_name, p_table,
                          CASE WHEN v_same <> p_name THEN format(' (as %s)', v_same) ELSE '' END);
        RETURN NEXT;
        RETURN;
    END IF;

    SELECT m.index_name, m.valid, m.definition AS def INTO v_idx
      FROM schema_index_matches(p_table, p_name) m WHERE NOT m.same_job LIMIT 1;
    IF FOUND THEN
        v_acts := ARRAY['drop_index', 'create_index'];
        v_steps := ARRAY[format('DROP INDEX %sIF EXISTS %I', v_conc, p_name), v_create];
        message := format('%s on %s is %s: rebuild', p_name, p_table,
                          CASE WHEN NOT v_idx.valid THEN 'INVALID (a failed build)'
                               ELSE format('%s instead of %s', v_idx.def, e.definition) END);
    ELSE
        v_acts := ARRAY['create_index'];
        v_steps := ARRAY[v_create];
        message := format('%s on %s is missing: create', p_name, p_table);
    END IF;

    FOR i IN 1 .. cardinality(v_steps) LOOP
        action := v_acts[i]; statement := v_steps[i] || ';';
        lock_mode := CASE WHEN v_acts[i] = 'drop_index' AND NOT p_concurrently THEN 'ACCESS EXCLUSIVE'
                          ELSE v_lock END;
        IF p_apply THEN
            IF v_acts[i] = 'drop_index' THEN
                PERFORM lock_table_with_retry(p_table, 'ACCESS EXCLUSIVE');
            END IF;
            EXECUTE v_steps[i];
            RAISE NOTICE '%: %', p_table, v_steps[i];
        END IF;
        RETURN NEXT;
    END LOOP;

    IF p_apply AND (SELECT x.action FROM ensure_index(p_table, p_name, false, false) x LIMIT 1) <> 'none' THEN
        RAISE EXCEPTION 'ensure_index: % on % still differs from the expected definition after repair', p_name, p_table;
    END IF;
END
$fn$;
