-- rollback_snapshot_ip_type_rename(): undoes align_snapshot_ip_type(): session_summaries gets
-- back the plural column snapshot_ip_types, with the type it had before the alignment when
-- the alignment recorded it (COMMENT on the column: 'cowrie-db: aligned from snapshot_ip_types
-- of type text[]; separator ","'): a text[] origin is converted back with
-- string_to_array(value, separator), which inverts array_to_string (so no value is lost);
-- otherwise (or with p_to_type => 'text') it is a plain rename (metadata only).
-- Idempotent: in state 'plural' it does nothing. p_only_if_aligned => true (migration 004's
-- Down) does nothing unless cowrie-db's alignment comment is on the column, so a database that
-- never had the plural column is left alone.
-- Ends with verify_snapshot_ip_type_rename_undone() (raises if the result is wrong).
-- Locks: ACCESS EXCLUSIVE on session_summaries (lock_table_with_retry); rewrites the table
-- only when converting back to an array.
CREATE OR REPLACE FUNCTION rollback_snapshot_ip_type_rename(
    p_to_type          text    DEFAULT NULL,
    p_only_if_aligned  boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql
SET lock_timeout = '5s'
AS $fn$
DECLARE
    s         record;
    v_comment text;
    v_type    text;
    v_sep     text := ',';
    v_msg     text;
BEGIN
    SELECT * INTO s FROM snapshot_ip_type_state();
    IF s.state = 'plural' THEN
        v_msg := format('session_summaries already has snapshot_ip_types (%s) and no snapshot_ip_type: nothing to do', s.plural_type);
        RAISE NOTICE '%', v_msg;
        RETURN v_msg;
    END IF;
    IF s.state NOT IN ('singular', 'singular-wrong-type') AND p_only_if_aligned THEN
        v_msg := format('session_summaries is in state %s: nothing to undo', s.state);
        RAISE NOTICE '%', v_msg;
        RETURN v_msg;
    END IF;
    IF s.state NOT IN ('singular', 'singular-wrong-type') THEN
        RAISE EXCEPTION 'rollback_snapshot_ip_type_rename: session_summaries is in state % (snapshot_ip_type %, snapshot_ip_types %); expected only snapshot_ip_type',
                        s.state, coalesce(s.singular_type, 'absent'), coalesce(s.plural_type, 'absent')
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    PERFORM lock_table_with_retry('session_summaries', 'ACCESS EXCLUSIVE');
    PERFORM set_config('lock_timeout', coalesce(nullif(current_setting('cowrie_db.lock_timeout', true), ''), '2s'), true);

    v_comment := col_description('session_summaries'::regclass,
                                 (SELECT a.attnum FROM pg_attribute a
                                   WHERE a.attrelid = 'session_summaries'::regclass AND a.attname = 'snapshot_ip_type'));
    IF v_comment ~ '^cowrie-db: (aligned|merged) from snapshot_ip_types of type ' THEN
        v_type := substring(v_comment FROM 'of type (.+); separator "');
        v_sep  := coalesce(substring(v_comment FROM 'separator "(.*)"$'), ',');
    ELSIF p_only_if_aligned THEN
        v_msg := 'snapshot_ip_type was not renamed by cowrie-db (no alignment comment): nothing to undo';
        RAISE NOTICE '%', v_msg;
        RETURN v_msg;
    END IF;
    v_type := coalesce(p_to_type, v_type, 'text');

    IF v_type = s.singular_type THEN
        EXECUTE 'ALTER TABLE session_summaries RENAME COLUMN snapshot_ip_type TO snapshot_ip_types';
        v_msg := format('renamed snapshot_ip_type back to snapshot_ip_types (%s)', v_type);
    ELSIF v_type LIKE '%[]' THEN
        EXECUTE format('ALTER TABLE session_summaries ALTER COLUMN snapshot_ip_type TYPE %s USING string_to_array(snapshot_ip_type, %L)::%s',
                       v_type, v_sep, v_type);
        EXECUTE 'ALTER TABLE session_summaries RENAME COLUMN snapshot_ip_type TO snapshot_ip_types';
        v_msg := format('converted snapshot_ip_type back to %s with string_to_array(value, %L) and renamed it to snapshot_ip_types', v_type, v_sep);
    ELSE
        EXECUTE format('ALTER TABLE session_summaries ALTER COLUMN snapshot_ip_type TYPE %s USING snapshot_ip_type::%s', v_type, v_type);
        EXECUTE 'ALTER TABLE session_summaries RENAME COLUMN snapshot_ip_type TO snapshot_ip_types';
        v_msg := format('converted snapshot_ip_type back to %s and renamed it to snapshot_ip_types', v_type);
    END IF;
    EXECUTE 'COMMENT ON COLUMN session_summaries.snapshot_ip_types IS NULL';

    PERFORM verify_snapshot_ip_type_rename_undone(v_type);
    RAISE NOTICE 'session_summaries: %', v_msg;
    RETURN 'session_summaries: ' || v_msg;
END
$fn$;
