-- seed_reset()
--
-- Empties the data so that seed_generate() can run again: TRUNCATE of the
-- upstream tables session_summaries, ip_asn_history, ip_inventory,
-- asn_inventory and of cowrie-db's backfill run tables (every table named
-- backfill_* in the schema of session_summaries: runs, batches, rejects, undo,
-- deferred), RESTART IDENTITY. schema_state and the schema itself are kept.
-- Refuses (SQLSTATE 2BP01) when another table has a foreign key to one of
-- them: it would have to be emptied too, and that is not seed data.
-- Returns each table emptied with the number of rows it had.
-- Sets lock_timeout = '5s' for the rest of the transaction if none is set.
--
-- Locks: ACCESS EXCLUSIVE on every table it empties, until the caller's
-- transaction ends.
CREATE OR REPLACE FUNCTION seed_reset()
RETURNS TABLE (table_name text, rows_removed bigint)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_tables  regclass[];
    v_rel     regclass;
    v_blocker text;
    v_n       bigint;
BEGIN
    IF current_setting('lock_timeout') IN ('0', '0ms') THEN
        PERFORM set_config('lock_timeout', '5s', true);
    END IF;

    SELECT array_agg(t ORDER BY ord) INTO v_tables
    FROM (
        SELECT to_regclass(n) AS t, o AS ord
        FROM unnest(ARRAY['session_summaries', 'ip_asn_history', 'ip_inventory', 'asn_inventory'])
             WITH ORDINALITY AS u(n, o)
        UNION ALL
        SELECT c.oid::regclass, 100 + row_number() OVER (ORDER BY c.relname)
        FROM pg_class AS c
        WHERE c.relkind IN ('r', 'p')
          AND c.relname LIKE 'backfill\_%'
          AND c.relnamespace = (SELECT relnamespace FROM pg_class
                                WHERE oid = to_regclass('session_summaries'))
    ) AS x
    WHERE t IS NOT NULL;

    IF v_tables IS NULL THEN
        RETURN;
    END IF;

    SELECT format('%s (constraint %s references %s)', f.conrelid::regclass, f.conname, f.confrelid::regclass)
      INTO v_blocker
    FROM pg_constraint AS f
    WHERE f.contype = 'f' AND f.confrelid = ANY (v_tables) AND NOT f.conrelid = ANY (v_tables)
    LIMIT 1;
    IF v_blocker IS NOT NULL THEN
        RAISE EXCEPTION 'seed_reset: table % would have to be emptied too; refusing', v_blocker
            USING ERRCODE = '2BP01';
    END IF;

    FOREACH v_rel IN ARRAY v_tables LOOP
        EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', v_rel);
        EXECUTE format('SELECT count(*) FROM %s', v_rel) INTO v_n;
        table_name := v_rel::text;
        rows_removed := v_n;
        RETURN NEXT;
    END LOOP;
    EXECUTE 'TRUNCATE ' || (SELECT string_agg(t::text, ', ') FROM unnest(v_tables) AS t)
            || ' RESTART IDENTITY';
END
$fn$;
