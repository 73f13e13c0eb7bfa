-- schema_fix_run(table, lock_mode, statement): runs one repair statement that
-- schema_findings() built (format('%I'), never user input) under the lock it names: the lock
-- is taken first with lock_table_with_retry() (short lock_timeout, bounded retries, then
-- 55P03 naming the blockers), then the statement runs with the same short lock_timeout (for
-- the other tables it may lock, e.g. the referenced table of a foreign key).
-- Runs in the caller's transaction (cowrie-db migrate gives each step its own).
-- Returns the statement. Locks: p_lock_mode on p_table until the end of the transaction.
CREATE OR REPLACE FUNCTION schema_fix_run(p_table text, p_lock_mode text, p_statement text)
RETURNS text
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF p_statement IS NULL OR p_table IS NULL THEN
        RAISE EXCEPTION 'schema_fix_run: table and statement are required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM lock_table_with_retry(p_table, coalesce(p_lock_mode, 'ACCESS EXCLUSIVE'));
    PERFORM set_config('lock_timeout', coalesce(nullif(current_setting('cowrie_db.lock_timeout', true), ''), '2s'), true);
    EXECUTE p_statement;
    RETURN p_statement;
END
$fn$;
