-- verify_v15_schema(): the verify step of sql/rollback/v16_to_v15.sql (also called at the end
-- of rollback_v16_to_v15()). Raises (fails loudly) unless: session_summaries and schema_state
-- exist, session_summaries has none of the v16 columns (source_ip, snapshot_asn,
-- snapshot_country, snapshot_ip_type, snapshot_ip_types, enrichment_at) nor the v16
-- constraints, ip_asn_history / ip_inventory / asn_inventory do not exist, and
-- schema_state.schema_version is '15'.
-- Locks: ACCESS SHARE on schema_state (reads the version).
CREATE OR REPLACE FUNCTION verify_v15_schema()
RETURNS text
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_problems text[] := '{}';
    v_cols     text;
    v_tables   text;
    v_cons     text;
    v_version  text;
BEGIN
    IF to_regclass('session_summaries') IS NULL THEN
        v_problems := v_problems || 'session_summaries is missing'::text;
    ELSE
        SELECT string_agg(a.attname, ', ') INTO v_cols
          FROM pg_attribute a
         WHERE a.attrelid = 'session_summaries'::regclass AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attname IN ('source_ip', 'snapshot_asn', 'snapshot_country', 'snapshot_ip_type',
                             'snapshot_ip_types', 'enrichment_at');
        IF v_cols IS NOT NULL THEN
            v_problems := v_problems || ('session_summaries still has v16 column(s) ' || v_cols);
        END IF;
        SELECT string_agg(c.conname, ', ') INTO v_cons
          FROM pg_constraint c
         WHERE c.conrelid = 'session_summaries'::regclass
           AND c.conname IN (SELECT x.constraint_name FROM expected_constraints() x);
        IF v_cons IS NOT NULL THEN
            v_problems := v_problems || ('session_summaries still has v16 constraint(s) ' || v_cons);
        END IF;
    END IF;
    SELECT string_agg(t, ', ') INTO v_tables
      FROM unnest(ARRAY['ip_asn_history', 'ip_inventory', 'asn_inventory']) t
     WHERE to_regclass(format('%I', t)) IS NOT NULL;
    IF v_tables IS NOT NULL THEN
        v_problems := v_problems || ('v16 table(s) still present: ' || v_tables);
    END IF;
    IF to_regclass('schema_state') IS NULL THEN
        v_problems := v_problems || 'schema_state is missing'::text;
    ELSE
        SELECT value INTO v_version FROM schema_state WHERE key = 'schema_version';
        IF v_version IS DISTINCT FROM '15' THEN
            v_problems := v_problems || format('schema_state.schema_version is %s, expected 15', coalesce(v_version, 'absent'));
        END IF;
    END IF;
    IF cardinality(v_problems) > 0 THEN
        RAISE EXCEPTION 'VERIFY FAILED: the database is not at the v15 schema: %', array_to_string(v_problems, '; ')
            USING ERRCODE = 'data_exception';
    END IF;
    RETURN 'verified: v15 schema (no v16 tables, columns or constraints; schema_version 15)';
END
$fn$;
