-- expected_derived_columns(): THE definition of ip_inventory's derived columns, in one place.
-- geo_country, is_scanner and is_bogon are STORED generated columns computed from the
-- enrichment jsonb; ip_types is a plain text[] column (a generated form with a subquery is
-- rejected by PostgreSQL) filled by the enrichment code. These are the columns the upstream
-- migration lost when it died half-way ("incomplete inventory").
-- Used by: migration 002 (CREATE TABLE and its completeness guard), ensure_derived_column()
-- (in-place repair), schema_repair_plan(), and the pgTAP repair tests.
-- column_type is written the way format_type() prints it, so it compares with the catalog.
-- Locks: none (constant data).
CREATE OR REPLACE FUNCTION expected_derived_columns()
RETURNS TABLE (
    ordinal               integer,
    table_name            text,
    column_name           text,
    column_type           text,
    generation_expression text,     -- NULL for a plain column
    default_expression    text,     -- NULL for a generated column
    not_null              boolean,
    column_ddl            text      -- the column definition as CREATE/ALTER TABLE takes it
)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT v.ordinal, v.table_name, v.column_name, v.column_type,
           v.generation_expression, v.default_expression, v.not_null,
           format('%I %s', v.column_name, v.column_type)
           || CASE WHEN v.generation_expression IS NOT NULL
                   THEN format(' GENERATED ALWAYS AS (%s) STORED', v.generation_expression)
                   ELSE CASE WHEN v.not_null THEN ' NOT NULL' ELSE '' END
                        || coalesce(' DEFAULT ' || v.default_expression, '')
              END
    FROM (VALUES
        (1, 'ip_inventory', 'geo_country', 'character varying(2)',
         $e$upper(COALESCE(enrichment -> 'maxmind' ->> 'country', enrichment -> 'cymru' ->> 'country', enrichment -> 'dshield' -> 'ip' ->> 'ascountry', 'XX'))$e$,
         NULL, false),
        (2, 'ip_inventory', 'ip_types', 'text[]',
         NULL, $d$'{}'::text[]$d$, true),
        (3, 'ip_inventory', 'is_scanner', 'boolean',
         $e$COALESCE((enrichment -> 'greynoise' ->> 'noise')::boolean, false)$e$,
         NULL, false),
        (4, 'ip_inventory', 'is_bogon', 'boolean',
         $e$COALESCE((enrichment -> 'validation' ->> 'is_bogon')::boolean, false)$e$,
         NULL, false)
    ) AS v(ordinal, table_name, column_name, column_type,
           generation_expression, default_expression, not_null)
    ORDER BY v.ordinal
$fn$;
