-- backfill_deferred_page(run_id, after_key, limit) -> session_id
--
-- The next p_limit entries of a run's deferred list (backfill_deferred) after
-- p_after_key (NULL = from the first), in session_id order: the page of a sweep step.
-- Its one definition: backfill_snapshot_page reads these sessions, and
-- backfill_snapshots_apply removes these entries and takes the sweep checkpoint from
-- them, in the same statement, so both must see the same page.
-- LANGUAGE sql with a single SELECT: inlined into the caller's statement.
-- Locks: none (reads backfill_deferred).
CREATE OR REPLACE FUNCTION backfill_deferred_page(
    p_run_id    bigint,
    p_after_key text,
    p_limit     integer)
RETURNS TABLE (session_id varchar(64))
LANGUAGE sql STABLE
AS $fn$
SELECT d.session_id
FROM backfill_deferred d
WHERE d.run_id = p_run_id
  AND (p_after_key IS NULL OR d.session_id > p_after_key)
ORDER BY d.session_id
LIMIT p_limit
$fn$;
