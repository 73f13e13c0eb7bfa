-- 10_schema: the schema the migrations build, stated independently of the SQL that builds it
-- (the literal expectations below come from the upstream schema in DOMAIN.md, so a wrong edit
-- to sql/functions/expected_*.sql or to a migration fails here): every table, column type,
-- nullability, default, generated column (STORED, with its expression), CHECK, FK, index;
-- schema_version; and that the repair plan is empty on a freshly built database.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(103);

-- type, nullability, default, generated kind of one column, as one comparable line
CREATE FUNCTION pg_temp.coldesc(p_table text, p_column text) RETURNS text LANGUAGE sql AS $$
    SELECT format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE ' NULL' END
           || CASE a.attgenerated WHEN 's' THEN ' GENERATED STORED'
                                  WHEN 'v' THEN ' GENERATED VIRTUAL'
                                  ELSE coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') END
      FROM pg_attribute a
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = to_regclass(p_table) AND a.attname = p_column AND NOT a.attisdropped
$$;

-- tables (5) and their exact column sets (5)
SELECT has_table(t) FROM unnest(ARRAY['schema_state', 'session_summaries', 'asn_inventory', 'ip_inventory', 'ip_asn_history']) t;
SELECT columns_are('schema_state', ARRAY['key', 'value']);
SELECT columns_are('session_summaries', ARRAY['session_id', 'first_event_at', 'last_event_at', 'event_count',
    'command_count', 'file_downloads', 'login_attempts', 'ssh_key_injections', 'unique_ssh_keys', 'vt_flagged',
    'dshield_flagged', 'risk_score', 'matcher', 'source_files', 'enrichment', 'created_at', 'updated_at',
    'source_ip', 'snapshot_asn', 'snapshot_country', 'snapshot_ip_type', 'enrichment_at']);
SELECT columns_are('asn_inventory', ARRAY['asn_number', 'organization_name', 'organization_country', 'rir_registry',
    'asn_type', 'is_known_hosting', 'is_known_vpn', 'first_seen', 'last_seen', 'unique_ip_count',
    'total_session_count', 'enrichment', 'enrichment_updated_at', 'created_at', 'updated_at']);
SELECT columns_are('ip_inventory', ARRAY['ip_address', 'current_asn', 'asn_last_verified', 'first_seen', 'last_seen',
    'session_count', 'enrichment', 'enrichment_updated_at', 'enrichment_version', 'geo_country', 'ip_types',
    'is_scanner', 'is_bogon', 'created_at', 'updated_at']);
SELECT columns_are('ip_asn_history', ARRAY['ip_address', 'asn_number', 'observed_at']);

