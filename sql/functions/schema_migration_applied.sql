-- schema_migration_applied(name): whether cowrie-db's migration runner has recorded the
-- migration (table pgmigrations); false when that table does not exist (a database the
-- upstream code created: cowrie-db migrate applies every migration, each guarded).
-- Used by: schema_findings() (a missing table is created by a pending migration, or needs a
-- manual step when its migration is recorded as applied). Locks: ACCESS SHARE on pgmigrations.
CREATE OR REPLACE FUNCTION schema_migration_applied(p_name text)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    v_found boolean;
BEGIN
    IF to_regclass('pgmigrations') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pgmigrations WHERE name = $1)' INTO v_found USING p_name;
    RETURN v_found;
END
$fn$;
