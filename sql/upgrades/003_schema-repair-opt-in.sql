-- Upgrade step 003, run before sql/functions is installed (see sql/upgrades/README.md):
-- the schema model's repair functions gained the opt-in list (p_opt_in text[]).
--   schema_repair_plan(boolean)   replaced by (boolean, text[]): the old signature is
--   repair_schema(boolean)        dropped, or a call with one argument would be ambiguous
-- Re-runnable: does nothing on a current install.
-- Locks: ACCESS EXCLUSIVE on the two functions' catalog rows only (no table).
DO $upgrade$
BEGIN
    IF to_regprocedure('schema_repair_plan(boolean)') IS NOT NULL THEN
        DROP FUNCTION schema_repair_plan(boolean);
    END IF;
    IF to_regprocedure('repair_schema(boolean)') IS NOT NULL THEN
        DROP FUNCTION repair_schema(boolean);
    END IF;
END
$upgrade$;
