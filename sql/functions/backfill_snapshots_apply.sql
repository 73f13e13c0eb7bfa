-- backfill_snapshots_apply(run_id, after_key, limit, dry_run, record_undo, phase, until_key)
--   -> (last_key, done, n_candidates, n_locked, n_updated, n_would_fill, first_key,
--       locked_at, n_scanned, n_filled, n_unchanged, n_rejected, n_no_inventory, n_deferred)
--
-- ONE set-based step of a backfill run, as a single SQL statement (the internal
-- worker of backfill_snapshots_batch, which adds the error isolation; call that one).
--   phase 'scan':  the next p_limit sessions after p_after_key, up to p_until_key
--                  (primary-key order, keyset: no OFFSET; a worker's key range) that
--                  have at least one NULL snapshot column;
--   phase 'sweep': the next p_limit entries of this run's backfill_deferred list.
-- Steps, in this order:
--   1. reads those sessions and computes their snapshot values once per row
--      (backfill_snapshot_page), before taking any row lock, so that the locks
--      are held only for the writes;
--   2. locks FOR NO KEY UPDATE SKIP LOCKED, by ctid, only the rows that
--      get a value. A row locked by another transaction is not waited for, and a row
--      updated since step 1 (its lock lands on a newer version at another ctid) is
--      not used: both go to backfill_deferred and the sweep phase retries them. A
--      row still at the ctid read in step 1 is exactly the version the values were
--      computed from;
--   3. UPDATEs the locked rows, only their NULL columns (COALESCE on the row: a
--      value someone else wrote is never overwritten); rejected rows and rows with
--      nothing to fill are not touched (nor locked);
--   4. records rejects, the undo log (old and new values, when p_record_undo), the
--      deferred list, the sessions decided and still open in backfill_settled (the
--      version decided on: the one read, or the one the UPDATE wrote; with the IP
--      and the ip_inventory row version seen), and adds the counters and the
--      checkpoint (last_key or sweep_key) to backfill_runs -- all in the same
--      statement, so in the same transaction as the data.
-- p_dry_run: the step is backfill_snapshots_apply_dry's (steps 1 and 4 only, for
--   the scan phase; a dry run has no sweep).
-- done is true when the step found nothing left (end of the pass). locked_at is
-- when step 2 began (NULL when nothing was locked). n_scanned .. n_deferred are this
-- step's own additions to the run's counters (n_deferred: net change of the deferred
-- list), so that a caller never has to read the run's row back: with parallel workers
-- that row also holds the other workers' batches.
-- Locks (a real step; a dry one: see backfill_snapshots_apply_dry):
--   FOR NO KEY UPDATE row locks (never waited for) on at most p_limit rows of
--   session_summaries, held until the caller's transaction ends; ROW EXCLUSIVE on
--   session_summaries and the backfill_* tables (backfill_settled included); FOR KEY SHARE on the ip_inventory
--   rows referenced by the new source_ip values (foreign key check).

CREATE OR REPLACE FUNCTION backfill_snapshots_apply(
    p_run_id      bigint,
    p_after_key   text,
    p_limit       integer,
    p_dry_run     boolean,
    p_record_undo boolean,
    p_phase       text,
    p_until_key   text DEFAULT NULL)
