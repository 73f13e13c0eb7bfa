-- schema_recorded_version(): schema_state.value for key 'schema_version', or NULL when the
-- table or the row is missing. Used by: schema_findings(). Locks: ACCESS SHARE on schema_state.
CREATE OR REPLACE FUNCTION schema_recorded_version()
RETURNS text
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    v text;
BEGIN
    IF to_regclass('schema_state') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE $q$SELECT value FROM schema_state WHERE key = 'schema_version'$q$ INTO v;
    RETURN v;
END
$fn$;
