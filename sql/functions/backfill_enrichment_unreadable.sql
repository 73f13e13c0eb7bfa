-- backfill_enrichment_unreadable(enrichment json) -> boolean
--
-- True when the document holds a \u0000 escape: valid JSON, but PostgreSQL cannot turn
-- that string into text, so every operator that reads a value of the document raises
-- (22P05 "unsupported Unicode escape sequence"). backfill_enrichment_capture asks this
-- before it reads a document, so the snapshot rule turns such a session into a
-- 'row_error' reject (shape 'unreadable') and no statement of the backfill or of
-- validation fails on it.
-- An escaped backslash before it ("\\u0000": a backslash, then the letters) is text, not
-- an escape, and does not count. NULL gives false.
-- Cost: one substring search of the JSON text; the regular expression runs only on the
-- rare document that contains the six characters at all.
-- Locks: none (reads nothing). Inlined (LANGUAGE sql, one expression).
CREATE OR REPLACE FUNCTION backfill_enrichment_unreadable(p_enrichment json)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
SELECT COALESCE(strpos(p_enrichment::text, '\u0000') > 0
                AND p_enrichment::text ~ '(^|[^\\])(\\\\)*\\u0000', false)
$fn$;
