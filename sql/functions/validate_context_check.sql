-- validate_context_check(context, id) -> jsonb: the result of check `id` already in
-- context.checks (the rows of the groups that ran before, as validate_checks passes
-- them on), or NULL. Later checks read earlier ones from it: the data checks are
-- blocked by schema.drift's details.blockedBy, readiness and performance reuse
-- coverage.snapshots' figures instead of measuring them again.
-- Locks: none.
CREATE OR REPLACE FUNCTION validate_context_check(p_context jsonb, p_id text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $fn$
SELECT c FROM jsonb_array_elements(COALESCE(p_context -> 'checks', '[]')) c WHERE c ->> 'id' = p_id LIMIT 1
$fn$;
