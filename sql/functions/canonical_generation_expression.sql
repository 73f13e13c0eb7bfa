-- canonical_generation_expression(table, column_type, expression)
-- Returns the expression exactly as this server prints a generation expression
-- (pg_get_expr on pg_attrdef), so that an expected expression written by hand compares
-- textually with a live column's expression on any PostgreSQL version (deparsing adds casts
-- and parentheses: enrichment -> 'cymru' becomes (enrichment -> 'cymru'::text)).
-- How: a temporary probe table with the columns of p_table (CREATE TEMP TABLE ... LIKE, no
-- data) gets a STORED generated column with the expression; its pg_get_expr is returned and
-- the probe is dropped. Needs a read-write transaction (temporary tables); nothing persists.
-- Raises if the expression is not valid for the table (e.g. a column it uses is missing).
-- Locks: ACCESS SHARE on p_table (LIKE reads its definition); the probe is private.
CREATE OR REPLACE FUNCTION canonical_generation_expression(
    p_table       text,
    p_column_type text,
    p_expression  text)
RETURNS text
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_probe  text := 'cowrie_db_expr_probe_' || pg_backend_pid();
    v_result text;
BEGIN
    IF to_regclass(format('pg_temp.%I', v_probe)) IS NOT NULL THEN
        EXECUTE format('DROP TABLE pg_temp.%I', v_probe);
    END IF;
    EXECUTE format('CREATE TEMP TABLE %I (LIKE %I)', v_probe, p_table);
    BEGIN
        EXECUTE format('ALTER TABLE pg_temp.%I ADD COLUMN cowrie_db_probe %s GENERATED ALWAYS AS (%s) STORED',
                       v_probe, p_column_type, p_expression);
        SELECT pg_get_expr(d.adbin, d.adrelid)
          INTO v_result
          FROM pg_attribute a
          JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = format('pg_temp.%I', v_probe)::regclass
           AND a.attname = 'cowrie_db_probe';
    EXCEPTION WHEN OTHERS THEN
        EXECUTE format('DROP TABLE pg_temp.%I', v_probe);
        RAISE;
    END;
    EXECUTE format('DROP TABLE pg_temp.%I', v_probe);
    RETURN v_result;
END
$fn$;
