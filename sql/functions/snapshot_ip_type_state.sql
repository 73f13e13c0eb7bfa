-- snapshot_ip_type_state(): which of the field states session_summaries is in for the
-- snapshot IP type column. state is one of
--   'singular'             snapshot_ip_type text, no plural column (the expected state)
--   'singular-wrong-type'  snapshot_ip_type exists but is not text (e.g. text[]), no plural
--   'plural'               only snapshot_ip_types (plural_type says text, text[], ...)
--   'both'                 snapshot_ip_type and snapshot_ip_types both present
--   'neither'              no snapshot IP type column at all
--   'no-table'             session_summaries does not exist
-- Reads the catalog only (current search_path).
-- Locks: none.
CREATE OR REPLACE FUNCTION snapshot_ip_type_state()
RETURNS TABLE (state text, singular_type text, plural_type text)
LANGUAGE sql STABLE
AS $fn$
    WITH t AS (SELECT to_regclass('session_summaries') AS rel),
    c AS (
        SELECT max(format_type(a.atttypid, a.atttypmod)) FILTER (WHERE a.attname = 'snapshot_ip_type')  AS singular_type,
               max(format_type(a.atttypid, a.atttypmod)) FILTER (WHERE a.attname = 'snapshot_ip_types') AS plural_type
          FROM t JOIN pg_attribute a ON a.attrelid = t.rel
         WHERE a.attnum > 0 AND NOT a.attisdropped
           AND a.attname IN ('snapshot_ip_type', 'snapshot_ip_types')
    )
    SELECT CASE
               WHEN (SELECT rel FROM t) IS NULL THEN 'no-table'
               WHEN c.singular_type IS NOT NULL AND c.plural_type IS NOT NULL THEN 'both'
               WHEN c.singular_type = 'text' THEN 'singular'
               WHEN c.singular_type IS NOT NULL THEN 'singular-wrong-type'
               WHEN c.plural_type IS NOT NULL THEN 'plural'
               ELSE 'neither'
           END,
           c.singular_type, c.plural_type
      FROM c
$fn$;
