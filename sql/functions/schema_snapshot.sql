-- schema_snapshot(schema, exclude): a jsonb description of the schema objects `cowrie-db check`
-- compares: every ordinary/partitioned table of the schema except p_exclude (pgmigrations by
-- default; that is the upstream tables plus cowrie-db's own), with
--   columns:     type (format_type), not_null, default (pg_get_expr, only for NON-generated
--                columns), generated ('' plain, 's' stored, 'v' virtual: pg_attribute.attgenerated),
--                generation_expression (pg_get_expr, only for generated columns), identity,
--                ordinal (attnum; column order is informative only)
--   constraints: primary key / unique / check / foreign key / exclusion (NOT NULL constraints of
--                PostgreSQL 18 are left out: columns.not_null says it), with type (contype),
--                definition (pg_get_constraintdef without its " NOT VALID" suffix),
--                validated (convalidated)
--   indexes:     definition (pg_get_indexdef with the "CREATE INDEX name ON schema.table " prefix
--                removed: 'USING btree (source_ip)'), unique, primary, valid (indisvalid),
--                full (pg_get_indexdef without the schema name)
--   rows (pg_class.reltuples estimate) and bytes (pg_total_relation_size): facts, not schema
-- plus schema_version (schema_state.schema_version, or null), server_version_num, schema.
-- Keys whose value is null are left out (jsonb_strip_nulls): a column without a default has
-- no "default" key, a plain column no "generation_expression"; schema_version is always there.
-- p_facts = false leaves out ordinal, rows, bytes and server_version_num, so two snapshots of
-- the same schema are equal (used by the pgTAP tests: "final schema equals the expected one").
-- The expected schema is the schema_snapshot() of a scratch database built by the migrations;
-- the live one is compared with it (the TypeScript diff). Deparsed text (expressions,
-- definitions) is produced with search_path = p_schema so names are not schema-qualified.
-- Locks: none beyond catalog reads (ACCESS SHARE on schema_state to read the version).
CREATE OR REPLACE FUNCTION schema_snapshot(
    p_schema  text   DEFAULT current_schema(),   -- evaluated in the caller's context
    p_exclude text[] DEFAULT ARRAY['pgmigrations'],
    p_facts   boolean DEFAULT true)   -- false: leave out ordinal, rows, bytes (pure schema)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
DECLARE
    v_schema  text := p_schema;
    v_tables  jsonb;
    v_version text;
BEGIN
    IF v_schema IS NULL THEN
        RAISE EXCEPTION 'schema_snapshot: no current schema; pass p_schema';
    END IF;
    PERFORM set_config('search_path', format('%I', v_schema), true);

    SELECT coalesce(jsonb_object_agg(t.relname, jsonb_build_object(
               'columns', (
                   SELECT coalesce(jsonb_object_agg(a.attname, jsonb_build_object(
                              'ordinal', CASE WHEN p_facts THEN a.attnum END,
                              'type', format_type(a.atttypid, a.atttypmod),
                              'not_null', a.attnotnull,
                              'default', CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
                              'generated', a.attgenerated::text,
                              'generation_expression', CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END,
                              'identity', a.attidentity::text)), '{}'::jsonb)
                     FROM pg_attribute a
                     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                    WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped),
               'constraints', (
                   SELECT coalesce(jsonb_object_agg(c.conname, jsonb_build_object(
                              'type', c.contype::text,
                              'definition', regexp_replace(pg_get_constraintdef(c.oid), ' NOT VALID$', ''),
                              'validated', c.convalidated)), '{}'::jsonb)
                     FROM pg_constraint c
                    WHERE c.conrelid = t.oid AND c.contype IN ('p', 'u', 'c', 'f', 'x')),
               'indexes', (
                   SELECT coalesce(jsonb_object_agg(ic.relname, jsonb_build_object(
                              'definition', regexp_replace(pg_get_indexdef(ix.indexrelid),
                                                           '^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ ', ''),
                              'full', replace(replace(pg_get_indexdef(ix.indexrelid),
                                                      ' ON ONLY ' || quote_ident(v_schema) || '.', ' ON ONLY '),
                                              ' ON ' || quote_ident(v_schema) || '.', ' ON '),
                              'unique', ix.indisunique,
                              'primary', ix.indisprimary,
                              'valid', ix.indisvalid)), '{}'::jsonb)
                     FROM pg_index ix JOIN pg_class ic ON ic.oid = ix.indexrelid
                    WHERE ix.indrelid = t.oid),
               'rows', CASE WHEN p_facts THEN greatest(t.reltuples, 0)::bigint END,
               'bytes', CASE WHEN p_facts THEN pg_total_relation_size(t.oid) END)), '{}'::jsonb)
      INTO v_tables
      FROM pg_class t
      JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE n.nspname = v_schema AND t.relkind IN ('r', 'p')
       AND t.relname <> ALL (coalesce(p_exclude, '{}'));

    IF to_regclass(format('%I.schema_state', v_schema)) IS NOT NULL THEN
        EXECUTE format('SELECT value FROM %I.schema_state WHERE key = %L', v_schema, 'schema_version')
           INTO v_version;
    END IF;

    RETURN jsonb_strip_nulls(jsonb_build_object(
        'schema', v_schema,
        'server_version_num', CASE WHEN p_facts THEN current_setting('server_version_num')::int END,
        'schema_version', v_version,
        'tables', v_tables)) || jsonb_build_object('schema_version', v_version);
END
$fn$;
