-- validate_data_quality() -> one row per data-quality item checked (violations may be 0)
--
-- Read-only data-quality scan used by `cowrie-db validate`; from psql:
--   SELECT * FROM validate_data_quality() WHERE violations > 0;
-- check_name (what the validate report groups by):
--   orphan_source_ip       session_summaries.source_ip values missing from ip_inventory
--   constraint_violations  rows violating each constraint of expected_constraints(),
--                          counted from the definition whether the constraint exists,
--                          is NOT VALID or is missing (the source_ip FK is orphan_source_ip)
--   not_valid_constraints  CHECK / FOREIGN KEY constraints left NOT VALID on the upstream
--                          tables (convalidated = false), with the rows violating them
--   impossible_values      values no correct writer produces: negative counters, last event
--                          before first event, events or enrichment in the future, snapshot
--                          ASN <= 0, source IPs not in canonical form, IP types not upper-case,
--                          half-written snapshots, inventory last_seen before first_seen
-- severity is what a non-zero count means: ERROR (wrong data or a constraint that cannot be
-- validated) or WARNING (worth fixing, does not make snapshots wrong). fix says what to do.
-- Cost: one sequential scan per table for impossible_values, one anti-join per constraint.
-- Locks: ACCESS SHARE on session_summaries, ip_inventory, asn_inventory, ip_asn_history.
-- Writes nothing (dynamic SQL only counts rows; identifiers go through format('%I')).
CREATE OR REPLACE FUNCTION validate_data_quality()
RETURNS TABLE (check_name text, item text, table_name text, violations bigint,
               severity text, message text, fix text)
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    c       record;
    v_count bigint;
    v_where text;
