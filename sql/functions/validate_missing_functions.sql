-- validate_missing_functions(signatures) -> text: why a check cannot run when a function it
-- calls is not installed ("could not run: function ... is not installed ..."), or NULL
-- when every one is.
-- Locks: none (reads pg_proc).
CREATE OR REPLACE FUNCTION validate_missing_functions(p_signatures text[])
RETURNS text
LANGUAGE sql STABLE
AS $fn$
SELECT 'could not run: function ' || string_agg(f, ', ') || ' is not installed in this database (cowrie-db migrate installs it)'
FROM unnest(p_signatures) f
WHERE to_regprocedure(f) IS NULL
$fn$;
