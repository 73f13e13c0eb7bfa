-- validate_checks_schema(settings, context) -> SETOF jsonb: the schema checks
-- (validate_check_row rows):
--   schema.drift                worst finding    schema_findings() rows other than INFO
--                                                (the same rows as `cowrie-db check`); a
--                                                CRITICAL one blocks the data checks
--                                                (details.blockedBy)
--   schema.version              CRITICAL/ERROR   schema_state.schema_version: CRITICAL when
--                                                it says 16+ but a table or column is
--                                                missing (half-migrated), ERROR when
--                                                schema_findings() reports the version
--   schema.migrations           ERROR/WARNING    pgmigrations against the migration files
--   schema.migration_checksums  ERROR/WARNING    sha256 recorded by migrate vs the files
-- context (jsonb, all optional): findings (this cowrie-db version's schema_findings()
-- rows, read by the CLI before its read-only transaction; default: the installed
-- schema_findings()), findingsSource (words), migrations {onDisk: [names],
-- files: {name: sha256}} (the migration files are on the client: without them the
-- two migration checks are skipped and say so).
-- Locks: ACCESS SHARE on the catalog tables schema_findings reads, on schema_state,
-- pgmigrations and cowrie_db_migration_checksums.
CREATE OR REPLACE FUNCTION validate_checks_schema(p_settings jsonb DEFAULT '{}', p_context jsonb DEFAULT '{}')
RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    ctx        jsonb := COALESCE(p_context, '{}');
    v_t0       timestamptz;
    v_findings jsonb;
    v_source   text;
    v_err      text;
    v_drift    jsonb;
    v_n        integer;
    v_crit     jsonb;
    v_worst    text;
    v_auto     integer;
    v_recorded text;
    v_version  jsonb;
    v_incomp   jsonb;
    v_ondisk   text[];
    v_applied  text[];
    v_pending  text[];
    v_unknown  text[];
    v_edited   jsonb;
    v_nrec     integer;
    v_state    text;
    v_msg      text;