-- every column: type, nullability, default / generated (57)
SELECT is(pg_temp.coldesc(t, c), want, format('%s.%s is %s', t, c, want))
  FROM (VALUES
    (1,  'schema_state', 'key',   'character varying(128) NOT NULL'),
    (2,  'schema_state', 'value', 'character varying(256) NOT NULL'),
    (3,  'session_summaries', 'session_id',         'character varying(64) NOT NULL'),
    (4,  'session_summaries', 'first_event_at',     'timestamp with time zone NULL'),
    (5,  'session_summaries', 'last_event_at',      'timestamp with time zone NULL'),
    (6,  'session_summaries', 'event_count',        'integer NOT NULL DEFAULT 0'),
    (7,  'session_summaries', 'command_count',      'integer NOT NULL DEFAULT 0'),
    (8,  'session_summaries', 'file_downloads',     'integer NOT NULL DEFAULT 0'),
    (9,  'session_summaries', 'login_attempts',     'integer NOT NULL DEFAULT 0'),
    (10, 'session_summaries', 'ssh_key_injections', 'integer NOT NULL DEFAULT 0'),
    (11, 'session_summaries', 'unique_ssh_keys',    'integer NOT NULL DEFAULT 0'),
    (12, 'session_summaries', 'vt_flagged',         'boolean NULL DEFAULT false'),
    (13, 'session_summaries', 'dshield_flagged',    'boolean NULL DEFAULT false'),
    (14, 'session_summaries', 'risk_score',         'integer NULL'),
    (15, 'session_summaries', 'matcher',            'character varying(32) NULL'),
    (16, 'session_summaries', 'source_files',       'json NULL'),
    (17, 'session_summaries', 'enrichment',         'json NULL'),
    (18, 'session_summaries', 'created_at',         'timestamp with time zone NOT NULL DEFAULT now()'),
    (19, 'session_summaries', 'updated_at',         'timestamp with time zone NOT NULL DEFAULT now()'),
    (20, 'session_summaries', 'source_ip',          'character varying(45) NULL'),
    (21, 'session_summaries', 'snapshot_asn',       'integer NULL'),
    (22, 'session_summaries', 'snapshot_country',   'character varying(2) NULL'),
    (23, 'session_summaries', 'snapshot_ip_type',   'text NULL'),
    (24, 'session_summaries', 'enrichment_at',      'timestamp with time zone NULL'),
    (25, 'asn_inventory', 'asn_number',            'integer NOT NULL'),
    (26, 'asn_inventory', 'organization_name',     'text NULL'),
    (27, 'asn_inventory', 'organization_country',  'character varying(2) NULL'),
    (28, 'asn_inventory', 'rir_registry',          'character varying(10) NULL'),
    (29, 'asn_inventory', 'asn_type',              'text NULL'),
    (30, 'asn_inventory', 'is_known_hosting',      'boolean NOT NULL DEFAULT false'),
    (31, 'asn_inventory', 'is_known_vpn',          'boolean NOT NULL DEFAULT false'),
    (32, 'asn_inventory', 'first_seen',            'timestamp with time zone NOT NULL'),
    (33, 'asn_inventory', 'last_seen',             'timestamp with time zone NOT NULL'),
    (34, 'asn_inventory', 'unique_ip_count',       'integer NOT NULL DEFAULT 0'),
    (35, 'asn_inventory', 'total_session_count',   'integer NOT NULL DEFAULT 0'),
    (36, 'asn_inventory', 'enrichment',            $$jsonb NOT NULL DEFAULT '{}'::jsonb$$),
    (37, 'asn_inventory', 'enrichment_updated_at', 'timestamp with time zone NULL'),
    (38, 'asn_inventory', 'created_at',            'timestamp with time zone NOT NULL DEFAULT now()'),
    (39, 'asn_inventory', 'updated_at',            'timestamp with time zone NOT NULL DEFAULT now()'),
    (40, 'ip_inventory', 'ip_address',            'character varying(45) NOT NULL'),
    (41, 'ip_inventory', 'current_asn',           'integer NULL'),
    (42, 'ip_inventory', 'asn_last_verified',     'timestamp with time zone NULL'),
    (43, 'ip_inventory', 'first_seen',            'timestamp with time zone NOT NULL'),
    (44, 'ip_inventory', 'last_seen',             'timestamp with time zone NOT NULL'),
    (45, 'ip_inventory', 'session_count',         'integer NOT NULL DEFAULT 0'),
    (46, 'ip_inventory', 'enrichment',            $$jsonb NOT NULL DEFAULT '{}'::jsonb$$),
    (47, 'ip_inventory', 'enrichment_updated_at', 'timestamp with time zone NULL'),
    (48, 'ip_inventory', 'enrichment_version',    'character varying(10) NULL'),
    (49, 'ip_inventory', 'geo_country',           'character varying(2) NULL GENERATED STORED'),
    (50, 'ip_inventory', 'ip_types',              $$text[] NOT NULL DEFAULT '{}'::text[]$$),
    (51, 'ip_inventory', 'is_scanner',            'boolean NULL GENERATED STORED'),
    (52, 'ip_inventory', 'is_bogon',              'boolean NULL GENERATED STORED'),
    (53, 'ip_inventory', 'created_at',            'timestamp with time zone NOT NULL DEFAULT now()'),
    (54, 'ip_inventory', 'updated_at',            'timestamp with time zone NOT NULL DEFAULT now()'),
    (55, 'ip_asn_history', 'ip_address',  'character varying(45) NOT NULL'),
    (56, 'ip_asn_history', 'asn_number',  'integer NOT NULL'),
    (57, 'ip_asn_history', 'observed_at', 'timestamp with time zone NOT NULL')
  ) AS v(ord, t, c, want)
 ORDER BY ord;

