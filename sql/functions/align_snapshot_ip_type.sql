-- align_snapshot_ip_type(): brings session_summaries to the column `snapshot_ip_type text`
-- from every state found in the field, without losing a value (see snapshot_ip_type_state()):
--   singular                nothing to do (no lock taken)
--   plural, text            RENAME COLUMN snapshot_ip_types TO snapshot_ip_type (metadata only)
--   plural, varchar         rename, then ALTER TYPE text (binary coercible, no rewrite)
--   plural, text[]          ALTER TYPE text USING array_to_string(snapshot_ip_types, ',') then
--                           rename. Documented conversion: the elements joined with ',' in array
--                           order ({} -> '', {DATACENTER} -> 'DATACENTER', {A,B} -> 'A,B'); it is
--                           lossless (string_to_array(v, ',') gives the array back) unless an
--                           element is NULL or contains the separator: those rows are counted
--                           and the function stops before changing anything.
--                           This is the one state that REWRITES session_summaries.
--   singular-wrong-type     ALTER TYPE text USING the same conversion (rewrite)
--   both                    merge: keep snapshot_ip_type where set, fill it from the plural
--                           where it is NULL (converted as above), verify no plural value is
--                           left without a singular value, then DROP the plural column.
--                           The bulk UPDATE runs under ROW EXCLUSIVE (readers and writers of
--                           other rows go on); ACCESS EXCLUSIVE is taken only for the catch-up
--                           UPDATE and the DROP. Rows where both were set and differ keep the
--                           singular value; their number is reported.
--   neither                 ADD COLUMN snapshot_ip_type text (metadata only)
-- The origin (plural name, type, separator) is recorded as the column's COMMENT so that
-- rollback_snapshot_ip_type_rename() can restore the plural column exactly.
-- Runs inside the caller's transaction (one transaction: psql autocommit, a migration, or a
-- repair step). Every lock is taken through lock_table_with_retry(): lock_timeout (2s by
-- default) and bounded retries with back-off, then a clear error naming the blocking pids.
-- p_apply = false: changes nothing and returns the plan (the statements, lock, rewrite flag,
-- and a blocker text if the conversion would lose values).
-- Returns one row per action (action 'none' when there is nothing to do); also RAISEs NOTICE.
-- Locks: ROW EXCLUSIVE then ACCESS EXCLUSIVE on session_summaries (none in state singular).
CREATE OR REPLACE FUNCTION align_snapshot_ip_type(
    p_apply           boolean DEFAULT true,
    p_separator       text    DEFAULT ',',
    p_lock_timeout    text    DEFAULT NULL,
    p_max_attempts    integer DEFAULT NULL,
    p_backoff_seconds numeric DEFAULT NULL)
RETURNS TABLE (action text, table_name text, object_name text, statement text,
               lock_mode text, rewrites_table boolean, blocker text, message text)
LANGUAGE plpgsql
SET lock_timeout = '5s'
AS $fn$
DECLARE
    c_table  constant text := 'session_summaries';
    c_sing   constant text := 'snapshot_ip_type';
    c_plur   constant text := 'snapshot_ip_types';
    s        record;
    v_conv   text;      -- expression converting the source column to text
    v_src    text;      -- the column being converted (plural, or singular with a wrong type)
    v_src_t  text;
    v_lossy  bigint := 0;
    v_stmts  text[] := '{}';
    v_action text;
    v_lock   text := 'ACCESS EXCLUSIVE';
    v_rewr   boolean := false;
    v_block  text;
    v_n      bigint;
    v_msg    text;
    v_comment text;
