-- schema_findings(p_concurrently): THE definition of schema drift. One row per finding: how
-- the live schema differs from the expected one (expected_tables(), expected_columns(),
-- expected_derived_columns(), expected_constraints(), expected_indexes(), the snapshot type
-- column of align_snapshot_ip_type()), what fixes it, the lock the fix takes and whether it
-- rewrites the table, and whether cowrie-db migrate repairs it:
--   repair 'auto'    migrate runs run_sql (run_sql NULL: a pending migration does it)
--          'opt-in'  only with the flag named in opt_in (drop-duplicates, convert-jsonb)
--          'manual'  not automatic; manual_step says why and what the DBA must do
--          'none'    information only (e.g. schema_version above 16, the upstream's)
-- cowrie-db check prints these rows, migrate --dry-run prints the auto/opt-in ones as its plan
-- and the others as what it will not do, migrate runs them (schema_repair_plan()), validate's
-- schema.drift check reports them; from psql: SELECT * FROM schema_findings();
--
-- Real installs mix three vocabularies (the upstream ORM's, its v16 SQL's, ours): an object
-- that does the job under another name satisfies the expectation (schema_constraint_matches(),
-- schema_index_matches()); a NOT VALID equivalent is validated; objects that exist twice are
-- reported by schema_duplicates() (removing one is opt-in); the ORM's column forms
-- (rir_registry, SERIAL asn_number, NOT NULL flags, defaults, extra columns) are accepted;
-- json enrichment in the inventories is accepted (jsonb conversion opt-in); a schema_version
-- above 16 is the upstream's and never written down. Tables that are not in expected_tables()
-- are never looked at.
--
-- Severity: CRITICAL the backfill or the snapshot queries cannot run (cowrie-db check exits
-- 2); ERROR a part of the schema is missing or wrong (exit 1); WARNING works but costs or
-- risks something (missing index, NOT VALID constraint, duplicates); INFO for information.
-- step orders the rows as the repairs must run. p_concurrently: index statements as
-- CREATE/DROP INDEX CONCURRENTLY (run alone, outside a transaction: concurrently = true).
-- Read-only: works in a READ ONLY transaction, needs no CREATEDB and no temporary table.
-- Locks: ACCESS SHARE on the expected tables (a constraint that must be added or validated
-- has its violating rows counted: a scan of that table).
CREATE OR REPLACE FUNCTION schema_findings(p_concurrently boolean DEFAULT true)
RETURNS TABLE (step integer, finding_id text, severity text, kind text, table_name text,
               object_name text, expected text, actual text, message text, fix text,
               lock_mode text, rewrites_table boolean, table_bytes bigint, repair text,
               opt_in text, run_sql text, "concurrently" boolean, manual_step text)
LANGUAGE sql STABLE
SET jit = off   -- a plan of many function scans looks expensive: JIT would compile it for longer than it runs
AS $fn$
WITH
tabs AS (
    SELECT e.*, to_regclass(format('%I', e.table_name)) AS rel FROM expected_tables() e
),
-- 1. tables
f_tables(sec, ord, sub, finding_id, severity, kind, table_name, object_name, expected, actual, message, fix, lock_mode, rewrites_table, repair, opt_in, run_sql, conc, manual_step) AS (
    SELECT 1 AS sec, t.ordinal AS ord, 0::bigint AS sub, 'table:' || t.table_name AS finding_id,
           CASE WHEN t.critical THEN 'CRITICAL' ELSE 'ERROR' END AS severity, 'missing_table' AS kind,
           t.table_name, t.table_name AS object_name, 'table ' || t.table_name AS expected, 'missing' AS actual,
           format('table %s is missing', t.table_name) AS message,
           format('cowrie-db migrate (migration %s creates it)', t.created_by) AS fix,
           'none' AS lock_mode, false AS rewrites_table,
           CASE WHEN schema_migration_applied(t.created_by) THEN 'manual' ELSE 'auto' END AS repair,
           NULL::text AS opt_in, NULL::text AS run_sql, false AS conc,
           CASE WHEN schema_migration_applied(t.created_by) THEN
               format('migration %s is recorded as applied but table %s is gone: restore it from a backup, or (for a '
                      'v16 table) roll back to v15 (cowrie-db rollback v16-to-v15 --yes) and run cowrie-db migrate again',
                      t.created_by, t.table_name) END AS manual_step
      FROM tabs t WHERE t.rel IS NULL
),
-- 2. the snapshot type column (plural, both, neither, wrong type)
f_align(sec, ord, sub, finding_id, severity, kind, table_name, object_name, expected, actual, message, fix, lock_mode, rewrites_table, repair, opt_in, run_sql, conc, manual_step) AS (
    SELECT 2, 0, row_number() OVER (), 'snapshot_ip_type:' || a.action,
           'CRITICAL',
           CASE (SELECT s.state FROM snapshot_ip_type_state() s)
               WHEN 'plural' THEN 'renamed_column' WHEN 'both' THEN 'rename_leftover'
               WHEN 'neither' THEN 'missing_column' ELSE 'column_type' END,
           'session_summaries', 'snapshot_ip_type', 'snapshot_ip_type text',
           (SELECT coalesce(nullif(concat_ws(' and ', 'snapshot_ip_type ' || s.singular_type, 'snapshot_ip_types ' || s.plural_type), ''),
                            'neither snapshot_ip_type nor snapshot_ip_types')
              FROM snapshot_ip_type_state() s),
           (SELECT format('session_summaries has %s where the code expects snapshot_ip_type text: every snapshot query fails (%s)',
                          coalesce(nullif(concat_ws(' and ', 'snapshot_ip_type ' || s.singular_type, 'snapshot_ip_types ' || s.plural_type), ''),
                                   'neither snapshot_ip_type nor snapshot_ip_types'), a.message)
              FROM snapshot_ip_type_state() s),
           a.statement, a.lock_mode, coalesce(a.rewrites_table, false),
           CASE WHEN a.blocker IS NULL THEN 'auto' ELSE 'manual' END, NULL::text,
           'SELECT * FROM align_snapshot_ip_type()', false, a.blocker
      FROM align_snapshot_ip_type(p_apply => false) a
     WHERE (SELECT s.state FROM snapshot_ip_type_state() s) <> 'no-table' AND a.action <> 'none'
),
-- 3. ip_inventory's derived columns (generated geo_country, is_scanner, is_bogon; plain ip_types)
f_derived(sec, ord, sub, finding_id, severity, kind, table_name, object_name, expected, actual, message, fix, lock_mode, rewrites_table, repair, opt_in, run_sql, conc, manual_step) AS (
    SELECT 3, d.ordinal, 0::bigint, 'column:' || d.table_name || '.' || d.column_name,
           CASE WHEN x.action = 'alter_column' THEN 'ERROR' ELSE 'CRITICAL' END,
           CASE x.action WHEN 'add_generated_column' THEN 'missing_column' WHEN 'add_column' THEN 'missing_column'
                         WHEN 'set_expression' THEN 'generation_expression' WHEN 'replace_expression' THEN 'generation_expression'
                         WHEN 'replace_with_generated' THEN 'generated_missing' ELSE 'column_definition' END,
           d.table_name, d.column_name, d.column_ddl,
           coalesce((SELECT format_type(a.atttypid, a.atttypmod)
                            || CASE a.attgenerated WHEN 's' THEN ' GENERATED ALWAYS AS (' || pg_get_expr(ad.adbin, ad.adrelid) || ') STORED'
                                                   WHEN 'v' THEN ' GENERATED ALWAYS AS (' || pg_get_expr(ad.adbin, ad.adrelid) || ') VIRTUAL'
                                                   ELSE CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
                                                        || coalesce(' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid), '') END
                       FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                      WHERE a.attrelid = to_regclass(format('%I', d.table_name)) AND a.attname = d.column_name
                        AND NOT a.attisdropped), 'missing'),
           x.message, x.statement, x.lock_mode, coalesce(x.rewrites_table, false),
           CASE WHEN x.blocker IS NULL THEN 'auto' ELSE 'manual' END, NULL::text,
           format('SELECT * FROM ensure_derived_column(%L, %L)', d.table_name, d.column_name), false, x.blocker
      FROM expected_derived_columns() d
      CROSS JOIN LATERAL ensure_derived_column(d.table_name, d.column_name, p_apply => false) x
     WHERE to_regclass(format('%I', d.table_name)) IS NOT NULL AND x.action <> 'none'
),
-- 4. plain columns: missing, or of a type that is not accepted; json enrichment (opt-in)
cols AS (
    SELECT c.*, t.rel, h.have_name, h.have_type
      FROM expected_columns() c JOIN tabs t ON t.table_name = c.table_name AND t.rel IS NOT NULL
      LEFT JOIN LATERAL (
          SELECT a.attname::text AS have_name, format_type(a.atttypid, a.atttypmod) AS have_type
            FROM pg_attribute a
           WHERE a.attrelid = t.rel AND a.attnum > 0 AND NOT a.attisdropped
             AND a.attname = ANY (c.column_name || c.other_names)
           ORDER BY array_position(c.column_name || c.other_names, a.attname::text)
           LIMIT 1) h ON true
),
f_columns(sec, ord, sub, finding_id, severity, kind, table_name, object_name, expected, actual, message, fix, lock_mode, rewrites_table, repair, opt_in, run_sql, conc, manual_step) AS (
    SELECT 4, c.ordinal, 0::bigint, 'column:' || c.table_name || '.' || c.column_name,
           CASE WHEN c.critical THEN 'CRITICAL' ELSE 'ERROR' END,
           CASE WHEN c.have_name IS NULL THEN 'missing_column' ELSE 'column_type' END,
           c.table_name, c.column_name, c.column_ddl,
           coalesce(c.have_name || ' ' || c.have_type, 'missing'),
           CASE WHEN c.have_name IS NULL THEN format('%s.%s is missing', c.table_name, c.column_name)
                ELSE format('%s.%s is %s, expected %s', c.table_name, c.have_name, c.have_type,
                            array_to_string(c.accepted_types, ' or ')) END,
           CASE WHEN c.have_name IS NULL THEN format('ALTER TABLE %I ADD COLUMN IF NOT EXISTS %s;', c.table_name, c.column_ddl)
                ELSE format('ALTER TABLE %I ALTER COLUMN %I TYPE %s USING %I::%s;', c.table_name, c.have_name,
                            c.accepted_types[1], c.have_name, c.accepted_types[1]) END,
           CASE WHEN c.have_name IS NULL THEN 'ACCESS EXCLUSIVE (brief, metadata only)' ELSE 'ACCESS EXCLUSIVE' END,
           c.have_name IS NOT NULL,
           CASE WHEN c.have_name IS NULL AND (NOT c.not_null OR c.default_expression IS NOT NULL) THEN 'auto' ELSE 'manual' END,
           NULL::text,
           CASE WHEN c.have_name IS NULL AND (NOT c.not_null OR c.default_expression IS NOT NULL) THEN
               format('SELECT schema_fix_run(%L, %L, %L)', c.table_name, 'ACCESS EXCLUSIVE',
                      format('ALTER TABLE %I ADD COLUMN IF NOT EXISTS %s', c.table_name, c.column_ddl)) END,
           false,
           CASE WHEN c.have_name IS NULL AND c.not_null AND c.default_expression IS NULL THEN
                    format('%s.%s is NOT NULL without a default, so it cannot be added empty: add it nullable, fill it, then '
                           'SET NOT NULL (ALTER TABLE %I ADD COLUMN %I %s; UPDATE ...; ALTER TABLE %I ALTER COLUMN %I SET NOT NULL)',
                           c.table_name, c.column_name, c.table_name, c.column_name, c.accepted_types[1], c.table_name, c.column_name)
                WHEN c.have_name IS NOT NULL THEN
                    format('cowrie-db does not convert column types by hand-off: check that every value of %s.%s converts to %s, '
                           'then run the statement in a maintenance window (it rewrites %s under ACCESS EXCLUSIVE)',
                           c.table_name, c.have_name, c.accepted_types[1], c.table_name) END
      FROM cols c
     WHERE c.have_name IS NULL OR c.have_type <> ALL (c.accepted_types)
),
f_json(sec, ord, sub, finding_id, severity, kind, table_name, object_name, expected, actual, message, fix, lock_mode, rewrites_table, repair, opt_in, run_sql, conc, manual_step) AS (
    SELECT 9, c.ordinal, 0::bigint, 'jsonb:' || c.table_name || '.' || c.have_name,
           'INFO', 'json_enrichment', c.table_name, c.have_name, 'jsonb (json accepted)', 'json',
           format('%s.%s is json (the upstream ORM''s form): accepted, the generated columns and the backfill read it; '
                  'converting it to jsonb is opt-in', c.table_name, c.have_name),
           format('SELECT * FROM convert_enrichment_to_jsonb(%L);  -- ALTER TABLE %I ... ALTER COLUMN %I TYPE jsonb USING %I::jsonb, '
                  'the generated columns that read it dropped and re-added, their indexes re-created',
                  c.table_name, c.table_name, c.have_name, c.have_name),
           'ACCESS EXCLUSIVE', true, 'opt-in', 'convert-jsonb',
           format('SELECT * FROM convert_enrichment_to_jsonb(%L)', c.table_name), false,
           format('optional: cowrie-db migrate --convert-jsonb, in a maintenance window: it rewrites %s (%s now) under '
                  'ACCESS EXCLUSIVE (reads and writes wait until it is done)', c.table_name,
                  pg_size_pretty(pg_total_relation_size(c.rel)))
      FROM cols c
     WHERE c.have_type = 'json' AND c.accepted_types[1] = 'jsonb' AND c.have_name = 'enrichment'
),
-- 5. primary keys (any name: pk_<table> of the ORM, <table>_pkey of ours)
f_pkeys(sec, ord, sub, finding_id, severity, kind, table_name, object_name, expected, actual, message, fix, lock_mode, rewrites_table, repair, opt_in, run_sql, conc, manual_step) AS (
    SELECT 5, t.ordinal, 0::bigint, 'primary_key:' || t.table_name, 'ERROR', 'missing_primary_key',
           t.table_name, t.table_name || '_pkey', format('PRIMARY KEY (%s)', array_to_string(t.key_columns, ', ')),
           'none', format('%s has no primary key on (%s)', t.table_name, array_to_string(t.key_columns, ', ')),
           format('ALTER TABLE %I ADD PRIMARY KEY (%s);', t.table_name,
                  (SELECT string_agg(format('%I', k), ', ') FROM unnest(t.key_columns) k)),
           'ACCESS EXCLUSIVE (builds a unique index)', false, 'manual', NULL::text, NULL::text, false,
           format('look for duplicate keys first (SELECT %s, count(*) FROM %I GROUP BY 1%s HAVING count(*) > 1), '
                  'resolve them, then run the statement', array_to_string(t.key_columns, ', '), t.table_name,
                  (SELECT string_agg(', ' || n, '') FROM generate_series(2, cardinality(t.key_columns)) n))
      FROM tabs t
     WHERE t.rel IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM cols c WHERE c.table_name = t.table_name AND c.column_name = ANY (t.key_columns) AND c.have_name IS NULL)
       AND NOT EXISTS (
           SELECT 1 FROM pg_constraint k
            WHERE k.conrelid = t.rel AND k.contype = 'p'
              AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
                    WHERE a.attrelid = t.rel AND a.attnum = ANY (k.conkey))
                  = (SELECT array_agg(x ORDER BY x) FROM unnest(t.key_columns) x))
),
-- 6. CHECK and FOREIGN KEY constraints (any name; NOT VALID ones validated)
con_rows AS (
    SELECT c.ordinal, c.table_name AS t, c.constraint_name AS n, c.definition AS def,
           x.action, x.object_name AS actual_name, x.statement, x.lock_mode, x.message, x.blocker,
           EXISTS (SELECT 1 FROM schema_constraint_matches(c.table_name, c.constraint_name) m WHERE m.same_job) AS present,
           row_number() OVER (PARTITION BY c.table_name, c.constraint_name) AS sub
      FROM expected_constraints() c
      CROSS JOIN LATERAL ensure_constraint(c.table_name, c.constraint_name, p_validate => true, p_apply => false) x
     WHERE to_regclass(format('%I', c.table_name)) IS NOT NULL
       AND (c.ref_table IS NULL OR to_regclass(format('%I', c.ref_table)) IS NOT NULL)
       AND x.action <> 'none'
),
f_constraints(sec, ord, sub, finding_id, severity, kind, table_name, object_name, expected, actual, message, fix, lock_mode, rewrites_table, repair, opt_in, run_sql, conc, manual_step) AS (
    SELECT 6, r.ordinal, r.sub, 'constraint:' || r.t || '.' || r.n || CASE WHEN r.action = 'validate_constraint' AND NOT r.present THEN ':validate' ELSE '' END,
           CASE WHEN r.present THEN 'WARNING' ELSE 'ERROR' END,
           CASE WHEN r.action = 'add_constraint' THEN 'missing_constraint'
                WHEN r.present THEN 'constraint_not_valid' ELSE 'validate_constraint' END,
           r.t, r.actual_name, r.def,
           CASE WHEN r.present THEN format('%s (NOT VALID)', r.actual_name) ELSE 'missing' END,
           CASE WHEN r.action = 'add_constraint' THEN format('%s on %s is missing (%s): add it NOT VALID', r.n, r.t, r.def)
                WHEN r.present THEN format('%s on %s is NOT VALID (existing rows were never checked)%s: validate it online',
                                           r.actual_name, r.t, CASE WHEN r.actual_name <> r.n THEN format(' (it does the job of %s)', r.n) ELSE '' END)
                ELSE format('then validate %s on %s online', r.n, r.t) END,
           r.statement, r.lock_mode, false,
           CASE WHEN bool_or(r.blocker IS NOT NULL) OVER (PARTITION BY r.t, r.n) THEN 'manual' ELSE 'auto' END,
           NULL::text,
           format('SELECT * FROM ensure_constraint(%L, %L%s)', r.t, r.n, CASE WHEN r.action = 'add_constraint' THEN ', p_validate => false' ELSE '' END),
           false,
           max(r.blocker) OVER (PARTITION BY r.t, r.n)
      FROM con_rows r
),
-- 7. indexes (any name; an INVALID or different one of ours rebuilt)
idx_rows AS (
    SELECT i.ordinal, i.table_name AS t, i.index_name AS n, i.definition AS def, x.action, x.statement, x.lock_mode, x.message,
           row_number() OVER (PARTITION BY i.table_name, i.index_name) AS sub,
           count(*) OVER (PARTITION BY i.table_name, i.index_name) AS cnt,
           string_agg(x.statement, ' ') OVER (PARTITION BY i.table_name, i.index_name) AS all_statements
      FROM expected_indexes() i
      CROSS JOIN LATERAL ensure_index(i.table_name, i.index_name, p_concurrently, p_apply => false) x
     WHERE to_regclass(format('%I', i.table_name)) IS NOT NULL AND x.action <> 'none'
),
f_indexes(sec, ord, sub, finding_id, severity, kind, table_name, object_name, expected, actual, message, fix, lock_mode, rewrites_table, repair, opt_in, run_sql, conc, manual_step) AS (
    SELECT 7, r.ordinal, r.sub,
           'index:' || r.t || '.' || r.n || CASE WHEN p_concurrently AND r.action = 'drop_index' THEN ':drop' ELSE '' END,
           'WARNING', CASE WHEN r.cnt > 1 THEN 'rebuild_index' ELSE 'missing_index' END,
           r.t, r.n, r.def, CASE WHEN r.cnt > 1 THEN 'INVALID or different' ELSE 'missing' END,
           r.message,
           CASE WHEN p_concurrently THEN r.statement ELSE r.all_statements END,
           r.lock_mode, false,
           CASE WHEN dep.manual_step IS NULL THEN 'auto' ELSE 'manual' END, NULL::text,
           CASE WHEN p_concurrently THEN r.statement ELSE format('SELECT * FROM ensure_index(%L, %L)', r.t, r.n) END,
           p_concurrently,
           dep.manual_step
      FROM idx_rows r
      LEFT JOIN LATERAL (
          SELECT format('needs %s.%s first, which migrate cannot repair (see that finding)', r.t, x.object_name) AS manual_step
            FROM (SELECT d.table_name, d.object_name, d.repair FROM f_derived d
                  UNION ALL
                  SELECT c.table_name, c.column_name, 'manual' FROM cols c WHERE c.have_name IS NULL) x
           WHERE x.table_name = r.t AND x.repair = 'manual' AND r.def ~ ('\m' || x.object_name || '\M')
           LIMIT 1) dep ON true
     WHERE p_concurrently OR r.sub = 1
),
-- 8. objects that exist twice (opt-in removal)
f_duplicates(sec, ord, sub, finding_id, severity, kind, table_name, object_name, expected, actual, message, fix, lock_mode, rewrites_table, repair, opt_in, run_sql, conc, manual_step) AS (
    SELECT 8, 0, row_number() OVER (ORDER BY d.table_name, d.kind, d.drop_name),
           'duplicate:' || d.table_name || '.' || d.drop_name, 'WARNING', d.kind, d.table_name, d.drop_name,
           format('one of them (%s is kept)', d.keep_name), format('%s and %s', d.keep_name, d.drop_name),
           format('%s on %s does the same as %s (%s): %s', d.drop_name, d.table_name, d.keep_name, d.definition, d.cost),
           d.statement, d.lock_mode, false, 'opt-in', 'drop-duplicates',
           CASE WHEN d.concurrently THEN d.statement
                ELSE format('SELECT schema_fix_run(%L, %L, %L)', d.table_name, 'ACCESS EXCLUSIVE', rtrim(d.statement, ';')) END,
           d.concurrently,
           format('optional: cowrie-db migrate --drop-duplicates removes it (%s is kept), or run: %s', d.keep_name, d.statement)
      FROM schema_duplicates(p_concurrently) d
),
-- 10. schema_state.schema_version
ver AS (
    SELECT schema_recorded_version() AS v, to_regclass('schema_state') IS NOT NULL AS has_table,
           schema_migration_applied('002_v16-three-tier-enrichment') AS v16_applied
),
f_version(sec, ord, sub, finding_id, severity, kind, table_name, object_name, expected, actual, message, fix, lock_mode, rewrites_table, repair, opt_in, run_sql, conc, manual_step) AS (
    SELECT 10, 0, 0::bigint, 'schema_version',
           CASE WHEN v.v ~ '^[0-9]+$' AND v.v::bigint > 16 THEN 'INFO' ELSE 'WARNING' END,
           'schema_version', 'schema_state', 'schema_version',
           CASE WHEN v.v ~ '^[0-9]+$' AND v.v::bigint > 16 THEN '16 or above' ELSE '16' END,
           coalesce(v.v, 'absent'),
           CASE WHEN v.v IS NULL THEN 'schema_state has no schema_version row'
                WHEN v.v !~ '^[0-9]+$' THEN format('schema_version is %L, not a number', v.v)
                WHEN v.v::bigint > 16 THEN format('schema_version %s is the upstream''s (its v17 adds ssh_key_fingerprint, password_hash, '
                                                  'command_signature): cowrie-db needs 16 or above and never writes it down', v.v)
                ELSE format('schema_version is %s: the v16 schema is recorded as 16 once it is complete', v.v) END,
           CASE WHEN v.v IS NULL THEN $s$INSERT INTO schema_state (key, value) VALUES ('schema_version', '16') ON CONFLICT (key) DO NOTHING;$s$
                WHEN v.v ~ '^[0-9]+$' AND v.v::bigint < 16 THEN $s$UPDATE schema_state SET value = '16' WHERE key = 'schema_version' AND value ~ '^[0-9]+$' AND value::int < 16;$s$
                END,
           CASE WHEN v.v ~ '^[0-9]+$' AND v.v::bigint > 16 THEN 'none' ELSE 'ROW EXCLUSIVE (one row)' END, false,
           CASE WHEN v.v ~ '^[0-9]+$' AND v.v::bigint > 16 THEN 'none'
                WHEN v.v IS NOT NULL AND v.v !~ '^[0-9]+$' THEN 'manual' ELSE 'auto' END,
           NULL::text,
           CASE WHEN NOT v.v16_applied THEN NULL
                WHEN v.v IS NULL THEN format('SELECT schema_fix_run(%L, %L, %L)', 'schema_state', 'ROW EXCLUSIVE',
                     $s$INSERT INTO schema_state (key, value) VALUES ('schema_version', '16') ON CONFLICT (key) DO NOTHING$s$)
                WHEN v.v ~ '^[0-9]+$' AND v.v::bigint < 16 THEN format('SELECT schema_fix_run(%L, %L, %L)', 'schema_state', 'ROW EXCLUSIVE',
                     $s$UPDATE schema_state SET value = '16' WHERE key = 'schema_version' AND value ~ '^[0-9]+$' AND value::int < 16$s$)
                END,
           false,
           CASE WHEN v.v IS NOT NULL AND v.v !~ '^[0-9]+$' THEN
                format('find out which code wrote %L; then set the number by hand (UPDATE schema_state SET value = ''16'' WHERE key = ''schema_version'')', v.v) END
      FROM ver v
     WHERE v.has_table AND (v.v IS NULL OR v.v !~ '^[0-9]+$' OR v.v::bigint <> 16)
),
all_rows AS (
    SELECT * FROM f_tables
    UNION ALL SELECT * FROM f_align
    UNION ALL SELECT * FROM f_derived
    UNION ALL SELECT * FROM f_columns
    UNION ALL SELECT * FROM f_json
    UNION ALL SELECT * FROM f_pkeys
    UNION ALL SELECT * FROM f_constraints
    UNION ALL SELECT * FROM f_indexes
    UNION ALL SELECT * FROM f_duplicates
    UNION ALL SELECT * FROM f_version
)
SELECT (row_number() OVER (ORDER BY a.sec, a.ord, a.sub))::integer, a.finding_id, a.severity, a.kind, a.table_name,
       a.object_name, a.expected, a.actual, a.message, a.fix, a.lock_mode, a.rewrites_table,
       pg_total_relation_size(to_regclass(format('%I', a.table_name))), a.repair, a.opt_in, a.run_sql, a.conc,
       a.manual_step
  FROM all_rows a
 ORDER BY a.sec, a.ord, a.sub
$fn$;
