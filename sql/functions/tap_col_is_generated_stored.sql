-- tap_col_is_generated_stored(table, column, expected_expression, description): a pgTAP
-- assertion (pgTAP 1.2.0 has none for generated columns). Passes when table.column is a
-- STORED generated column (pg_attribute.attgenerated = 's') whose expression, as the server
-- deparses it (pg_get_expr on pg_attrdef), equals expected_expression deparsed the same way
-- (canonical_generation_expression(), so the expected text may be written naturally).
-- On failure the diagnostics show what the column is (plain / virtual / other expression).
-- Needs the pgtap extension (uses is()); only called from sql/tests. Type of the probe column
-- is the live column's type.
-- Locks: ACCESS SHARE on the table (see canonical_generation_expression).
CREATE OR REPLACE FUNCTION tap_col_is_generated_stored(
    p_table       text,
    p_column      text,
    p_expected    text,
    p_description text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_have text;
    v_want text;
    a      record;
BEGIN
    SELECT at.attgenerated::text AS gen, format_type(at.atttypid, at.atttypmod) AS typ,
           pg_get_expr(d.adbin, d.adrelid) AS expr
      INTO a
      FROM pg_attribute at
      LEFT JOIN pg_attrdef d ON d.adrelid = at.attrelid AND d.adnum = at.attnum
     WHERE at.attrelid = to_regclass(format('%I', p_table)) AND at.attname = p_column
       AND at.attnum > 0 AND NOT at.attisdropped;
    IF NOT FOUND THEN
        v_have := 'no such column';
    ELSIF a.gen = 's' THEN
        v_have := 'STORED AS ' || a.expr;
    ELSIF a.gen = 'v' THEN
        v_have := 'VIRTUAL AS ' || a.expr;
    ELSE
        v_have := 'plain column' || coalesce(' DEFAULT ' || a.expr, '');
    END IF;
    BEGIN
        v_want := 'STORED AS ' || canonical_generation_expression(p_table, coalesce(a.typ, 'text'), p_expected);
    EXCEPTION WHEN OTHERS THEN
        v_want := 'STORED AS ' || p_expected || ' (not a valid expression for ' || p_table || ': ' || SQLERRM || ')';
    END;
    RETURN is(v_have, v_want,
              coalesce(p_description, format('%I.%I should be a STORED generated column AS (%s)', p_table, p_column,
                                              regexp_replace(btrim(p_expected), '\s+', ' ', 'g'))));
END
$fn$;
