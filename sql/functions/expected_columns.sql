-- expected_columns(): THE list of the plain columns of the cowrie-db schema (the derived
-- columns of ip_inventory are in expected_derived_columns(); session_summaries.snapshot_ip_type
-- is aligned by align_snapshot_ip_type()), with the forms real installs have that are accepted
-- as the upstream's own, not drift (see DOMAIN.md, "The schema as real installs have it"):
--   accepted_types  every type that is fine (the first is what the migrations create);
--                   json for the inventories' enrichment is accepted (the generated columns
--                   and the backfill read json as well): converting it is opt-in
--   other_names     another name for the same column (the ORM's rir_registry, the upstream
--                   v16 SQL's registry)
--   not_null / default_expression: what the migrations create (used to add a missing column;
--                   not compared: the ORM's NOT NULL flags, SERIAL asn_number and other
--                   defaults are the upstream's and left alone)
--   critical        the backfill or the snapshot queries cannot run without it
-- Extra columns (the ORM's enrichment_version, asn_last_verified, verification_source, v17's
-- ssh_key_fingerprint, ...) are never reported and never touched.
-- Used by: schema_findings(). Locks: none (constant data).
CREATE OR REPLACE FUNCTION expected_columns()
RETURNS TABLE (ordinal integer, table_name text, column_name text, accepted_types text[],
               other_names text[], not_null boolean, default_expression text, critical boolean,
               column_ddl text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT v.ordinal, v.table_name, v.column_name, v.accepted_types, v.other_names, v.not_null,
           v.default_expression, v.critical,
           format('%I %s', v.column_name, v.accepted_types[1])
           || CASE WHEN v.not_null THEN ' NOT NULL' ELSE '' END
           || coalesce(' DEFAULT ' || v.default_expression, '')
    FROM (VALUES
        (1,  'schema_state', 'key',   ARRAY['character varying(128)'], '{}'::text[], true, NULL, false),
        (2,  'schema_state', 'value', ARRAY['character varying(256)'], '{}', true, NULL, false),

        (10, 'session_summaries', 'session_id',         ARRAY['character varying(64)'], '{}', true, NULL, true),
        (11, 'session_summaries', 'first_event_at',     ARRAY['timestamp with time zone'], '{}', false, NULL, false),
        (12, 'session_summaries', 'last_event_at',      ARRAY['timestamp with time zone'], '{}', false, NULL, false),
        (13, 'session_summaries', 'event_count',        ARRAY['integer'], '{}', true, '0', false),
        (14, 'session_summaries', 'command_count',      ARRAY['integer'], '{}', true, '0', false),
        (15, 'session_summaries', 'file_downloads',     ARRAY['integer'], '{}', true, '0', false),
        (16, 'session_summaries', 'login_attempts',     ARRAY['integer'], '{}', true, '0', false),
        (17, 'session_summaries', 'ssh_key_injections', ARRAY['integer'], '{}', true, '0', false),
        (18, 'session_summaries', 'unique_ssh_keys',    ARRAY['integer'], '{}', true, '0', false),
        (19, 'session_summaries', 'vt_flagged',         ARRAY['boolean'], '{}', false, 'false', false),
        (20, 'session_summaries', 'dshield_flagged',    ARRAY['boolean'], '{}', false, 'false', false),
        (21, 'session_summaries', 'risk_score',         ARRAY['integer'], '{}', false, NULL, false),
        (22, 'session_summaries', 'matcher',            ARRAY['character varying(32)'], '{}', false, NULL, false),
        (23, 'session_summaries', 'source_files',       ARRAY['json', 'jsonb'], '{}', false, NULL, false),
        (24, 'session_summaries', 'enrichment',         ARRAY['json', 'jsonb'], '{}', false, NULL, true),
        (25, 'session_summaries', 'created_at',         ARRAY['timestamp with time zone'], '{}', true, 'now()', false),
        (26, 'session_summaries', 'updated_at',         ARRAY['timestamp with time zone'], '{}', true, 'now()', false),
        (27, 'session_summaries', 'source_ip',          ARRAY['character varying(45)'], '{}', false, NULL, true),
        (28, 'session_summaries', 'snapshot_asn',       ARRAY['integer'], '{}', false, NULL, true),
        (29, 'session_summaries', 'snapshot_country',   ARRAY['character varying(2)'], '{}', false, NULL, true),
        (30, 'session_summaries', 'enrichment_at',      ARRAY['timestamp with time zone'], '{}', false, NULL, true),

        (40, 'asn_inventory', 'asn_number',            ARRAY['integer'], '{}', true, NULL, false),
        (41, 'asn_inventory', 'organization_name',     ARRAY['text'], '{}', false, NULL, false),
        (42, 'asn_inventory', 'organization_country',  ARRAY['character varying(2)'], '{}', false, NULL, false),
        (43, 'asn_inventory', 'rir_registry',          ARRAY['character varying(10)'], ARRAY['registry'], false, NULL, false),
        (44, 'asn_inventory', 'asn_type',              ARRAY['text'], '{}', false, NULL, false),
        (45, 'asn_inventory', 'is_known_hosting',      ARRAY['boolean'], '{}', true, 'false', false),
        (46, 'asn_inventory', 'is_known_vpn',          ARRAY['boolean'], '{}', true, 'false', false),
        (47, 'asn_inventory', 'first_seen',            ARRAY['timestamp with time zone'], '{}', true, NULL, false),
        (48, 'asn_inventory', 'last_seen',             ARRAY['timestamp with time zone'], '{}', true, NULL, false),
        (49, 'asn_inventory', 'unique_ip_count',       ARRAY['integer'], '{}', true, '0', false),
        (50, 'asn_inventory', 'total_session_count',   ARRAY['integer'], '{}', true, '0', false),
        (51, 'asn_inventory', 'enrichment',            ARRAY['jsonb', 'json'], '{}', true, $d$'{}'::jsonb$d$, false),
        (52, 'asn_inventory', 'enrichment_updated_at', ARRAY['timestamp with time zone'], '{}', false, NULL, false),
        (53, 'asn_inventory', 'created_at',            ARRAY['timestamp with time zone'], '{}', true, 'now()', false),
        (54, 'asn_inventory', 'updated_at',            ARRAY['timestamp with time zone'], '{}', true, 'now()', false),

        (60, 'ip_inventory', 'ip_address',            ARRAY['character varying(45)'], '{}', true, NULL, true),
        (61, 'ip_inventory', 'current_asn',           ARRAY['integer'], '{}', false, NULL, true),
        (62, 'ip_inventory', 'first_seen',            ARRAY['timestamp with time zone'], '{}', true, NULL, false),
        (63, 'ip_inventory', 'last_seen',             ARRAY['timestamp with time zone'], '{}', true, NULL, false),
        (64, 'ip_inventory', 'session_count',         ARRAY['integer'], '{}', true, '0', false),
        (65, 'ip_inventory', 'enrichment',            ARRAY['jsonb', 'json'], '{}', true, $d$'{}'::jsonb$d$, true),
        (66, 'ip_inventory', 'enrichment_updated_at', ARRAY['timestamp with time zone'], '{}', false, NULL, true),
        (67, 'ip_inventory', 'created_at',            ARRAY['timestamp with time zone'], '{}', true, 'now()', false),
        (68, 'ip_inventory', 'updated_at',            ARRAY['timestamp with time zone'], '{}', true, 'now()', false),

        (80, 'ip_asn_history', 'ip_address',  ARRAY['character varying(45)'], '{}', true, NULL, false),
        (81, 'ip_asn_history', 'asn_number',  ARRAY['integer'], '{}', true, NULL, false),
        (82, 'ip_asn_history', 'observed_at', ARRAY['timestamp with time zone'], '{}', true, NULL, false)
    ) AS v(ordinal, table_name, column_name, accepted_types, other_names, not_null, default_expression, critical)
    ORDER BY v.ordinal
$fn$;