BEGIN
    IF p_separator IS NULL OR p_separator = '' THEN
        RAISE EXCEPTION 'align_snapshot_ip_type: the separator must be a non-empty string'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT * INTO s FROM snapshot_ip_type_state();
    IF s.state = 'no-table' THEN
        RAISE EXCEPTION 'align_snapshot_ip_type: table session_summaries does not exist'
            USING ERRCODE = 'undefined_table', HINT = 'Run the migrations first (cowrie-db migrate).';
    END IF;
    IF s.state = 'singular' THEN
        action := 'none'; table_name := c_table; object_name := c_sing;
        lock_mode := 'none'; rewrites_table := false;
        message := 'session_summaries.snapshot_ip_type (text) present: nothing to do';
        IF p_apply THEN RAISE NOTICE '%', message; END IF;
        RETURN NEXT;
        RETURN;
    END IF;

    IF p_apply THEN
        -- Freeze the column layout: ROW EXCLUSIVE conflicts with every ALTER TABLE but not
        -- with readers or writers. Then read the state again under the lock.
        PERFORM lock_table_with_retry(c_table, 'ROW EXCLUSIVE', p_lock_timeout, p_max_attempts, p_backoff_seconds);
        PERFORM set_config('lock_timeout', coalesce(p_lock_timeout,
                nullif(current_setting('cowrie_db.lock_timeout', true), ''), '2s'), true);
        SELECT * INTO s FROM snapshot_ip_type_state();
        IF s.state = 'singular' THEN
            action := 'none'; table_name := c_table; object_name := c_sing;
            lock_mode := 'none'; rewrites_table := false;
            message := 'session_summaries.snapshot_ip_type (text) present: nothing to do';
            RAISE NOTICE '%', message;
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    -- Which column needs a conversion to text, and how.
    IF s.state IN ('plural', 'both') AND s.plural_type <> 'text' THEN
        v_src := c_plur; v_src_t := s.plural_type;
    ELSIF s.state IN ('singular-wrong-type', 'both') AND s.singular_type <> 'text' THEN
        v_src := c_sing; v_src_t := s.singular_type;
    END IF;
    IF s.state = 'both' AND s.plural_type <> 'text' AND s.singular_type <> 'text' THEN
        RAISE EXCEPTION 'align_snapshot_ip_type: both snapshot_ip_type (%) and snapshot_ip_types (%) exist and neither is text',
                        s.singular_type, s.plural_type
            USING ERRCODE = 'datatype_mismatch',
                  HINT = 'Convert snapshot_ip_type to text first: ALTER TABLE session_summaries ALTER COLUMN snapshot_ip_type TYPE text USING ...';
    END IF;

    IF v_src IS NOT NULL THEN
        IF v_src_t LIKE '%[]' THEN
            v_conv := format('array_to_string(%I, %L)', v_src, p_separator);
            EXECUTE format('SELECT count(*) FROM %I WHERE %I IS NOT NULL AND EXISTS '
                           '(SELECT 1 FROM unnest(%I) AS e(v) WHERE e.v IS NULL OR strpos(e.v::text, %L) > 0)',
                           c_table, v_src, v_src, p_separator)
               INTO v_lossy;
            IF v_lossy > 0 THEN
                v_block := format('%s rows of session_summaries.%I hold an array with a NULL element or an element '
                                  'containing %L; joining them with %L would lose information. Fix: call '
                                  'align_snapshot_ip_type(p_separator => ''<a character no element contains>''), or clean '
                                  'those rows (SELECT session_id, %I FROM session_summaries WHERE EXISTS (SELECT 1 FROM '
                                  'unnest(%I) e(v) WHERE e.v IS NULL OR strpos(e.v, %L) > 0))',
                                  v_lossy, v_src, p_separator, p_separator, v_src, v_src, p_separator);
            END IF;
        ELSIF v_src_t LIKE 'character varying%' OR v_src_t LIKE 'character(%' OR v_src_t = 'character' THEN
            v_conv := format('%I::text', v_src);   -- binary coercible for varchar: no rewrite
        ELSE
            v_conv := format('%I::text', v_src);
        END IF;
    END IF;

    table_name := c_table; object_name := c_sing;
    IF s.state = 'plural' THEN
        IF v_src IS NULL THEN
            v_action := 'rename';
            v_stmts := ARRAY[format('ALTER TABLE %I RENAME COLUMN %I TO %I', c_table, c_plur, c_sing)];
        ELSE
            v_action := 'convert_and_rename';
            v_rewr := NOT (v_src_t LIKE 'character varying%');
            v_stmts := ARRAY[format('ALTER TABLE %I ALTER COLUMN %I TYPE text USING %s', c_table, c_plur, v_conv),
                             format('ALTER TABLE %I RENAME COLUMN %I TO %I', c_table, c_plur, c_sing)];
        END IF;
        v_comment := format('cowrie-db: aligned from snapshot_ip_types of type %s; separator "%s"',
                            s.plural_type, p_separator);
    ELSIF s.state = 'singular-wrong-type' THEN
        v_action := 'convert';
        v_rewr := NOT (v_src_t LIKE 'character varying%');
        v_stmts := ARRAY[format('ALTER TABLE %I ALTER COLUMN %I TYPE text USING %s', c_table, c_sing, v_conv)];
    ELSIF s.state = 'neither' THEN
        v_action := 'add';
        v_stmts := ARRAY[format('ALTER TABLE %I ADD COLUMN %I text', c_table, c_sing)];
    ELSE -- both
        v_action := 'merge';
        v_lock := 'ROW EXCLUSIVE, then ACCESS EXCLUSIVE';
        IF v_src = c_sing THEN
            v_rewr := NOT (v_src_t LIKE 'character varying%');
            v_stmts := ARRAY[format('ALTER TABLE %I ALTER COLUMN %I TYPE text USING %s', c_table, c_sing, v_conv)];
            v_conv := NULL;
        END IF;
        v_stmts := v_stmts || format('UPDATE %I SET %I = %s WHERE %I IS NULL AND %I IS NOT NULL',
                                     c_table, c_sing, coalesce(v_conv, quote_ident(c_plur)), c_sing, c_plur)
                           || format('ALTER TABLE %I DROP COLUMN %I', c_table, c_plur);
        v_comment := format('cowrie-db: merged from snapshot_ip_types of type %s; separator "%s"',
                            s.plural_type, p_separator);
    END IF;

    IF NOT p_apply THEN
        action := v_action; statement := array_to_string(v_stmts, E';\n') || ';';
        lock_mode := v_lock; rewrites_table := v_rewr; blocker := v_block;
        message := format('state %s (singular %s, plural %s)', s.state,
                          coalesce(s.singular_type, 'absent'), coalesce(s.plural_type, 'absent'));
        RETURN NEXT;
        RETURN;
    END IF;

    IF v_block IS NOT NULL THEN
        RAISE EXCEPTION 'cannot align session_summaries.snapshot_ip_type: %', v_block
            USING ERRCODE = 'data_exception',
                  DETAIL = 'statement: ' || array_to_string(v_stmts, '; '),
                  HINT = 'Nothing was changed.';
    END IF;

    IF v_action = 'merge' THEN
        -- Bulk fill under ROW EXCLUSIVE (already held), then the exclusive part.
        IF v_src = c_sing THEN
            PERFORM lock_table_with_retry(c_table, 'ACCESS EXCLUSIVE', p_lock_timeout, p_max_attempts, p_backoff_seconds);
            EXECUTE v_stmts[1];
            v_stmts := v_stmts[2:];
        END IF;
        EXECUTE format('SELECT count(*) FROM %I WHERE %I IS NOT NULL AND %I IS NOT NULL AND %I IS DISTINCT FROM %s',
                       c_table, c_sing, c_plur, c_sing, coalesce(v_conv, quote_ident(c_plur)))
           INTO v_n;
        IF v_n > 0 THEN
            RAISE NOTICE 'align_snapshot_ip_type: % rows have both columns set with different values; the singular value is kept', v_n;
        END IF;
        EXECUTE v_stmts[1];
        GET DIAGNOSTICS v_n = ROW_COUNT;
        PERFORM lock_table_with_retry(c_table, 'ACCESS EXCLUSIVE', p_lock_timeout, p_max_attempts, p_backoff_seconds);
        EXECUTE v_stmts[1];   -- catch up rows written since the bulk fill
        EXECUTE format('SELECT count(*) FROM %I WHERE %I IS NULL AND %I IS NOT NULL', c_table, c_sing, c_plur) INTO v_lossy;
        IF v_lossy > 0 THEN
            RAISE EXCEPTION 'align_snapshot_ip_type: % plural values were not merged; nothing was changed', v_lossy;
        END IF;
        EXECUTE v_stmts[2];
        v_msg := format('merged snapshot_ip_types (%s) into snapshot_ip_type: %s rows filled from the plural column, '
                        'then dropped snapshot_ip_types', s.plural_type, v_n);
    ELSE
        PERFORM lock_table_with_retry(c_table, 'ACCESS EXCLUSIVE', p_lock_timeout, p_max_attempts, p_backoff_seconds);
        FOREACH statement IN ARRAY v_stmts LOOP
            EXECUTE statement;
        END LOOP;
        v_msg := CASE v_action
            WHEN 'rename' THEN 'renamed snapshot_ip_types (text) to snapshot_ip_type'
            WHEN 'convert_and_rename' THEN format('converted snapshot_ip_types (%s) to text with %s and renamed it to snapshot_ip_type',
                                                  s.plural_type, v_conv)
            WHEN 'convert' THEN format('converted snapshot_ip_type (%s) to text with %s', s.singular_type, v_conv)
            ELSE 'added snapshot_ip_type text' END;
    END IF;

    IF v_comment IS NOT NULL THEN
        EXECUTE format('COMMENT ON COLUMN %I.%I IS %L', c_table, c_sing, v_comment);
    END IF;

    IF (SELECT st.state FROM snapshot_ip_type_state() st) <> 'singular' THEN
        RAISE EXCEPTION 'align_snapshot_ip_type: verification failed, state is still %',
                        (SELECT st.state FROM snapshot_ip_type_state() st);
    END IF;

    action := v_action; statement := array_to_string(v_stmts, E';\n') || ';';
    lock_mode := v_lock; rewrites_table := v_rewr; blocker := NULL;
    message := 'session_summaries: ' || v_msg;
    RAISE NOTICE '%', message;
    RETURN NEXT;
END
$fn$;
