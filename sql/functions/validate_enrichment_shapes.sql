-- validate_enrichment_shapes() -> one row per shape of session enrichment
--
-- How many sessions hold their enrichment JSON in each shape, as the snapshot rule
-- reads it (backfill_enrichment_capture): 'loader' (the upstream loader's
-- {"session": {"<ip>": ...}}), 'skip_enrich' (the loader's all-blank payload: the
-- values then come from ip_inventory), 'flat', 'empty' (NULL, null, {}), 'unknown'
-- (no member the rule reads), 'unreadable' (a \u0000 escape: no value of it can be read
-- as text, backfill_enrichment_unreadable; the backfill records such a session as a
-- row_error reject). multi_ip counts the sessions naming more than one IP; examples
-- names the first 10 unreadable sessions (by session_id), so that they can be found.
-- Explains coverage at a glance: a database of 'empty'/'unknown' sessions cannot be
-- filled from its JSON. Every shape is listed, with 0 where none.
-- psql: SELECT * FROM validate_enrichment_shapes();
-- Cost: one sequential scan of session_summaries and one JSON parse per session (no
-- inventory lookups); a second scan, a text search only, when some are unreadable.
-- Locks: ACCESS SHARE on session_summaries. Writes nothing.
CREATE OR REPLACE FUNCTION validate_enrichment_shapes()
RETURNS TABLE (shape text, sessions bigint, multi_ip bigint, examples text[])
LANGUAGE sql STABLE
AS $fn$
SELECT k.shape, COALESCE(n.sessions, 0), COALESCE(n.multi_ip, 0),
       CASE WHEN k.shape = 'unreadable' AND n.sessions > 0 THEN ARRAY(
           SELECT x.session_id::text FROM session_summaries x
           WHERE backfill_enrichment_unreadable(x.enrichment)
           ORDER BY x.session_id LIMIT 10) ELSE '{}'::text[] END
FROM unnest(ARRAY['loader', 'skip_enrich', 'flat', 'empty', 'unknown', 'unreadable']) WITH ORDINALITY AS k(shape, ord)
LEFT JOIN (
    SELECT c.shape, count(*)::bigint AS sessions, count(*) FILTER (WHERE c.ip_keys > 1)::bigint AS multi_ip
    FROM session_summaries s
    CROSS JOIN LATERAL backfill_enrichment_capture(s.enrichment) c
    GROUP BY c.shape
) n ON n.shape = k.shape
ORDER BY k.ord
$fn$;
