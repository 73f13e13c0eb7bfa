-- snapshot_index_statements() -> (seq, index_name, reason, statement)
--
-- The statements that create the indexes the snapshot queries need on
-- session_summaries without blocking writes: CREATE INDEX CONCURRENTLY, which
-- cannot run inside a transaction, so inside a procedure or a migration. Hence this
-- function returns the statements and the caller runs them one by one, outside a
-- transaction:
--   psql:    SELECT statement FROM snapshot_index_statements() ORDER BY seq \gexec
--   runner:  executes each row's statement on its own (autocommit) connection.
-- The indexes:
--   * one per snapshot column (snapshot_asn, snapshot_country, snapshot_ip_type); such
--     a column counts as indexed when a VALID index has it as its first key column
--     (whatever its name);
--   * two covering indexes for the runbooks' queries, so that they are answered by
--     index-only scans (after VACUUM sets the visibility map): country + type counts
--     and the snowshoe query (country, type, asn, distinct source_ip), and the ASN
--     clustering (asn, country). Session rows are wide (the enrichment JSON), so
--     without them the snapshot queries read far more than the JOIN they replace.
--     These count as present when a VALID index of that name exists;
--   * ix_session_summaries_snapshot_open, a partial index on session_id of the
--     sessions that still have a NULL snapshot column (the predicate of the backfill
--     scan, backfill_snapshot_page): an incremental run reads only these, not the
--     whole table. Its cost to the application's writes is one index entry per
--     inserted (or non-HOT updated) row that has a NULL snapshot column, nothing for
--     the others (docs/backfill.md, "Incremental runs", has the measurement).
-- An INVALID index left by a failed concurrent build is dropped (DROP INDEX
-- CONCURRENTLY) before being created again. No row: nothing to do.
-- backfill_snapshots prints these statements when a run completes.
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

    -- lead_col: for the single-column indexes, any valid index led by it will do.
    -- cols is a constant of this function, never user input.
    FOR w IN
        SELECT t.idx, t.cols, t.why, a.attnum AS lead_attnum
        FROM (VALUES
            (1, 'ix_session_summaries_snapshot_asn', '(snapshot_asn)', 'snapshot_asn',
             'no valid index on session_summaries.snapshot_asn'),
            (2, 'ix_session_summaries_snapshot_country', '(snapshot_country)', 'snapshot_country',
             'no valid index on session_summaries.snapshot_country'),
            (3, 'ix_session_summaries_snapshot_ip_type', '(snapshot_ip_type)', 'snapshot_ip_type',
             'no valid index on session_summaries.snapshot_ip_type'),
            (4, 'ix_session_summaries_snapshot_country_type',
             '(snapshot_country, snapshot_ip_type, snapshot_asn) INCLUDE (source_ip)', NULL,
             'covering index for the country/type counts and the snowshoe query'),
            (5, 'ix_session_summaries_snapshot_asn_country',
             '(snapshot_asn, snapshot_country)', NULL,
             'covering index for the ASN clustering query'),
            (6, 'ix_session_summaries_snapshot_open',
             '(session_id) WHERE (source_ip IS NULL OR snapshot_asn IS NULL OR snapshot_country IS NULL'
             ' OR snapshot_ip_type IS NULL OR enrichment_at IS NULL)', NULL,
             'the sessions still open, for incremental backfill runs')) AS t(ord, idx, cols, lead_col, why)
        LEFT JOIN pg_attribute a ON a.attrelid = v_rel AND a.attname = t.lead_col AND NOT a.attisdropped
        WHERE t.lead_col IS NULL OR a.attnum IS NOT NULL
        ORDER BY t.ord
    LOOP
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
            WHERE i.indrelid = v_rel AND i.indisvalid
              AND (ic.relname = w.idx OR i.indkey[0] = w.lead_attnum));
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
        statement := format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON %I.%I %s',
                            w.idx, v_schema, 'session_summaries', w.cols);
        RETURN NEXT;
    END LOOP;
END
$fn$;
