-- seed_apply_drift(kind)
--
-- Puts the upstream v16 schema into one of the drifted states found in the
-- field, keeping every value. Works on an empty schema (instant: the seed
-- command applies the drift first, then seed_generate() writes the data in the
-- drifted shape) and on a populated one (plural-array then rewrites the table).
--   'none'                  nothing.
--   'plural-text'           session_summaries.snapshot_ip_type is renamed to
--                           snapshot_ip_types (still text, values kept).
--   'plural-array'          renamed to snapshot_ip_types and converted to text[]:
--                           a value v becomes ARRAY[v], NULL stays NULL.
--   'incomplete-inventory'  ip_inventory loses its STORED generated columns
--                           geo_country, is_scanner, is_bogon and the plain
--                           ip_types column; the indexes on them go with them
--                           (ix_ip_inventory_geo_country, _is_scanner, _ip_types).
-- Idempotent: a database already in the requested state is left alone.
-- Returns what it did, one line per change.
--
-- Locks: ACCESS EXCLUSIVE on session_summaries (plural-*: RENAME COLUMN is
-- metadata only; ALTER COLUMN TYPE rewrites the table and its indexes) or on
-- ip_inventory (incomplete-inventory: DROP COLUMN, metadata only), until the
-- caller's transaction ends.
CREATE OR REPLACE FUNCTION seed_apply_drift(kind text)
RETURNS SETOF text
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_kind     text := kind;
    v_singular boolean;
    v_plural   regtype;
    v_col      text;
BEGIN
    IF v_kind IS NULL OR v_kind NOT IN ('none', 'plural-text', 'plural-array', 'incomplete-inventory') THEN
        RAISE EXCEPTION 'seed_apply_drift: kind must be one of none, plural-text, plural-array, incomplete-inventory (got %)',
            coalesce(quote_literal(v_kind), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF v_kind = 'none' THEN
        RETURN;
    END IF;

    IF v_kind IN ('plural-text', 'plural-array') THEN
        IF to_regclass('session_summaries') IS NULL THEN
            RAISE EXCEPTION 'seed_apply_drift: table session_summaries does not exist' USING ERRCODE = '42P01';
        END IF;
        v_singular := EXISTS (SELECT 1 FROM pg_attribute
                              WHERE attrelid = 'session_summaries'::regclass AND NOT attisdropped
                                AND attname = 'snapshot_ip_type');
        SELECT atttypid::regtype INTO v_plural FROM pg_attribute
        WHERE attrelid = 'session_summaries'::regclass AND NOT attisdropped
          AND attname = 'snapshot_ip_types';
        IF v_singular AND v_plural IS NOT NULL THEN
            RAISE EXCEPTION 'seed_apply_drift: session_summaries has both snapshot_ip_type and snapshot_ip_types'
                USING ERRCODE = '55000';
        END IF;
        IF v_singular THEN
            ALTER TABLE session_summaries RENAME COLUMN snapshot_ip_type TO snapshot_ip_types;
            v_plural := 'text'::regtype;
            RETURN NEXT 'renamed session_summaries.snapshot_ip_type to snapshot_ip_types';
        ELSIF v_plural IS NULL THEN
            RAISE EXCEPTION 'seed_apply_drift: session_summaries has neither snapshot_ip_type nor snapshot_ip_types'
                USING ERRCODE = '42703';
        END IF;
        IF v_kind = 'plural-array' AND v_plural = 'text'::regtype THEN
            ALTER TABLE session_summaries ALTER COLUMN snapshot_ip_types TYPE text[]
                USING CASE WHEN snapshot_ip_types IS NULL THEN NULL ELSE ARRAY[snapshot_ip_types] END;
            RETURN NEXT 'converted session_summaries.snapshot_ip_types to text[] (one-element arrays)';
        ELSIF v_kind = 'plural-text' AND v_plural = 'text[]'::regtype THEN
            RAISE EXCEPTION 'seed_apply_drift: snapshot_ip_types is already text[] (the plural-array state)'
                USING ERRCODE = '55000';
        END IF;
        RETURN;
    END IF;

    -- incomplete-inventory
    IF to_regclass('ip_inventory') IS NULL THEN
        RAISE EXCEPTION 'seed_apply_drift: table ip_inventory does not exist' USING ERRCODE = '42P01';
    END IF;
    FOREACH v_col IN ARRAY ARRAY['geo_country', 'ip_types', 'is_scanner', 'is_bogon'] LOOP
        IF EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = 'ip_inventory'::regclass AND NOT attisdropped AND attname = v_col) THEN
            EXECUTE format('ALTER TABLE ip_inventory DROP COLUMN %I', v_col);
            RETURN NEXT format('dropped ip_inventory.%s (and the indexes on it)', v_col);
        END IF;
    END LOOP;
END
$fn$;