BEGIN
    -- the findings: the CLI's (this version's) or the installed function's
    v_t0 := clock_timestamp();
    v_source := COALESCE(ctx ->> 'findingsSource', 'installed schema_findings()');
    v_findings := ctx -> 'findings';
    IF v_findings IS NULL THEN
        IF to_regprocedure('schema_findings(boolean)') IS NULL THEN
            v_err := 'could not run: schema_findings() is not installed in this database: run cowrie-db migrate once as the owner';
        ELSE
            BEGIN
                EXECUTE 'SELECT COALESCE(jsonb_agg(to_jsonb(f) ORDER BY f.step), ''[]'') FROM schema_findings(true) f' INTO v_findings;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
                v_err := validate_error_text(v_state, 'could not read the schema findings: ' || v_msg);
            END;
        END IF;
    END IF;

    IF v_err IS NOT NULL THEN
        RETURN NEXT validate_check_row('schema.drift', 'Schema drift', 'CRITICAL', 'error', v_err, NULL, NULL, '0', NULL, v_t0);
    ELSE
        SELECT COALESCE(jsonb_agg(f), '[]'), count(*),
               COALESCE(jsonb_agg(f) FILTER (WHERE f ->> 'severity' = 'CRITICAL'), '[]'),
               count(*) FILTER (WHERE f ->> 'repair' = 'auto')
          INTO v_drift, v_n, v_crit, v_auto
          FROM jsonb_array_elements(v_findings) f WHERE f ->> 'severity' <> 'INFO';
        v_worst := CASE WHEN jsonb_array_length(v_crit) > 0 THEN 'CRITICAL'
                        WHEN v_drift @> '[{"severity": "ERROR"}]' THEN 'ERROR'
                        WHEN v_n > 0 THEN 'WARNING' ELSE 'CRITICAL' END;
        RETURN NEXT validate_check_row('schema.drift', 'Schema drift', v_worst,
            CASE WHEN v_n > 0 THEN 'fail' ELSE 'pass' END,
            CASE WHEN v_n > 0 THEN
                (SELECT string_agg(f ->> 'message', '; ') FROM (SELECT f FROM jsonb_array_elements(v_drift) WITH ORDINALITY x(f, i) ORDER BY i LIMIT 3) y)
                || CASE WHEN v_n > 3 THEN format('; and %s more', v_n - 3) ELSE '' END
                || format(' (%s repaired by cowrie-db migrate; cowrie-db check lists them all)', v_auto)
            ELSE 'the live schema is as expected (schema_findings: no CRITICAL, ERROR or WARNING)' END,
            to_jsonb(v_n), v_n || ' finding(s)', '0',
            jsonb_build_object('source', v_source, 'findings', v_findings)
            || CASE WHEN jsonb_array_length(v_crit) > 0 THEN jsonb_build_object('blockedBy',
                   format('schema drift (%s): fix it first, see schema.drift',
                          (SELECT string_agg(concat(f ->> 'table_name', '.', f ->> 'object_name'), ', ') FROM jsonb_array_elements(v_crit) f)))
               ELSE '{}' END,
            v_t0);
    END IF;

    -- schema.version
    v_t0 := clock_timestamp();
    BEGIN
        IF to_regclass('schema_state') IS NULL THEN
            RETURN NEXT validate_check_row('schema.version', 'Recorded schema version', 'CRITICAL', 'fail',
                'table schema_state does not exist: this is not a Cowrie database, or it was never migrated (cowrie-db migrate)',
                NULL, 'no schema_state', 'recorded >= 16', NULL, v_t0);
        ELSIF v_err IS NOT NULL THEN
            RETURN NEXT validate_check_row('schema.version', 'Recorded schema version', 'CRITICAL', 'error', v_err, NULL, NULL, 'recorded >= 16', NULL, v_t0);
        ELSE
            EXECUTE 'SELECT value::text FROM schema_state WHERE key = ''schema_version''' INTO v_recorded;
            SELECT f INTO v_version FROM jsonb_array_elements(v_findings) f WHERE f ->> 'kind' = 'schema_version' LIMIT 1;
            SELECT COALESCE(jsonb_agg(f), '[]') INTO v_incomp FROM jsonb_array_elements(v_findings) f
             WHERE f ->> 'severity' = 'CRITICAL' AND f ->> 'kind' IN ('missing_table', 'missing_column');
            IF v_recorded ~ '^\d+$' AND v_recorded::numeric >= 16 AND jsonb_array_length(v_incomp) > 0 THEN
                RETURN NEXT validate_check_row('schema.version', 'Recorded schema version', 'CRITICAL', 'fail',
                    format('schema_state says %s but %s %s missing (half-migrated: the upstream "table exists, skipped" failure): run cowrie-db migrate',
                           v_recorded,
                           (SELECT string_agg(concat(f ->> 'table_name', '.', f ->> 'object_name'), ', ') FROM jsonb_array_elements(v_incomp) f),
                           CASE WHEN jsonb_array_length(v_incomp) > 1 THEN 'are' ELSE 'is' END),
                    to_jsonb(v_recorded), format('recorded %s, schema incomplete', v_recorded), 'recorded >= 16 and complete',
                    jsonb_build_object('recorded', v_recorded, 'missing', (SELECT jsonb_agg(f -> 'finding_id') FROM jsonb_array_elements(v_incomp) f)), v_t0);
            ELSIF v_version IS NOT NULL AND v_version ->> 'severity' <> 'INFO' THEN
                RETURN NEXT validate_check_row('schema.version', 'Recorded schema version', 'ERROR', 'fail',
                    format('%s: %s', v_version ->> 'message',
                           CASE WHEN v_version ->> 'repair' = 'auto' THEN 'run cowrie-db migrate' ELSE COALESCE(v_version ->> 'manual_step', 'see cowrie-db check') END),
                    to_jsonb(v_recorded), 'recorded ' || COALESCE(v_recorded, 'none'), 'recorded >= 16',
                    jsonb_build_object('recorded', v_recorded), v_t0);
            ELSE
                RETURN NEXT validate_check_row('schema.version', 'Recorded schema version', 'CRITICAL', 'pass',
                    COALESCE(v_version ->> 'message', format('schema_state says %s and the schema is complete', v_recorded)),
                    to_jsonb(v_recorded), 'recorded ' || COALESCE(v_recorded, 'none'), 'recorded >= 16',
                    jsonb_build_object('recorded', v_recorded), v_t0);
            END IF;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
        RETURN NEXT validate_check_row('schema.version', 'Recorded schema version', 'CRITICAL', 'error',
            validate_error_text(v_state, v_msg), NULL, NULL, 'recorded >= 16', NULL, v_t0);
    END;

    -- schema.migrations: pgmigrations against the files the client has
    v_t0 := clock_timestamp();
    IF ctx #> '{migrations,onDisk}' IS NULL THEN
        RETURN NEXT validate_check_row('schema.migrations', 'Migrations applied vs files on disk', 'ERROR', 'skip',
            'skipped: the migration files are on the client; cowrie-db validate compares them with pgmigrations', NULL, NULL, '0 pending', NULL, v_t0);
        RETURN NEXT validate_check_row('schema.migration_checksums', 'Applied migrations unchanged since applied (sha256)', 'ERROR', 'skip',
            'skipped: the migration files are on the client; cowrie-db validate compares their sha256 with cowrie_db_migration_checksums', NULL, NULL, '0 edited', NULL, v_t0);
        RETURN;
    END IF;
    SELECT array_agg(x ORDER BY i) INTO v_ondisk FROM jsonb_array_elements_text(ctx #> '{migrations,onDisk}') WITH ORDINALITY t(x, i);
    v_ondisk := COALESCE(v_ondisk, '{}');
    BEGIN
        IF to_regclass('pgmigrations') IS NULL THEN
            RETURN NEXT validate_check_row('schema.migrations', 'Migrations applied vs files on disk', 'ERROR', 'fail',
                'no pgmigrations table: cowrie-db has never migrated this database; run cowrie-db migrate',
                to_jsonb(cardinality(v_ondisk)), cardinality(v_ondisk) || ' pending', '0 pending',
                jsonb_build_object('applied', '[]'::jsonb, 'pending', to_jsonb(v_ondisk), 'unknown', '[]'::jsonb), v_t0);
        ELSE
            EXECUTE 'SELECT COALESCE(array_agg(name::text ORDER BY run_on, id), ''{}'') FROM pgmigrations' INTO v_applied;
            v_pending := ARRAY(SELECT m FROM unnest(v_ondisk) WITH ORDINALITY u(m, i) WHERE m <> ALL (v_applied) ORDER BY i);
            v_unknown := ARRAY(SELECT m FROM unnest(v_applied) WITH ORDINALITY u(m, i) WHERE m <> ALL (v_ondisk) ORDER BY i);
            RETURN NEXT validate_check_row('schema.migrations', 'Migrations applied vs files on disk',
                CASE WHEN cardinality(v_pending) > 0 THEN 'ERROR' ELSE 'WARNING' END,
                CASE WHEN cardinality(v_pending) + cardinality(v_unknown) > 0 THEN 'fail' ELSE 'pass' END,
                CASE WHEN cardinality(v_pending) > 0
                     THEN format('%s migration(s) not applied: %s: run cowrie-db migrate', cardinality(v_pending), array_to_string(v_pending, ', '))
                     WHEN cardinality(v_unknown) > 0
                     THEN format('applied migration(s) with no file in this cowrie-db version: %s (a newer cowrie-db applied them?)', array_to_string(v_unknown, ', '))
                     ELSE format('all %s migrations on disk are applied', cardinality(v_ondisk)) END,
                to_jsonb(cardinality(v_pending)), format('%s applied, %s pending', cardinality(v_applied), cardinality(v_pending)), '0 pending',
                jsonb_build_object('applied', to_jsonb(v_applied), 'pending', to_jsonb(v_pending), 'unknown', to_jsonb(v_unknown)), v_t0);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
        RETURN NEXT validate_check_row('schema.migrations', 'Migrations applied vs files on disk', 'ERROR', 'error',
            validate_error_text(v_state, v_msg), NULL, NULL, '0 pending', NULL, v_t0);
    END;

    v_t0 := clock_timestamp();
    BEGIN
        IF to_regclass('cowrie_db_migration_checksums') IS NULL THEN
            RETURN NEXT validate_check_row('schema.migration_checksums', 'Applied migrations unchanged since applied (sha256)', 'WARNING', 'fail',
                'no checksums recorded (cowrie_db_migration_checksums missing): edits to applied migrations cannot be detected until cowrie-db migrate records them',
                NULL, 'not recorded', '0 edited', NULL, v_t0);
        ELSE
            EXECUTE $q$
                SELECT count(*)::int,
                       COALESCE(jsonb_agg(jsonb_build_object('name', c.name, 'recorded', trim(c.sha256), 'onDisk', $1 ->> c.name,
                                                             'recordedAt', c.recorded_at) ORDER BY c.name)
                                FILTER (WHERE $1 ? c.name AND $1 ->> c.name <> trim(c.sha256)), '[]')
                FROM cowrie_db_migration_checksums c$q$
            INTO v_nrec, v_edited USING ctx #> '{migrations,files}';
            RETURN NEXT validate_check_row('schema.migration_checksums', 'Applied migrations unchanged since applied (sha256)', 'ERROR',
                CASE WHEN jsonb_array_length(v_edited) > 0 THEN 'fail' ELSE 'pass' END,
                CASE WHEN jsonb_array_length(v_edited) > 0
                     THEN format('migration file(s) edited after they were applied: %s: the database does not have what the files now say; restore the files or write a new migration',
                                 (SELECT string_agg(format('%s (recorded %s)', e ->> 'name', left(e ->> 'recordedAt', 10)), ', ') FROM jsonb_array_elements(v_edited) e))
                     ELSE format('%s applied migration(s) match the sha256 recorded when they were applied', v_nrec) END,
                to_jsonb(jsonb_array_length(v_edited)), jsonb_array_length(v_edited) || ' edited', '0 edited',
                jsonb_build_object('edited', (SELECT COALESCE(jsonb_agg(e - 'recordedAt'), '[]') FROM jsonb_array_elements(v_edited) e), 'recorded', v_nrec), v_t0);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
        RETURN NEXT validate_check_row('schema.migration_checksums', 'Applied migrations unchanged since applied (sha256)', 'ERROR', 'error',
            validate_error_text(v_state, v_msg), NULL, NULL, '0 edited', NULL, v_t0);
    END;
END
$fn$;
