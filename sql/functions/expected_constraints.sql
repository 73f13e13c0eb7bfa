-- expected_constraints(): THE list of the named CHECK and FOREIGN KEY constraints of the v16
-- schema, in one place, with what is needed to count violating rows and the fix to suggest.
-- (Primary keys are part of CREATE TABLE in 001/002; the CHECK (asn_number > 0) too, under
-- the name PostgreSQL gives an inline CHECK, asn_inventory_asn_number_check; it is listed here
-- so that an asn_inventory the upstream's ORM created, which has no CHECK, gets it.)
-- A constraint that does the same job under another name (the ORM's or the upstream v16 one)
-- satisfies the expectation: see schema_constraint_matches().
-- Used by: migration 002, ensure_constraint(), schema_repair_plan(), rollback_v16_to_v15().
-- Locks: none (constant data).
CREATE OR REPLACE FUNCTION expected_constraints()
RETURNS TABLE (
    ordinal          integer,
    table_name       text,
    constraint_name  text,
    constraint_type  "char",   -- 'c' check, 'f' foreign key (as pg_constraint.contype)
    definition       text,     -- as ALTER TABLE ... ADD CONSTRAINT name <definition> takes it
    check_expression text,     -- CHECK: the boolean expression (rows where it is false violate)
    fk_column        text,     -- FK: referencing column
    ref_table        text,     -- FK: referenced table
    ref_column       text,     -- FK: referenced column
    violation_fix    text      -- what to run (or do) when existing rows violate it
)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT v.ordinal, v.table_name, v.constraint_name, v.constraint_type::"char",
           CASE v.constraint_type
               WHEN 'c' THEN format('CHECK (%s)', v.check_expression)
               ELSE format('FOREIGN KEY (%I) REFERENCES %I (%I)', v.fk_column, v.ref_table, v.ref_column)
           END,
           v.check_expression, v.fk_column, v.ref_table, v.ref_column, v.violation_fix
    FROM (VALUES
        (1, 'session_summaries', 'ck_session_summaries_snapshot_country', 'c',
         $c$snapshot_country IS NULL OR snapshot_country ~ '^[A-Z]{2}$'$c$, NULL, NULL, NULL,
         $f$UPDATE session_summaries SET snapshot_country = CASE WHEN upper(snapshot_country) ~ '^[A-Z]{2}$' THEN upper(snapshot_country) END WHERE NOT (snapshot_country IS NULL OR snapshot_country ~ '^[A-Z]{2}$');$f$),
        (2, 'session_summaries', 'fk_session_summaries_source_ip', 'f',
         NULL, 'source_ip', 'ip_inventory', 'ip_address',
         $f$populate ip_inventory with the missing addresses (cowrie-db backfill does), or clear them: UPDATE session_summaries s SET source_ip = NULL WHERE source_ip IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ip_inventory i WHERE i.ip_address = s.source_ip);$f$),
        (3, 'ip_inventory', 'fk_ip_inventory_current_asn', 'f',
         NULL, 'current_asn', 'asn_inventory', 'asn_number',
         $f$insert the missing ASNs into asn_inventory, or clear them: UPDATE ip_inventory i SET current_asn = NULL WHERE current_asn IS NOT NULL AND NOT EXISTS (SELECT 1 FROM asn_inventory a WHERE a.asn_number = i.current_asn);$f$),
        (4, 'ip_asn_history', 'fk_ip_asn_history_ip_address', 'f',
         NULL, 'ip_address', 'ip_inventory', 'ip_address',
         $f$insert the missing addresses into ip_inventory, or delete the orphan history rows: DELETE FROM ip_asn_history h WHERE NOT EXISTS (SELECT 1 FROM ip_inventory i WHERE i.ip_address = h.ip_address);$f$),
        (5, 'ip_asn_history', 'fk_ip_asn_history_asn_number', 'f',
         NULL, 'asn_number', 'asn_inventory', 'asn_number',
         $f$insert the missing ASNs into asn_inventory, or delete the orphan history rows: DELETE FROM ip_asn_history h WHERE NOT EXISTS (SELECT 1 FROM asn_inventory a WHERE a.asn_number = h.asn_number);$f$),
        (6, 'asn_inventory', 'asn_inventory_asn_number_check', 'c',
         $c$asn_number > 0$c$, NULL, NULL, NULL,
         $f$ASNs are positive: look at the rows (SELECT * FROM asn_inventory WHERE NOT (asn_number > 0)), re-point what references them, and delete them$f$)
    ) AS v(ordinal, table_name, constraint_name, constraint_type, check_expression,
           fk_column, ref_table, ref_column, violation_fix)
    ORDER BY v.ordinal
$fn$;
