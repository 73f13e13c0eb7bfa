-- snapshot_index_statements() -> (seq, index_name, reason, statement)
--
-- The statements that create the indexes the snapshot queries need on
-- session_summaries (snapshot_asn, snapshot_country, snapshot_ip_type) without
-- blocking writes: CREATE INDEX CONCURRENTLY, which cannot run inside a
-- transaction, so inside a procedure or a migration. Hence this function returns
-- the statements and the caller runs them one by one, outside a transaction:
--   psql:    SELECT statement FROM snapshot_index_statements() ORDER BY seq \gexec
--   runner:  executes each row's statement on its own (autocommit) connection.
-- A column counts as indexed when a VALID index has it as its first key column
-- (whatever its name). An INVALID index left by a failed concurrent build is
-- dropped (DROP INDEX CONCURRENTLY) before being created again. No row: nothing
-- to do. backfill_snapshots prints these statements when a run completes.
-- Locks: none (reads the catalogs). The returned statements take SHARE UPDATE
-- EXCLUSIVE on session_summaries (reads and writes go on while they run).
CREATE OR REPLACE FUNCTION snapshot_index_statements()
RETURNS TABLE (seq integer, index_name text, reason text, statement text)
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
    v_rel    regclass := to_regclass('session_summaries');
    v_schema text;
    w        record;
    v_seq    integer := 0;
BEGIN
    IF v_rel IS NULL THEN
        RETURN;
    END IF;
    SELECT n.nspname INTO v_schema
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = v_rel;

    FOR w IN
        SELECT t.col, t.idx, a.attnum
        FROM (VALUES ('snapshot_asn', 'ix_session_summaries_snapshot_asn'),
                     ('snapshot_country', 'ix_session_summaries_snapshot_country'),
                     ('snapshot_ip_type', 'ix_session_summaries_snapshot_ip_type')) AS t(col, idx)
        JOIN pg_attribute a ON a.attrelid = v_rel AND a.attname = t.col AND NOT a.attisdropped
        ORDER BY t.idx
    LOOP
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM pg_index i
            WHERE i.indrelid = v_rel AND i.indisvalid AND i.indkey[0] = w.attnum);
        IF EXISTS (
            SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
            WHERE i.indrelid = v_rel AND NOT i.indisvalid AND ic.relname = w.idx) THEN
            v_seq := v_seq + 1;
            seq := v_seq;
            index_name := w.idx;
            reason := 'invalid (a concurrent build failed): drop it, then build it again';
            statement := format('DROP INDEX CONCURRENTLY IF EXISTS %I.%I', v_schema, w.idx);
            RETURN NEXT;
        END IF;
        v_seq := v_seq + 1;
        seq := v_seq;
        index_name := w.idx;
        reason := format('no valid index on session_summaries.%s', w.col);
        statement := format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON %I.%I (%I)',
                            w.idx, v_schema, 'session_summaries', w.col);
        RETURN NEXT;
    END LOOP;

    -- Covering indexes for the runbooks' snapshot queries, so that they are answered
    -- by index-only scans (after VACUUM sets the visibility map): country + type
    -- counts and the snowshoe query (country, type, asn, distinct source_ip), and the
    -- ASN clustering (asn, country). Session rows are wide (the enrichment JSON), so
    -- without them the snapshot queries read far more than the JOIN they replace.
    FOR w IN
        SELECT * FROM (VALUES
            ('ix_session_summaries_snapshot_country_type',
             '(snapshot_country, snapshot_ip_type, snapshot_asn) INCLUDE (source_ip)',
             'covering index for the country/type counts and the snowshoe query'),
            ('ix_session_summaries_snapshot_asn_country',
             '(snapshot_asn, snapshot_country)',
             'covering index for the ASN clustering query')) AS t(idx, cols, why)
    LOOP
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
            WHERE i.indrelid = v_rel AND i.indisvalid AND ic.relname = w.idx);
        IF EXISTS (
            SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
            WHERE i.indrelid = v_rel AND NOT i.indisvalid AND ic.relname = w.idx) THEN
            v_seq := v_seq + 1;
            seq := v_seq;
            index_name := w.idx;
            reason := 'invalid (a concurrent build failed): drop it, then build it again';
            statement := format('DROP INDEX CONCURRENTLY IF EXISTS %I.%I', v_schema, w.idx);
            RETURN NEXT;
        END IF;
        v_seq := v_seq + 1;
        seq := v_seq;
        index_name := w.idx;
        reason := w.why;
        -- w.cols is a constant of this function, never user input.
        statement := format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON %I.%I %s',
                            w.idx, v_schema, 'session_summaries', w.cols);
        RETURN NEXT;
    END LOOP;
END
$fn$;
