-- backfill_snapshot_page(run_id, after_key, limit, phase, until_key) -> the page's
--   sessions with their snapshot values
--
-- The sessions one step of a backfill run looks at, as the calling statement's
-- snapshot sees them, each with the snapshot rule's values (backfill_snapshot_source)
-- and what a fill would do to it. Shared by the real step (backfill_snapshots_apply)
-- and the dry one (backfill_snapshots_apply_dry), so that a dry run computes exactly
-- what a real run would change.
--   phase 'scan':  the next p_limit sessions after p_after_key and up to p_until_key
--                  included (primary-key order, keyset: no OFFSET; NULL = from the
--                  first, to the last: a worker's key range) that have at least one
--                  NULL snapshot column and that no earlier run settled in the version
--                  they have now (backfill_settled: same ctid and xmin; this makes a
--                  run incremental, see docs/backfill.md). The partial index
--                  ix_session_summaries_snapshot_open (snapshot_index_statements)
--                  holds exactly the sessions with a NULL snapshot column, so a run
--                  reads only those, not the whole table;
--   phase 'sweep': those of the next p_limit entries of this run's backfill_deferred
--                  list after p_after_key (backfill_deferred_page) that still have one.
-- tid and row_xmin identify the row version read (its ctid and xmin). f_* = that
-- NULL column gets a value (never on a rejected session); fill = any of them.
-- A session whose enrichment holds a \u0000 escape is a 'row_error' reject from the rule
-- itself (shape 'unreadable'): no statement fails on it, so no batch is retried in halves
-- with its row locks held.
-- LANGUAGE sql with a single SELECT: inlined into the caller's statement, so its
-- parameters become the caller's and the plan is the caller's.
-- Locks: none (reads session_summaries, backfill_deferred and the rule's lookups).
CREATE OR REPLACE FUNCTION backfill_snapshot_page(
    p_run_id    bigint,
    p_after_key text,
    p_limit     integer,
    p_phase     text,
    p_until_key text DEFAULT NULL)
RETURNS TABLE (
    session_id           varchar(64),
    tid                  tid,
    row_xmin             xid,
    source_ip            varchar(45),
    snapshot_asn         integer,
    snapshot_country     varchar(2),
    snapshot_ip_type     text,
    enrichment_at        timestamptz,
    parsed_ip            text,
    in_inventory         boolean,
    new_source_ip        varchar(45),
    new_snapshot_asn     integer,
    asn_source           text,
    new_snapshot_country varchar(2),
    country_source       text,
    new_snapshot_ip_type text,
    ip_type_source       text,
    new_enrichment_at    timestamptz,
    enrichment_at_source text,
    reject_reason        text,
    reject_detail        text,
    ip_keys              integer,
    shape                text,
    f_ip                 boolean,
    f_asn                boolean,
    f_country            boolean,
    f_type               boolean,
    f_at                 boolean,
    fill                 boolean)
LANGUAGE sql STABLE
AS $fn$
SELECT v.*, (v.f_ip OR v.f_asn OR v.f_country OR v.f_type OR v.f_at) AS fill
FROM (
  SELECT w.*,
         (w.reject_reason IS NULL AND w.source_ip IS NULL AND w.new_source_ip IS NOT NULL) AS f_ip,
         (w.reject_reason IS NULL AND w.snapshot_asn IS NULL AND w.new_snapshot_asn IS NOT NULL) AS f_asn,
         (w.reject_reason IS NULL AND w.snapshot_country IS NULL AND w.new_snapshot_country IS NOT NULL) AS f_country,
         (w.reject_reason IS NULL AND w.snapshot_ip_type IS NULL AND w.new_snapshot_ip_type IS NOT NULL) AS f_type,
         (w.reject_reason IS NULL AND w.enrichment_at IS NULL AND w.new_enrichment_at IS NOT NULL) AS f_at
  FROM (
    SELECT k.session_id, k.tid, k.row_xmin, k.source_ip, k.snapshot_asn, k.snapshot_country,
           k.snapshot_ip_type, k.enrichment_at, src.*
    FROM (
        -- the first page, the next ones (each with and without an upper bound), the
        -- sweep: separate branches, so that each reads the primary key (or the open
        -- sessions' partial index) as a plain index range bounded on both ends (or,
        -- for the sweep, probes it once per deferred entry) whichever plan PL/pgSQL
        -- caches. The backfill_settled test is a scalar subquery on purpose:
        -- it stays one primary-key probe per session read, never a hash of the whole
        -- settled table per page.
        (SELECT s.session_id, s.ctid AS tid, s.xmin AS row_xmin, s.enrichment, s.first_event_at, s.created_at, s.source_ip,
                s.snapshot_asn, s.snapshot_country, s.snapshot_ip_type, s.enrichment_at
         FROM session_summaries s
         WHERE p_phase = 'scan' AND p_after_key IS NULL AND p_until_key IS NULL
           AND (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
                OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL)
           AND NOT COALESCE((SELECT st.row_tid = s.ctid AND st.row_xmin = s.xmin
                             FROM backfill_settled st WHERE st.session_id = s.session_id), false)
         ORDER BY s.session_id
         LIMIT p_limit)
        UNION ALL
        (SELECT s.session_id, s.ctid AS tid, s.xmin AS row_xmin, s.enrichment, s.first_event_at, s.created_at, s.source_ip,
                s.snapshot_asn, s.snapshot_country, s.snapshot_ip_type, s.enrichment_at
         FROM session_summaries s
         WHERE p_phase = 'scan' AND p_after_key IS NOT NULL AND p_until_key IS NULL
           AND s.session_id > p_after_key
           AND (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
                OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL)
           AND NOT COALESCE((SELECT st.row_tid = s.ctid AND st.row_xmin = s.xmin
                             FROM backfill_settled st WHERE st.session_id = s.session_id), false)
         ORDER BY s.session_id
         LIMIT p_limit)
        UNION ALL
        (SELECT s.session_id, s.ctid AS tid, s.xmin AS row_xmin, s.enrichment, s.first_event_at, s.created_at, s.source_ip,
                s.snapshot_asn, s.snapshot_country, s.snapshot_ip_type, s.enrichment_at
         FROM session_summaries s
         WHERE p_phase = 'scan' AND p_after_key IS NULL AND p_until_key IS NOT NULL
           AND s.session_id <= p_until_key
           AND (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
                OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL)
           AND NOT COALESCE((SELECT st.row_tid = s.ctid AND st.row_xmin = s.xmin
                             FROM backfill_settled st WHERE st.session_id = s.session_id), false)
         ORDER BY s.session_id
         LIMIT p_limit)
        UNION ALL
        (SELECT s.session_id, s.ctid AS tid, s.xmin AS row_xmin, s.enrichment, s.first_event_at, s.created_at, s.source_ip,
                s.snapshot_asn, s.snapshot_country, s.snapshot_ip_type, s.enrichment_at
         FROM session_summaries s
         WHERE p_phase = 'scan' AND p_after_key IS NOT NULL AND p_until_key IS NOT NULL
           AND s.session_id > p_after_key
           AND s.session_id <= p_until_key
           AND (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
                OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL)
           AND NOT COALESCE((SELECT st.row_tid = s.ctid AND st.row_xmin = s.xmin
                             FROM backfill_settled st WHERE st.session_id = s.session_id), false)
         ORDER BY s.session_id
         LIMIT p_limit)
        UNION ALL
        (SELECT s.session_id, s.ctid AS tid, s.xmin AS row_xmin, s.enrichment, s.first_event_at, s.created_at, s.source_ip,
                s.snapshot_asn, s.snapshot_country, s.snapshot_ip_type, s.enrichment_at
         FROM backfill_deferred_page(p_run_id, p_after_key, p_limit) dr
         JOIN session_summaries s ON s.session_id = dr.session_id
         WHERE p_phase = 'sweep'
           AND (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
                OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL))
    ) k
    CROSS JOIN LATERAL backfill_snapshot_source(k.enrichment, k.first_event_at, k.created_at) src
    -- fence: the rule's outputs are computed once per row here. Without it the
    -- inlined rule is pulled up and every reference to an output (the f_* flags
    -- read reject_reason five times) evaluates its expression again.
    OFFSET 0
  ) w
) v
$fn$;