-- generated columns: STORED with the exact expressions (3)
SELECT tap_col_is_generated_stored('ip_inventory', 'geo_country',
    $$upper(COALESCE(enrichment -> 'maxmind' ->> 'country', enrichment -> 'cymru' ->> 'country',
                     enrichment -> 'dshield' -> 'ip' ->> 'ascountry', 'XX'))$$);
SELECT tap_col_is_generated_stored('ip_inventory', 'is_scanner',
    $$COALESCE((enrichment -> 'greynoise' ->> 'noise')::boolean, false)$$);
SELECT tap_col_is_generated_stored('ip_inventory', 'is_bogon',
    $$COALESCE((enrichment -> 'validation' ->> 'is_bogon')::boolean, false)$$);

-- and they compute what they should (1)
INSERT INTO ip_inventory (ip_address, first_seen, last_seen, enrichment) VALUES
    ('192.0.2.1', now(), now(), '{"maxmind": {"country": "de"}, "cymru": {"country": "FR"}, "greynoise": {"noise": true}}'),
    ('192.0.2.2', now(), now(), '{"cymru": {"country": "fr"}, "validation": {"is_bogon": true}}'),
    ('192.0.2.3', now(), now(), '{"dshield": {"ip": {"ascountry": "cn"}}, "greynoise": {"noise": false}}'),
    ('192.0.2.4', now(), now(), '{}');
SELECT results_eq(
    $$SELECT ip_address::text, geo_country::text, is_scanner, is_bogon FROM ip_inventory WHERE ip_address LIKE '192.0.2.%' ORDER BY 1$$,
    $$VALUES ('192.0.2.1', 'DE', true, false), ('192.0.2.2', 'FR', false, true),
             ('192.0.2.3', 'CN', false, false), ('192.0.2.4', 'XX', false, false)$$,
    'generated columns: country fallback maxmind > cymru > dshield > XX (upper-cased), scanner and bogon flags');

-- primary keys (5)
SELECT col_is_pk('schema_state', 'key');
SELECT col_is_pk('session_summaries', 'session_id');
SELECT col_is_pk('asn_inventory', 'asn_number');
SELECT col_is_pk('ip_inventory', 'ip_address');
SELECT col_is_pk('ip_asn_history', ARRAY['ip_address', 'asn_number', 'observed_at']);

-- foreign keys (4) and the CHECK / FK constraints by name, all validated (1)
SELECT fk_ok('session_summaries', 'source_ip', 'ip_inventory', 'ip_address');
SELECT fk_ok('ip_inventory', 'current_asn', 'asn_inventory', 'asn_number');
SELECT fk_ok('ip_asn_history', 'ip_address', 'ip_inventory', 'ip_address');
SELECT fk_ok('ip_asn_history', 'asn_number', 'asn_inventory', 'asn_number');
SELECT is(
    (SELECT array_agg(d ORDER BY d) FROM (
        SELECT format('%s.%s %s %s', conrelid::regclass, conname, contype,
                      CASE WHEN convalidated THEN 'valid' ELSE 'NOT VALID' END) AS d
       FROM pg_constraint
      WHERE contype IN ('c', 'f')
        AND conrelid IN ('session_summaries'::regclass, 'asn_inventory'::regclass,
                         'ip_inventory'::regclass, 'ip_asn_history'::regclass)) c),
    ARRAY['asn_inventory.asn_inventory_asn_number_check c valid',
          'ip_asn_history.fk_ip_asn_history_asn_number f valid',
          'ip_asn_history.fk_ip_asn_history_ip_address f valid',
          'ip_inventory.fk_ip_inventory_current_asn f valid',
          'session_summaries.ck_session_summaries_snapshot_country c valid',
          'session_summaries.fk_session_summaries_source_ip f valid'],
    'the CHECK and FOREIGN KEY constraints exist, by name, and are validated');

-- CHECK behaviour (4)
SELECT throws_ok($$INSERT INTO session_summaries (session_id, snapshot_country) VALUES ('t10-a', 'us')$$,
                 '23514', NULL, 'snapshot_country must be two upper-case letters (lower case rejected)');
