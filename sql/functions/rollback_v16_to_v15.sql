-- rollback_v16_to_v15(verify_data): takes the v16 three-tier schema back to v15 in the caller's
-- transaction, keeping every session row and its enrichment (what the upstream
-- cleanup_v16_incomplete.sql tried, done right):
--   * views that depend on the v16 tables or columns are dropped (NOTICE names them;
--     cowrie-db migrate re-creates its own views); foreign keys from other tables that
--     reference the v16 tables are dropped (NOTICE names them)
--   * the v16 constraints (expected_constraints()) and indexes (expected_indexes()) on
--     session_summaries are dropped; the v16 columns source_ip, snapshot_asn,
--     snapshot_country, enrichment_at and the snapshot type column in BOTH spellings
--     (snapshot_ip_type, snapshot_ip_types) are dropped (metadata only, no rewrite)
--   * ip_asn_history, ip_inventory, asn_inventory are dropped
--   * schema_state.schema_version is set to '15' (schema_state, not schema_metadata)
-- Works on complete, half-migrated and drifted v16 schemas (everything is IF EXISTS).
-- Verification (raises, so the whole transaction rolls back): verify_v15_schema(), and with
-- p_verify_data (default) the session row count and a fingerprint of every remaining column
-- of every session row (sum of hashtextextended of the row text, incl. enrichment), taken
-- before and after under the lock, must be equal (two scans of session_summaries).
-- Locks: ACCESS EXCLUSIVE on session_summaries, ip_asn_history, ip_inventory, asn_inventory
-- (lock_table_with_retry: lock_timeout, bounded retries), held until the transaction ends.
CREATE OR REPLACE FUNCTION rollback_v16_to_v15(p_verify_data boolean DEFAULT true)
RETURNS SETOF text
LANGUAGE plpgsql
SET lock_timeout = '5s'
AS $fn$
DECLARE
    c_v16_columns constant text[] := ARRAY['source_ip', 'snapshot_asn', 'snapshot_country',
                                           'snapshot_ip_type', 'snapshot_ip_types', 'enrichment_at'];
    c_v16_tables  constant text[] := ARRAY['ip_asn_history', 'ip_inventory', 'asn_inventory'];
    v_rel     regclass := to_regclass('session_summaries');
    v_keep    text;
    v_fp      text;
    v_before  text;
    v_after   text;
    r         record;
    t         text;
BEGIN
    IF v_rel IS NULL THEN
        RAISE EXCEPTION 'rollback_v16_to_v15: table session_summaries does not exist' USING ERRCODE = 'undefined_table';
    END IF;

    PERFORM lock_table_with_retry('session_summaries', 'ACCESS EXCLUSIVE');
    FOREACH t IN ARRAY c_v16_tables LOOP
        IF to_regclass(format('%I', t)) IS NOT NULL THEN
            PERFORM lock_table_with_retry(t, 'ACCESS EXCLUSIVE');
        END IF;
    END LOOP;
    PERFORM set_config('lock_timeout', coalesce(nullif(current_setting('cowrie_db.lock_timeout', true), ''), '2s'), true);

    -- Fingerprint of what must survive: every session row, every non-v16 column.
    SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) INTO v_keep
      FROM pg_attribute a
     WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> ALL (c_v16_columns);
    v_fp := format('SELECT count(*)::text || '':'' || coalesce(sum(hashtextextended(ROW(%s)::text, 0)::numeric), 0)::text FROM session_summaries', v_keep);
    IF p_verify_data THEN
        EXECUTE v_fp INTO v_before;
    END IF;

    -- Views depending on what goes away.
    FOR r IN
        SELECT DISTINCT rw.ev_class AS view_oid, c.relkind
          FROM pg_depend d
          JOIN pg_rewrite rw ON rw.oid = d.objid AND d.classid = 'pg_rewrite'::regclass
          JOIN pg_class c ON c.oid = rw.ev_class
          JOIN pg_class dep ON dep.oid = d.refobjid
         WHERE rw.ev_class <> d.refobjid
           AND dep.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = v_rel)
           AND ( dep.relname = ANY (c_v16_tables)
              OR (d.refobjid = v_rel AND d.refobjsubid IN (
                     SELECT a.attnum FROM pg_attribute a WHERE a.attrelid = v_rel AND a.attname = ANY (c_v16_columns))))
    LOOP
        IF to_regclass(r.view_oid::regclass::text) IS NOT NULL THEN
            EXECUTE format('DROP %s IF EXISTS %s CASCADE',
                           CASE WHEN r.relkind = 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END, r.view_oid::regclass);
            RETURN NEXT format('dropped view %s (depends on the v16 schema)', r.view_oid::regclass);
        END IF;
    END LOOP;

    -- Foreign keys from other tables into the v16 tables.
    FOR r IN
        SELECT c.conname, c.conrelid::regclass AS tbl
          FROM pg_constraint c JOIN pg_class ref ON ref.oid = c.confrelid
         WHERE c.contype = 'f' AND ref.relname = ANY (c_v16_tables)
           AND ref.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = v_rel)
           AND (SELECT relname FROM pg_class WHERE oid = c.conrelid) <> ALL (c_v16_tables)
           AND c.conrelid <> v_rel
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.conname);
        RETURN NEXT format('dropped foreign key %s on %s (references a v16 table)', r.conname, r.tbl);
    END LOOP;

    FOR r IN SELECT x.constraint_name FROM expected_constraints() x WHERE x.table_name = 'session_summaries' LOOP
        IF EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = v_rel AND c.conname = r.constraint_name) THEN
            EXECUTE format('ALTER TABLE session_summaries DROP CONSTRAINT %I', r.constraint_name);
            RETURN NEXT format('dropped constraint %s', r.constraint_name);
        END IF;
    END LOOP;
    FOR r IN SELECT x.index_name FROM expected_indexes() x WHERE x.table_name = 'session_summaries' LOOP
        IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                    WHERE i.indrelid = v_rel AND ic.relname = r.index_name) THEN
            EXECUTE format('DROP INDEX %I', r.index_name);
            RETURN NEXT format('dropped index %s', r.index_name);
        END IF;
    END LOOP;
    FOR r IN SELECT a.attname FROM pg_attribute a
              WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY (c_v16_columns)
              ORDER BY a.attnum LOOP
        EXECUTE format('ALTER TABLE session_summaries DROP COLUMN %I', r.attname);
        RETURN NEXT format('dropped column session_summaries.%s', r.attname);
    END LOOP;
    FOREACH t IN ARRAY c_v16_tables LOOP
        IF to_regclass(format('%I', t)) IS NOT NULL THEN
            EXECUTE format('DROP TABLE %I', t);
            RETURN NEXT format('dropped table %s', t);
        END IF;
    END LOOP;

    IF to_regclass('schema_state') IS NOT NULL THEN
        INSERT INTO schema_state (key, value) VALUES ('schema_version', '15')
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
        RETURN NEXT 'schema_state.schema_version = 15';
    END IF;

    RETURN NEXT verify_v15_schema();
    IF p_verify_data THEN
        EXECUTE v_fp INTO v_after;
        IF v_after IS DISTINCT FROM v_before THEN
            RAISE EXCEPTION 'VERIFY FAILED: session rows changed during the rollback (count:fingerprint before %, after %)',
                            v_before, v_after USING ERRCODE = 'data_exception';
        END IF;
        RETURN NEXT format('verified: %s session rows and their columns (incl. enrichment) unchanged', split_part(v_after, ':', 1));
    END IF;
END
$fn$;