BEGIN
    -- orphan source_ip
    check_name := 'orphan_source_ip'; item := 'source_ip'; table_name := 'session_summaries';
    SELECT count(*) INTO violations
      FROM session_summaries s
     WHERE s.source_ip IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM ip_inventory i WHERE i.ip_address = s.source_ip);
    severity := 'ERROR';
    message := 'sessions whose source_ip is not in ip_inventory (fk_session_summaries_source_ip)';
    SELECT e.violation_fix INTO fix FROM expected_constraints() e
     WHERE e.constraint_name = 'fk_session_summaries_source_ip';
    RETURN NEXT;

    -- rows violating the expected constraints (present or not)
    FOR c IN SELECT * FROM expected_constraints() e
              WHERE e.constraint_name <> 'fk_session_summaries_source_ip'
                AND to_regclass(format('%I', e.table_name)) IS NOT NULL
              ORDER BY e.ordinal
    LOOP
        IF c.constraint_type = 'c' THEN
            v_where := format('NOT (%s)', c.check_expression);
        ELSE
            v_where := format('t.%I IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %I r WHERE r.%I = t.%I)',
                              c.fk_column, c.ref_table, c.ref_column, c.fk_column);
        END IF;
        EXECUTE format('SELECT count(*) FROM %I t WHERE %s', c.table_name, v_where) INTO v_count;
        check_name := 'constraint_violations'; item := c.constraint_name; table_name := c.table_name;
        violations := v_count; severity := 'ERROR';
        message := format('rows violating %s %s', c.constraint_name, c.definition);
        fix := c.violation_fix;
        RETURN NEXT;
    END LOOP;

    -- constraints left NOT VALID
    FOR c IN
        SELECT con.conname, con.contype, rel.relname, con.conrelid,
               pg_get_expr(con.conbin, con.conrelid) AS check_expr,
               (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = con.conrelid AND a.attnum = con.conkey[1]) AS fk_col,
               con.confrelid::regclass::text AS ref_table,
               (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = con.confrelid AND a.attnum = con.confkey[1]) AS ref_col,
               cardinality(con.conkey) AS ncols
          FROM pg_constraint con
          JOIN pg_class rel ON rel.oid = con.conrelid
         WHERE con.conrelid IN (SELECT to_regclass(x) FROM unnest(ARRAY['session_summaries', 'ip_inventory',
                                      'asn_inventory', 'ip_asn_history', 'schema_state']) x)
           AND con.contype IN ('c', 'f')
           AND NOT con.convalidated
         ORDER BY rel.relname, con.conname
    LOOP
        v_count := NULL;
        IF c.contype = 'c' THEN
            EXECUTE format('SELECT count(*) FROM %s t WHERE NOT (%s)', c.conrelid::regclass, c.check_expr) INTO v_count;
        ELSIF c.ncols = 1 THEN
            EXECUTE format('SELECT count(*) FROM %s t WHERE t.%I IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %s r WHERE r.%I = t.%I)',
                           c.conrelid::regclass, c.fk_col, c.ref_table, c.ref_col, c.fk_col) INTO v_count;
        END IF;
        check_name := 'not_valid_constraints'; item := c.conname; table_name := c.relname;
        violations := coalesce(v_count, 0);
        severity := CASE WHEN coalesce(v_count, 0) > 0 THEN 'ERROR' ELSE 'WARNING' END;
        message := format('constraint %s on %s is NOT VALID (existing rows were never checked); %s row(s) violate it',
                          c.conname, c.relname, coalesce(v_count::text, 'unknown'));
        fix := CASE WHEN coalesce(v_count, 0) > 0
                    THEN 'fix the violating rows first (see constraint_violations), then: '
                    ELSE '' END
               || format('ALTER TABLE %I VALIDATE CONSTRAINT %I;  (SHARE UPDATE EXCLUSIVE lock; cowrie-db migrate does it)',
                         c.relname, c.conname);
        RETURN NEXT;
    END LOOP;

    -- impossible values: session_summaries in one scan
    FOR c IN
        WITH s AS (
            SELECT count(*) FILTER (WHERE event_count < 0 OR command_count < 0 OR file_downloads < 0
                                       OR login_attempts < 0 OR ssh_key_injections < 0 OR unique_ssh_keys < 0) AS negative_counters,
                   count(*) FILTER (WHERE last_event_at < first_event_at) AS last_before_first,
                   count(*) FILTER (WHERE first_event_at > now() + interval '1 day'
                                       OR last_event_at > now() + interval '1 day') AS events_in_future,
                   count(*) FILTER (WHERE enrichment_at > now() + interval '1 day') AS enrichment_in_future,
                   count(*) FILTER (WHERE snapshot_asn <= 0) AS snapshot_asn_not_positive,
                   count(*) FILTER (WHERE source_ip IS NOT NULL
                                      AND backfill_parse_ip(source_ip) IS DISTINCT FROM source_ip) AS source_ip_not_canonical,
                   count(*) FILTER (WHERE snapshot_ip_type IS NOT NULL
                                      AND (snapshot_ip_type <> upper(btrim(snapshot_ip_type)) OR snapshot_ip_type = '')) AS ip_type_not_normalised,
                   count(*) FILTER (WHERE snapshot_country IS NULL
                                      AND (source_ip IS NOT NULL OR snapshot_asn IS NOT NULL
                                           OR snapshot_ip_type IS NOT NULL OR enrichment_at IS NOT NULL)) AS half_written_snapshot
            FROM session_summaries
        )
        SELECT v.item, v.n, v.sev, v.msg, v.fix
        FROM s CROSS JOIN LATERAL (VALUES
            ('negative_counters', s.negative_counters, 'ERROR', 'sessions with a negative counter (event_count, command_count, ...)',
             'find the writer that produced them; counters are counts'),
            ('last_event_before_first', s.last_before_first, 'ERROR', 'sessions whose last_event_at is before first_event_at',
             'swap or re-derive the times from the raw Cowrie logs'),
            ('events_in_future', s.events_in_future, 'ERROR', 'sessions with an event time more than a day in the future',
             'check the loader''s clock and time zone handling'),
            ('enrichment_at_in_future', s.enrichment_in_future, 'ERROR', 'sessions whose enrichment_at is more than a day in the future',
             'clear the snapshot of those sessions and backfill them again'),
            ('snapshot_asn_not_positive', s.snapshot_asn_not_positive, 'ERROR', 'sessions with snapshot_asn <= 0 (ASNs are positive)',
             'clear the snapshot of those sessions and backfill them again'),
            ('source_ip_not_canonical', s.source_ip_not_canonical, 'ERROR', 'source_ip values that are not a canonical host address',
             'clear the snapshot of those sessions and backfill them again'),
            ('snapshot_ip_type_not_normalised', s.ip_type_not_normalised, 'WARNING', 'snapshot_ip_type values that are blank or not upper-case (queries compare upper-case)',
             'UPDATE session_summaries SET snapshot_ip_type = nullif(upper(btrim(snapshot_ip_type)), '''') WHERE ...'),
            ('half_written_snapshot', s.half_written_snapshot, 'WARNING', 'sessions with some snapshot columns written but no snapshot_country (half-written; counted as pending)',
             'the backfill completes them')
        ) AS v(item, n, sev, msg, fix)
    LOOP
        check_name := 'impossible_values'; item := c.item; table_name := 'session_summaries';
        violations := c.n; severity := c.sev; message := c.msg; fix := c.fix;
        RETURN NEXT;
    END LOOP;

    check_name := 'impossible_values'; table_name := 'ip_inventory';
    SELECT count(*) FILTER (WHERE last_seen < first_seen) AS seen_order,
           count(*) FILTER (WHERE session_count < 0) AS negative_count,
           count(*) FILTER (WHERE backfill_parse_ip(ip_address) IS DISTINCT FROM ip_address) AS not_canonical
      INTO c
      FROM ip_inventory;
    item := 'inventory_last_seen_before_first_seen'; violations := c.seen_order; severity := 'ERROR';
    message := 'ip_inventory rows whose last_seen is before first_seen'; fix := 'repair the inventory loader';
    RETURN NEXT;
    item := 'inventory_negative_session_count'; violations := c.negative_count; severity := 'ERROR';
    message := 'ip_inventory rows with session_count < 0'; fix := 'recount session_count from session_summaries';
    RETURN NEXT;
    item := 'inventory_ip_not_canonical'; violations := c.not_canonical; severity := 'WARNING';
    message := 'ip_inventory.ip_address values that are not a canonical host address (sessions cannot match them)';
    fix := 'store host(ip_address::inet) or remove the row';
    RETURN NEXT;
END
$fn$;