SELECT throws_ok($$INSERT INTO session_summaries (session_id, snapshot_country) VALUES ('t10-b', '1X')$$,
                 '23514', NULL, 'snapshot_country must be two upper-case letters (digit rejected)');
SELECT lives_ok($$INSERT INTO session_summaries (session_id, snapshot_country) VALUES ('t10-c', 'US'), ('t10-d', NULL)$$,
                'snapshot_country accepts an ISO code or NULL');
SELECT throws_ok($$INSERT INTO asn_inventory (asn_number, first_seen, last_seen) VALUES (0, now(), now())$$,
                 '23514', NULL, 'asn_number must be > 0');

-- indexes: exact sets (4) and definitions (11)
SELECT indexes_are('session_summaries', ARRAY['session_summaries_pkey', 'ix_session_summaries_source_ip',
    'ix_session_summaries_first_event_brin', 'ix_session_summaries_last_event_brin',
    'ix_session_summaries_snapshot_asn', 'ix_session_summaries_snapshot_country']);
SELECT indexes_are('ip_inventory', ARRAY['ip_inventory_pkey', 'ix_ip_inventory_current_asn',
    'ix_ip_inventory_geo_country', 'ix_ip_inventory_is_scanner', 'ix_ip_inventory_ip_types']);
SELECT indexes_are('ip_asn_history', ARRAY['ip_asn_history_pkey', 'ix_ip_asn_history_ip_observed']);
SELECT indexes_are('asn_inventory', ARRAY['asn_inventory_pkey', 'ix_asn_inventory_country']);
SELECT is(regexp_replace(pg_get_indexdef(to_regclass(i)), ' ON \S+\.', ' ON '), want, i)
  FROM (VALUES
    (1,  'ix_session_summaries_source_ip',        'CREATE INDEX ix_session_summaries_source_ip ON session_summaries USING btree (source_ip)'),
    (2,  'ix_session_summaries_first_event_brin', 'CREATE INDEX ix_session_summaries_first_event_brin ON session_summaries USING brin (first_event_at)'),
    (3,  'ix_session_summaries_last_event_brin',  'CREATE INDEX ix_session_summaries_last_event_brin ON session_summaries USING brin (last_event_at)'),
    (4,  'ix_session_summaries_snapshot_asn',     'CREATE INDEX ix_session_summaries_snapshot_asn ON session_summaries USING btree (snapshot_asn)'),
    (5,  'ix_session_summaries_snapshot_country', 'CREATE INDEX ix_session_summaries_snapshot_country ON session_summaries USING btree (snapshot_country)'),
    (6,  'ix_ip_inventory_current_asn',           'CREATE INDEX ix_ip_inventory_current_asn ON ip_inventory USING btree (current_asn)'),
    (7,  'ix_ip_inventory_geo_country',           'CREATE INDEX ix_ip_inventory_geo_country ON ip_inventory USING btree (geo_country)'),
    (8,  'ix_ip_inventory_is_scanner',            'CREATE INDEX ix_ip_inventory_is_scanner ON ip_inventory USING btree (is_scanner)'),
    (9,  'ix_ip_inventory_ip_types',              'CREATE INDEX ix_ip_inventory_ip_types ON ip_inventory USING gin (ip_types)'),
    (10, 'ix_ip_asn_history_ip_observed',         'CREATE INDEX ix_ip_asn_history_ip_observed ON ip_asn_history USING btree (ip_address, observed_at DESC)'),
    (11, 'ix_asn_inventory_country',              'CREATE INDEX ix_asn_inventory_country ON asn_inventory USING btree (organization_country)')
  ) AS v(ord, i, want)
 ORDER BY ord;

-- schema_version (1), nothing left to repair (1), the snapshot column state (1)
SELECT is((SELECT value::text FROM schema_state WHERE key = 'schema_version'), '16', 'schema_version is 16');
SELECT is_empty('SELECT * FROM schema_repair_plan(true)', 'a freshly migrated database needs no repair');
SELECT is((SELECT state FROM snapshot_ip_type_state()), 'singular', 'the snapshot type column is snapshot_ip_type text');

SELECT * FROM finish();
ROLLBACK;