RETURNS TABLE (
    last_key       text,
    done           boolean,
    n_candidates   integer,
    n_locked       integer,
    n_updated      integer,
    n_would_fill   integer,
    first_key      text,
    locked_at      timestamptz,
    n_scanned      integer,
    n_filled       integer,
    n_unchanged    integer,
    n_rejected     integer,
    n_no_inventory integer,
    n_deferred     integer)
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF p_dry_run IS NULL OR p_phase IS NULL OR p_phase NOT IN ('scan', 'sweep')
       OR (p_dry_run AND p_phase <> 'scan') THEN
        RAISE EXCEPTION 'backfill_snapshots_apply: dry_run must be true or false and phase ''scan'' or ''sweep'' (a dry run has no sweep); got dry_run %, phase %',
            p_dry_run, p_phase
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_dry_run THEN
        -- its own statement, and a plan of its own (see backfill_snapshots_apply_dry)
        RETURN QUERY SELECT * FROM backfill_snapshots_apply_dry(p_run_id, p_after_key, p_limit, p_until_key);
        RETURN;
    END IF;
    RETURN QUERY
    -- the sweep's page of the deferred list: the same as backfill_snapshot_page reads
    WITH drange AS MATERIALIZED (
        SELECT d.session_id
        FROM backfill_deferred_page(p_run_id, p_after_key, p_limit) d
        WHERE p_phase = 'sweep'
    ),
    -- step 1: the batch's sessions, as this statement's snapshot sees them, with the
    -- snapshot rule's values for each (computed once per row). The flags and keys come
    -- first: a materialized row is unpacked up to the last column a reader uses, and
    -- most readers below only filter on fill or read the key and the tid.
    cand AS MATERIALIZED (
        SELECT c.fill, c.tid, c.f_ip, c.f_asn, c.f_country, c.f_type, c.f_at, c.in_inventory, c.ip_keys,
               c.session_id, c.reject_reason, c.reject_detail, c.row_xmin, c.parsed_ip,
               c.asn_source, c.country_source, c.ip_type_source, c.enrichment_at_source,
               c.source_ip, c.snapshot_asn, c.snapshot_country, c.snapshot_ip_type, c.enrichment_at,
               c.new_source_ip, c.new_snapshot_asn, c.new_snapshot_country, c.new_snapshot_ip_type,
               c.new_enrichment_at
        FROM backfill_snapshot_page(p_run_id, p_after_key, p_limit, p_phase, p_until_key) c
    ),
    -- step 2: the ARRAY is computed from the whole of cand first, so no row is locked
    -- before every value of the batch is known
    lock_attempt AS MATERIALIZED (
        SELECT s.ctid AS tid, clock_timestamp() AS at
        FROM session_summaries s
        WHERE s.ctid = ANY (ARRAY(SELECT c.tid FROM cand c WHERE c.fill))
        FOR NO KEY UPDATE OF s SKIP LOCKED
    ),
    -- the rows this step changes; a row whose lock landed on a newer version (another
    -- ctid) is not among them. In heap order, so that the
    -- UPDATE visits the pages in order (primary-key order is random in the heap).
    todo AS MATERIALIZED (
        SELECT c.*
        FROM cand c
        WHERE c.fill
          AND c.tid IN (SELECT l.tid FROM lock_attempt l)
        ORDER BY c.tid
    ),
    upd AS (
        UPDATE session_summaries s
        SET source_ip        = COALESCE(s.source_ip, x.new_source_ip),
            snapshot_asn     = COALESCE(s.snapshot_asn, x.new_snapshot_asn),
            snapshot_country = COALESCE(s.snapshot_country, x.new_snapshot_country),
            snapshot_ip_type = COALESCE(s.snapshot_ip_type, x.new_snapshot_ip_type),
            enrichment_at    = COALESCE(s.enrichment_at, x.new_enrichment_at)
        FROM todo x
        WHERE s.ctid = x.tid
        RETURNING s.session_id,
                  x.source_ip AS old_source_ip, x.snapshot_asn AS old_snapshot_asn,
                  x.snapshot_country AS old_snapshot_country, x.snapshot_ip_type AS old_snapshot_ip_type,
                  x.enrichment_at AS old_enrichment_at,
                  s.source_ip, s.snapshot_asn, s.snapshot_country, s.snapshot_ip_type, s.enrichment_at,
                  s.ctid AS new_tid, s.xmin AS new_xmin, x.parsed_ip,
                  (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
                   OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL) AS still_open
    ),
    -- incremental runs: the sessions decided now that keep a NULL column, in the
    -- version decided on (the one read; for a filled row the one this UPDATE wrote),
    -- so that the next run skips them until that version changes. The IP a non-reject
    -- waits for and the ip_inventory row version seen (this statement's snapshot, the
    -- one the rule read): a later run looks again when that inventory row appears or
    -- changes. Rows deferred are not settled: the sweep decides them.
    ins_settled AS (
        INSERT INTO backfill_settled AS st (session_id, row_tid, row_xmin, ip, inv_xmin, rejected,
                                            rule_version, run_id)
        SELECT y.session_id, y.tid, y.txmin, y.ip, i.xmin, y.rejected, rv.v, p_run_id
        FROM (SELECT x.session_id, x.tid, x.row_xmin AS txmin,
                     CASE WHEN x.reject_reason IS NULL THEN x.parsed_ip END AS ip,
                     x.reject_reason IS NOT NULL AS rejected
              FROM cand x
              WHERE NOT x.fill
              UNION ALL
              SELECT u.session_id, u.new_tid, u.new_xmin, u.parsed_ip, false
              FROM upd u
              WHERE u.still_open) y
        CROSS JOIN (SELECT backfill_rule_version() AS v) rv
        LEFT JOIN ip_inventory i ON i.ip_address = y.ip
        ON CONFLICT (session_id) DO UPDATE
            SET row_tid = EXCLUDED.row_tid, row_xmin = EXCLUDED.row_xmin, ip = EXCLUDED.ip,
                inv_xmin = EXCLUDED.inv_xmin, rejected = EXCLUDED.rejected,
                rule_version = EXCLUDED.rule_version, run_id = EXCLUDED.run_id,
                settled_at = now()
    ),
    ins_undo AS (
        INSERT INTO backfill_undo (
            run_id, session_id,
            old_source_ip, old_snapshot_asn, old_snapshot_country, old_snapshot_ip_type, old_enrichment_at,
            new_source_ip, new_snapshot_asn, new_snapshot_country, new_snapshot_ip_type, new_enrichment_at)
        SELECT p_run_id, u.session_id,
               u.old_source_ip, u.old_snapshot_asn, u.old_snapshot_country, u.old_snapshot_ip_type,
               u.old_enrichment_at,
               u.source_ip, u.snapshot_asn, u.snapshot_country, u.snapshot_ip_type, u.enrichment_at
        FROM upd u
        WHERE p_record_undo
    ),
    ins_rej AS (
        INSERT INTO backfill_rejects AS r (run_id, session_id, reason, detail)
        SELECT p_run_id, x.session_id, x.reject_reason, x.reject_detail
        FROM cand x
        WHERE x.reject_reason IS NOT NULL
        ON CONFLICT (run_id, session_id) DO UPDATE
            SET reason = EXCLUDED.reason, detail = EXCLUDED.detail, rejected_at = now()
    ),
    -- rows that would get a value but could not be locked as read: retried later
    skipped AS MATERIALIZED (
        SELECT c.session_id
        FROM cand c
        WHERE c.fill
          AND c.tid NOT IN (SELECT t.tid FROM todo t)
    ),
    ins_def AS (
        INSERT INTO backfill_deferred (run_id, session_id)
        SELECT p_run_id, k.session_id
        FROM skipped k
        WHERE p_phase = 'scan'
        ON CONFLICT (run_id, session_id) DO NOTHING
        RETURNING 1
    ),
    del_def AS (
        DELETE FROM backfill_deferred d
        USING drange dr
        WHERE p_phase = 'sweep'
          AND d.run_id = p_run_id
          AND d.session_id = dr.session_id
          AND NOT EXISTS (SELECT 1 FROM skipped k WHERE k.session_id = dr.session_id)
        RETURNING d.session_id
    ),
    -- outcomes of the rows decided now: those with nothing to fill (unchanged or
    -- rejected) and those filled; skipped rows are counted when a sweep decides them.
    -- settled also reads the page's size and keys, in the same pass over cand.
    settled AS (
        SELECT count(*) FILTER (WHERE NOT x.fill)::integer AS n,
               count(*) FILTER (WHERE NOT x.fill AND x.reject_reason IS NOT NULL) AS n_rej,
               count(*) FILTER (WHERE NOT x.fill AND x.reject_reason IS NULL) AS n_same,
               count(*) FILTER (WHERE NOT x.fill AND x.reject_reason IS NULL AND NOT x.in_inventory) AS n_noinv,
               count(*) FILTER (WHERE NOT x.fill AND x.ip_keys > 1) AS n_multi,
               count(*)::integer AS n_cand,
               max(x.session_id)::text AS kmax,
               min(x.session_id)::text AS kmin
        FROM cand x
    ),
    filled AS (
        SELECT count(*)::integer AS n,
               count(*) FILTER (WHERE NOT x.in_inventory) AS n_noinv,
               count(*) FILTER (WHERE x.ip_keys > 1) AS n_multi,
               count(*) FILTER (WHERE x.f_ip) AS f_ip,
               count(*) FILTER (WHERE x.f_asn) AS f_asn,
               count(*) FILTER (WHERE x.f_country) AS f_country,
               count(*) FILTER (WHERE x.f_type) AS f_type,
               count(*) FILTER (WHERE x.f_at) AS f_at,
               count(*) FILTER (WHERE x.f_asn AND x.asn_source = 'json') AS asn_json,
               count(*) FILTER (WHERE x.f_asn AND x.asn_source = 'history') AS asn_hist,
               count(*) FILTER (WHERE x.f_asn AND x.asn_source = 'inventory') AS asn_inv,
               count(*) FILTER (WHERE x.f_country AND x.country_source = 'json') AS c_json,
               count(*) FILTER (WHERE x.f_country AND x.country_source = 'inventory') AS c_inv,
               count(*) FILTER (WHERE x.f_country AND x.country_source = 'default') AS c_def,
               count(*) FILTER (WHERE x.f_type AND x.ip_type_source = 'json') AS t_json,
               count(*) FILTER (WHERE x.f_type AND x.ip_type_source = 'inventory') AS t_inv,
               count(*) FILTER (WHERE x.f_at AND x.enrichment_at_source = 'json') AS at_json,
               count(*) FILTER (WHERE x.f_at AND x.enrichment_at_source = 'session') AS at_sess,
               count(*) FILTER (WHERE x.f_at AND x.enrichment_at_source = 'inventory') AS at_inv
        FROM todo x
    ),
    agg AS MATERIALIZED (
        SELECT st.n_cand,
               (SELECT count(*) FROM upd)::integer AS n_upd,
               (SELECT min(l.at) FROM lock_attempt l) AS locked_at,
               CASE WHEN p_phase = 'sweep' THEN (SELECT max(dr.session_id) FROM drange dr)
                    ELSE st.kmax END AS kmax,
               CASE WHEN p_phase = 'sweep' THEN (SELECT min(dr.session_id) FROM drange dr)
                    ELSE st.kmin END AS kmin,
               (SELECT count(*) FROM ins_def)::integer AS n_def_add,
               (SELECT count(*) FROM del_def)::integer AS n_def_del,
               (SELECT count(*) FROM del_def dd
                 WHERE NOT EXISTS (SELECT 1 FROM cand c WHERE c.session_id = dd.session_id))::integer AS n_elsewhere,
               st.n + f.n AS n_counted, st.n_rej, st.n_same, f.n AS n_fill, st.n_noinv + f.n_noinv AS n_noinv,
               st.n_multi + f.n_multi AS n_multi,
               f.f_ip, f.f_asn, f.f_country, f.f_type, f.f_at, f.asn_json, f.asn_hist, f.asn_inv,
               f.c_json, f.c_inv, f.c_def, f.t_json, f.t_inv, f.at_json, f.at_sess, f.at_inv
        FROM settled st, filled f
    ),
    upd_run AS (
        UPDATE backfill_runs r
        SET rows_scanned = r.rows_scanned + CASE WHEN p_phase = 'scan' THEN a.n_cand ELSE 0 END,
            rows_filled = r.rows_filled + a.n_fill,
            rows_unchanged = r.rows_unchanged + a.n_same,
            rows_rejected = r.rows_rejected + a.n_rej,
            rows_no_inventory = r.rows_no_inventory + a.n_noinv,
            rows_deferred = r.rows_deferred + a.n_def_add - a.n_def_del,
            rows_resolved_elsewhere = r.rows_resolved_elsewhere + a.n_elsewhere,
            rows_multi_ip = r.rows_multi_ip + a.n_multi,
            filled_source_ip = r.filled_source_ip + a.f_ip,
            filled_snapshot_asn = r.filled_snapshot_asn + a.f_asn,
            filled_snapshot_country = r.filled_snapshot_country + a.f_country,
            filled_snapshot_ip_type = r.filled_snapshot_ip_type + a.f_type,
            filled_enrichment_at = r.filled_enrichment_at + a.f_at,
            asn_from_json = r.asn_from_json + a.asn_json,
            asn_from_history = r.asn_from_history + a.asn_hist,
            asn_from_inventory = r.asn_from_inventory + a.asn_inv,
            country_from_json = r.country_from_json + a.c_json,
            country_from_inventory = r.country_from_inventory + a.c_inv,
            country_default = r.country_default + a.c_def,
            ip_type_from_json = r.ip_type_from_json + a.t_json,
            ip_type_from_inventory = r.ip_type_from_inventory + a.t_inv,
            enrichment_at_from_json = r.enrichment_at_from_json + a.at_json,
            enrichment_at_from_session = r.enrichment_at_from_session + a.at_sess,
            enrichment_at_from_inventory = r.enrichment_at_from_inventory + a.at_inv,
            last_key = CASE WHEN p_phase = 'scan' THEN COALESCE(a.kmax, r.last_key) ELSE r.last_key END,
            sweep_key = CASE WHEN p_phase = 'sweep' THEN COALESCE(a.kmax, r.sweep_key) ELSE r.sweep_key END,
            updated_at = clock_timestamp()
        FROM agg a
        WHERE r.run_id = p_run_id
        RETURNING r.run_id
    )
    SELECT a.kmax, a.kmax IS NULL, a.n_cand, a.n_counted, a.n_upd, a.n_fill, a.kmin, a.locked_at,
           CASE WHEN p_phase = 'scan' THEN a.n_cand ELSE 0 END, a.n_fill, a.n_same::integer, a.n_rej::integer,
           a.n_noinv::integer, a.n_def_add - a.n_def_del
    FROM agg a;
END
$fn$;
