-- lock_table_with_retry(table, mode, lock_timeout, max_attempts, backoff_seconds)
-- Takes a table lock for the rest of the caller's transaction with a SHORT lock_timeout and,
-- when the lock is not granted in time, gives up the request, sleeps (exponential back-off)
-- and tries again, a bounded number of times. A waiting ACCESS EXCLUSIVE request sits at the
-- head of the lock queue and blocks every later reader; this keeps that blocking to at most
-- one lock_timeout per attempt instead of "until the long transaction ends".
-- When every attempt failed it raises lock_not_available (55P03) naming the table, the mode
-- and the pid(s) holding or queued for a lock on it (with their state, age and query).
-- Defaults when a parameter is NULL: the session settings cowrie_db.lock_timeout (2s),
-- cowrie_db.lock_attempts (5), cowrie_db.lock_backoff (0.5 seconds, doubled each retry).
-- Returns the number of attempts used. Lock acquired in a sub-block that succeeded stays held
-- by the caller's transaction; a failed attempt releases nothing else the caller holds.
-- Locks: the requested mode on p_table (LOCK TABLE), until the caller's transaction ends.
CREATE OR REPLACE FUNCTION lock_table_with_retry(
    p_table           text,
    p_mode            text    DEFAULT 'ACCESS EXCLUSIVE',
    p_lock_timeout    text    DEFAULT NULL,
    p_max_attempts    integer DEFAULT NULL,
    p_backoff_seconds numeric DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET lock_timeout = '2s'   -- the caller's lock_timeout is restored when this function returns
AS $fn$
DECLARE
    v_timeout  text    := coalesce(p_lock_timeout, nullif(current_setting('cowrie_db.lock_timeout', true), ''), '2s');
    v_attempts integer := coalesce(p_max_attempts, nullif(current_setting('cowrie_db.lock_attempts', true), '')::integer, 5);
    v_backoff  numeric := coalesce(p_backoff_seconds, nullif(current_setting('cowrie_db.lock_backoff', true), '')::numeric, 0.5);
    v_mode     text    := upper(btrim(p_mode));
    v_rel      regclass := to_regclass(format('%I', p_table));
    v_holders  text;
    v_sleep    numeric;
BEGIN
    IF v_mode NOT IN ('ACCESS SHARE', 'ROW SHARE', 'ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE',
                      'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE') THEN
        RAISE EXCEPTION 'lock_table_with_retry: unknown lock mode %', p_mode
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_rel IS NULL THEN
        RAISE EXCEPTION 'lock_table_with_retry: table % does not exist', p_table
            USING ERRCODE = 'undefined_table';
    END IF;
    IF v_attempts < 1 THEN v_attempts := 1; END IF;
    PERFORM set_config('lock_timeout', v_timeout, true);

    FOR attempt IN 1 .. v_attempts LOOP
        BEGIN
            EXECUTE format('LOCK TABLE %I IN %s MODE', p_table, v_mode);
            IF attempt > 1 THEN
                RAISE NOTICE 'lock % on % granted at attempt %/%', v_mode, p_table, attempt, v_attempts;
            END IF;
            RETURN attempt;
        EXCEPTION WHEN lock_not_available THEN
            SELECT string_agg(format('pid %s (%s %s, %s, transaction open %s, query: %s)',
                                     l.pid, CASE WHEN l.granted THEN 'holds' ELSE 'waits for' END,
                                     l.mode, coalesce(a.state, '?'),
                                     coalesce(date_trunc('second', clock_timestamp() - a.xact_start)::text, '?'),
                                     coalesce(left(regexp_replace(a.query, '\s+', ' ', 'g'), 80), '?')),
                              '; ' ORDER BY l.granted DESC, l.pid)
              INTO v_holders
              FROM pg_locks l
              LEFT JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'relation' AND l.relation = v_rel::oid AND a.pid IS NOT NULL
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND l.pid IS DISTINCT FROM pg_backend_pid();
            IF attempt = v_attempts THEN
                RAISE EXCEPTION 'could not lock table % in % mode: not granted within % in % attempts; blocked by %',
                                p_table, v_mode, v_timeout, v_attempts, coalesce(v_holders, 'a session that has since finished')
                    USING ERRCODE = 'lock_not_available',
                          HINT = 'Nothing was changed by this step. Retry when the blocking session(s) are done, '
                              || 'or end them (SELECT pg_terminate_backend(<pid>)); raise the bounds with '
                              || 'SET cowrie_db.lock_timeout / cowrie_db.lock_attempts.';
            END IF;
            v_sleep := v_backoff * power(2, attempt - 1);
            RAISE NOTICE 'lock % on % not granted within % (attempt %/%), blocked by %; retrying in % s',
                         v_mode, p_table, v_timeout, attempt, v_attempts, coalesce(v_holders, '?'), round(v_sleep, 2);
            PERFORM pg_sleep(v_sleep);
        END;
    END LOOP;
    RETURN v_attempts;  -- not reached
END
$fn$;
