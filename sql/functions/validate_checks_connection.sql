-- validate_checks_connection(settings) -> SETOF jsonb: the connection checks SQL can make
-- (validate_check_row rows):
--   connection.read_only       CRITICAL  the transaction is READ ONLY (validate's promise)
--   connection.server_version  CRITICAL  server major version >= thresholds.minServerVersion
-- connection.connectivity (the client's round trip) is measured by `cowrie-db validate`.
-- Locks: none.
CREATE OR REPLACE FUNCTION validate_checks_connection(p_settings jsonb DEFAULT '{}')
RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    s     jsonb := validate_settings(p_settings);
    v_min integer := (s #>> '{thresholds,minServerVersion}')::integer;
    v_ro  text := current_setting('transaction_read_only');
    v_iso text := current_setting('transaction_isolation');
    v_st  text := current_setting('statement_timeout');
    v_lt  text := current_setting('lock_timeout');
    v_ver text := current_setting('server_version');
    v_num integer := current_setting('server_version_num')::integer;
BEGIN
    RETURN NEXT validate_check_row('connection.read_only', 'Read-only session', 'CRITICAL',
        CASE WHEN v_ro = 'on' THEN 'pass' ELSE 'fail' END,
        CASE WHEN v_ro = 'on'
             THEN format('every query runs in one %s READ ONLY transaction (statement_timeout %s, lock_timeout %s); nothing is written', upper(v_iso), v_st, v_lt)
             ELSE 'the transaction is not read-only: validate refuses to trust it (from psql: BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT * FROM validate_verdict(); COMMIT;)' END,
        to_jsonb(v_ro), 'read only ' || v_ro, 'on',
        jsonb_build_object('transactionReadOnly', v_ro, 'isolation', v_iso, 'statementTimeout', v_st, 'lockTimeout', v_lt));
    RETURN NEXT validate_check_row('connection.server_version', 'Server version', 'CRITICAL',
        CASE WHEN v_num / 10000 >= v_min THEN 'pass' ELSE 'fail' END,
        CASE WHEN v_num / 10000 >= v_min THEN format('PostgreSQL %s is supported (%s+)', v_ver, v_min)
             ELSE format('PostgreSQL %s is older than %s: generated columns, DROP EXPRESSION and the backfill need %s+', v_ver, v_min, v_min) END,
        to_jsonb(v_ver), 'PostgreSQL ' || v_ver, '>= ' || v_min,
        jsonb_build_object('serverVersionNum', v_num));
END
$fn$;
