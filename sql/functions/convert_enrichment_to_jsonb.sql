-- convert_enrichment_to_jsonb(table): the OPT-IN repair that turns the upstream ORM's
-- `enrichment json` of asn_inventory / ip_inventory into jsonb (what migration 002 creates).
-- json is accepted as it is (the generated columns and the backfill read it); jsonb is smaller
-- to query and can be indexed. cowrie-db migrate runs this only with --convert-jsonb.
-- One ALTER TABLE: DROP DEFAULT, drop the STORED generated columns that read enrichment (a
-- column used by a generated column cannot change type), ALTER TYPE jsonb USING enrichment::jsonb,
-- SET DEFAULT '{}'::jsonb, add the generated columns back with their expressions; then the
-- indexes that were on them are re-created with their definitions. Values: every json value
-- converts (jsonb keeps the last of duplicate keys and drops insignificant whitespace; key
-- order is not kept). A view over an affected column stops it before anything changes.
-- Returns what it did, one line per statement. Errors: 22023 (not an enrichment json column),
-- 55000 (a view depends on it; DETAIL names them).
-- Locks: ACCESS EXCLUSIVE on the table (lock_table_with_retry) and REWRITES THE TABLE once.
CREATE OR REPLACE FUNCTION convert_enrichment_to_jsonb(p_table text)
RETURNS SETOF text
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_rel     regclass := to_regclass(format('%I', p_table));
    v_att     smallint;
    v_gen     record;
    v_parts   text[] := '{}';
    v_adds    text[] := '{}';
    v_idx     text[] := '{}';
    v_views   text;
    v_stmt    text;
    i         text;
BEGIN
    IF p_table IS NULL OR p_table NOT IN ('asn_inventory', 'ip_inventory') OR v_rel IS NULL THEN
        RAISE EXCEPTION 'convert_enrichment_to_jsonb: % is not asn_inventory or ip_inventory (or does not exist)', coalesce(p_table, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM lock_table_with_retry(p_table, 'ACCESS EXCLUSIVE');
    SELECT a.attnum INTO v_att FROM pg_attribute a
     WHERE a.attrelid = v_rel AND a.attname = 'enrichment' AND NOT a.attisdropped;
    IF v_att IS NULL THEN
        RAISE EXCEPTION 'convert_enrichment_to_jsonb: %.enrichment does not exist', p_table
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (SELECT a.atttypid FROM pg_attribute a WHERE a.attrelid = v_rel AND a.attnum = v_att) = 'jsonb'::regtype THEN
        RETURN NEXT format('%s.enrichment is already jsonb', p_table);
        RETURN;
    END IF;
    IF (SELECT a.atttypid FROM pg_attribute a WHERE a.attrelid = v_rel AND a.attnum = v_att) <> 'json'::regtype THEN
        RAISE EXCEPTION 'convert_enrichment_to_jsonb: %.enrichment is neither json nor jsonb', p_table
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    v_parts := v_parts || 'ALTER COLUMN enrichment DROP DEFAULT'::text;
    FOR v_gen IN
        SELECT a.attnum, a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS typ,
               pg_get_expr(d.adbin, d.adrelid) AS expr
          FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = v_rel AND a.attgenerated = 's' AND NOT a.attisdropped
           AND EXISTS (SELECT 1 FROM pg_depend dp      -- the generation expression reads enrichment
                        WHERE dp.classid = 'pg_attrdef'::regclass AND dp.objid = d.oid
                          AND dp.refclassid = 'pg_class'::regclass AND dp.refobjid = v_rel AND dp.refobjsubid = v_att)
         ORDER BY a.attnum
    LOOP
        v_parts := v_parts || format('DROP COLUMN %I', v_gen.name);
        v_adds := v_adds || format('ADD COLUMN %I %s GENERATED ALWAYS AS (%s) STORED', v_gen.name, v_gen.typ, v_gen.expr);
        v_idx := v_idx || ARRAY(
            SELECT pg_get_indexdef(ix.indexrelid) FROM pg_index ix
             WHERE ix.indrelid = v_rel
               AND EXISTS (SELECT 1 FROM pg_depend dp
                            WHERE dp.classid = 'pg_class'::regclass AND dp.objid = ix.indexrelid
                              AND dp.refobjid = v_rel AND dp.refobjsubid = v_gen.attnum)
             ORDER BY ix.indexrelid);
        SELECT string_agg(DISTINCT r.ev_class::regclass::text, ', ') INTO v_views
          FROM pg_depend dp JOIN pg_rewrite r ON r.oid = dp.objid
         WHERE dp.classid = 'pg_rewrite'::regclass AND dp.refobjid = v_rel
           AND dp.refobjsubid = v_gen.attnum AND r.ev_class <> v_rel;
        EXIT WHEN v_views IS NOT NULL;
    END LOOP;
    IF v_views IS NULL THEN
        SELECT string_agg(DISTINCT r.ev_class::regclass::text, ', ') INTO v_views
          FROM pg_depend dp JOIN pg_rewrite r ON r.oid = dp.objid
         WHERE dp.classid = 'pg_rewrite'::regclass AND dp.refobjid = v_rel
           AND dp.refobjsubid = v_att AND r.ev_class <> v_rel;
    END IF;
    IF v_views IS NOT NULL THEN
        RAISE EXCEPTION 'convert_enrichment_to_jsonb: view(s) depend on %.enrichment or its generated columns', p_table
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = 'views: ' || v_views,
                  HINT = 'Drop them (cowrie-db migrate re-creates its own views), then run it again. Nothing was changed.';
    END IF;
    v_parts := v_parts || 'ALTER COLUMN enrichment TYPE jsonb USING enrichment::jsonb'::text
                       || $s$ALTER COLUMN enrichment SET DEFAULT '{}'::jsonb$s$::text
                       || v_adds;
    v_stmt := format('ALTER TABLE %I %s', p_table, array_to_string(v_parts, ', '));
    EXECUTE v_stmt;
    RETURN NEXT v_stmt;
    FOREACH i IN ARRAY v_idx LOOP
        EXECUTE i;
        RETURN NEXT i;
    END LOOP;
END
$fn$;
