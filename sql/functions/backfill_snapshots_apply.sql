-- backfill_snapshots_apply(run_id, after_key, limit, dry_run, record_undo, phase)
--   -> (last_key, done, n_candidates, n_locked, n_updated, n_would_fill, first_key)
--
-- ONE set-based step of a backfill run, as a single SQL statement (the internal
-- worker of backfill_snapshots_batch, which adds the error isolation; call that one).
--   phase 'scan':  the next p_limit sessions after p_after_key (primary-key order,
--                  keyset: no OFFSET) that have at least one NULL snapshot column;
--   phase 'sweep': the next p_limit entries of this run's backfill_deferred list.
-- Real run (p_dry_run = false):
--   1. locks those rows FOR NO KEY UPDATE SKIP LOCKED, by their ctid (the rows were
--      just found; a row locked by another transaction is not waited for, and a row
--      updated since the scan began (new ctid) is not used: both go to
--      backfill_deferred and the sweep phase retries them);
--   2. computes the snapshot values once per row (backfill_snapshot_source);
--   3. UPDATEs only the columns that are NULL in the locked row (COALESCE on the
--      locked version: a value someone else wrote is never overwritten), and only
--      rows where at least one column changes; rejected rows are not touched;
--   4. records rejects, the undo log (old and new values, when p_record_undo),
--      the deferred list, and adds the counters and the checkpoint (last_key or
--      sweep_key) to backfill_runs -- all in the same statement, so in the same
--      transaction as the data.
-- Dry run: the same candidates and the same computation, without locks and
--   without writing to session_summaries; counters, rejects and a sample of up to
--   20 would-be changes (backfill_runs.sample) are recorded for the dry-run's run.
-- done is true when the step found nothing left (end of the pass).
-- Locks: FOR NO KEY UPDATE row locks (never waited for) on at most p_limit rows of
--   session_summaries, held until the caller's transaction ends; ROW EXCLUSIVE on
--   session_summaries and the backfill_* tables; FOR KEY SHARE on the ip_inventory
--   rows referenced by the new source_ip values (foreign key check).
CREATE OR REPLACE FUNCTION backfill_snapshots_apply(
    p_run_id      bigint,
    p_after_key   text,
    p_limit       integer,
    p_dry_run     boolean,
    p_record_undo boolean,
    p_phase       text)
RETURNS TABLE (
    last_key      text,
    done          boolean,
    n_candidates  integer,
    n_locked      integer,
    n_updated     integer,
    n_would_fill  integer,
    first_key     text)
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF p_dry_run THEN
        RETURN QUERY
        WITH cand AS MATERIALIZED (
            (SELECT s.session_id, s.enrichment, s.first_event_at, s.source_ip, s.snapshot_asn,
                    s.snapshot_country, s.snapshot_ip_type, s.enrichment_at
             FROM session_summaries s
             WHERE p_after_key IS NULL
               AND (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
                    OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL)
             ORDER BY s.session_id
             LIMIT p_limit)
            UNION ALL
            (SELECT s.session_id, s.enrichment, s.first_event_at, s.source_ip, s.snapshot_asn,
                    s.snapshot_country, s.snapshot_ip_type, s.enrichment_at
             FROM session_summaries s
             WHERE p_after_key IS NOT NULL
               AND s.session_id > p_after_key
               AND (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
                    OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL)
             ORDER BY s.session_id
             LIMIT p_limit)
        ),
        computed AS MATERIALIZED (
            SELECT c.session_id, c.source_ip, c.snapshot_asn, c.snapshot_country,
                   c.snapshot_ip_type, c.enrichment_at, src.*,
                   (src.reject_reason IS NULL AND c.source_ip IS NULL AND src.new_source_ip IS NOT NULL) AS f_ip,
                   (src.reject_reason IS NULL AND c.snapshot_asn IS NULL AND src.new_snapshot_asn IS NOT NULL) AS f_asn,
                   (src.reject_reason IS NULL AND c.snapshot_country IS NULL AND src.new_snapshot_country IS NOT NULL) AS f_country,
                   (src.reject_reason IS NULL AND c.snapshot_ip_type IS NULL AND src.new_snapshot_ip_type IS NOT NULL) AS f_type,
                   (src.reject_reason IS NULL AND c.enrichment_at IS NULL AND src.new_enrichment_at IS NOT NULL) AS f_at
            FROM cand c
            CROSS JOIN LATERAL backfill_snapshot_source(c.enrichment, c.first_event_at) src
        ),
        agg AS MATERIALIZED (
            SELECT count(*)::integer AS n,
                   max(x.session_id)::text AS kmax,
                   min(x.session_id)::text AS kmin,
                   count(*) FILTER (WHERE x.reject_reason IS NOT NULL) AS n_rej,
                   count(*) FILTER (WHERE x.f_ip OR x.f_asn OR x.f_country OR x.f_type OR x.f_at) AS n_fill,
                   count(*) FILTER (WHERE x.reject_reason IS NULL
                                      AND NOT (x.f_ip OR x.f_asn OR x.f_country OR x.f_type OR x.f_at)) AS n_same,
                   count(*) FILTER (WHERE x.reject_reason IS NULL AND NOT x.in_inventory) AS n_noinv,
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
                   count(*) FILTER (WHERE x.f_at AND x.enrichment_at_source = 'inventory') AS at_inv
            FROM computed x
        ),
        ins_rej AS (
            INSERT INTO backfill_rejects AS r (run_id, session_id, reason, detail)
            SELECT p_run_id, x.session_id, x.reject_reason, x.reject_detail
            FROM computed x
            WHERE x.reject_reason IS NOT NULL
            ON CONFLICT (run_id, session_id) DO UPDATE
                SET reason = EXCLUDED.reason, detail = EXCLUDED.detail, rejected_at = now()
        ),
        upd_run AS (
            UPDATE backfill_runs r
            SET rows_scanned = r.rows_scanned + a.n,
                rows_filled = r.rows_filled + a.n_fill,
                rows_unchanged = r.rows_unchanged + a.n_same,
                rows_rejected = r.rows_rejected + a.n_rej,
                rows_no_inventory = r.rows_no_inventory + a.n_noinv,
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
                enrichment_at_from_inventory = r.enrichment_at_from_inventory + a.at_inv,
                last_key = COALESCE(a.kmax, r.last_key),
                sample = CASE
                    WHEN jsonb_array_length(r.sample) >= 20 OR a.n_fill = 0 THEN r.sample
                    ELSE r.sample || COALESCE((
                        SELECT jsonb_agg(jsonb_build_object(
                                   'session_id', y.session_id,
                                   'old', jsonb_build_object(
                                       'source_ip', y.source_ip, 'snapshot_asn', y.snapshot_asn,
                                       'snapshot_country', y.snapshot_country,
                                       'snapshot_ip_type', y.snapshot_ip_type,
                                       'enrichment_at', y.enrichment_at),
                                   'new', jsonb_build_object(
                                       'source_ip', COALESCE(y.source_ip, y.new_source_ip),
                                       'snapshot_asn', COALESCE(y.snapshot_asn, y.new_snapshot_asn),
                                       'snapshot_country', COALESCE(y.snapshot_country, y.new_snapshot_country),
                                       'snapshot_ip_type', COALESCE(y.snapshot_ip_type, y.new_snapshot_ip_type),
                                       'enrichment_at', COALESCE(y.enrichment_at, y.new_enrichment_at)),
                                   'sources', jsonb_build_object(
                                       'asn', y.asn_source, 'country', y.country_source,
                                       'ip_type', y.ip_type_source, 'enrichment_at', y.enrichment_at_source,
                                       'in_inventory', y.in_inventory))
                               ORDER BY y.session_id)
                        FROM (SELECT * FROM computed z
                              WHERE z.f_ip OR z.f_asn OR z.f_country OR z.f_type OR z.f_at
                              ORDER BY z.session_id
                              LIMIT 20 - jsonb_array_length(r.sample)) y), '[]'::jsonb)
                END,
                updated_at = clock_timestamp()
            FROM agg a
            WHERE r.run_id = p_run_id
            RETURNING r.run_id
        )
        SELECT a.kmax, a.n = 0, a.n, a.n, 0, a.n_fill::integer, a.kmin
        FROM agg a;
        RETURN;
    END IF;

    RETURN QUERY
    WITH drange AS MATERIALIZED (
        SELECT d.session_id
        FROM backfill_deferred d
        WHERE p_phase = 'sweep'
          AND d.run_id = p_run_id
          AND (p_after_key IS NULL OR d.session_id > p_after_key)
        ORDER BY d.session_id
        LIMIT p_limit
    ),
    cand AS MATERIALIZED (
        (SELECT s.session_id, s.ctid AS tid
         FROM session_summaries s
         WHERE p_phase = 'scan' AND p_after_key IS NULL
           AND (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
                OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL)
         ORDER BY s.session_id
         LIMIT p_limit)
        UNION ALL
        (SELECT s.session_id, s.ctid AS tid
         FROM session_summaries s
         WHERE p_phase = 'scan' AND p_after_key IS NOT NULL
           AND s.session_id > p_after_key
           AND (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
                OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL)
         ORDER BY s.session_id
         LIMIT p_limit)
        UNION ALL
        (SELECT s.session_id, s.ctid AS tid
         FROM drange dr
         JOIN session_summaries s ON s.session_id = dr.session_id
         WHERE p_phase = 'sweep'
           AND (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
                OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL))
    ),
    lock_attempt AS MATERIALIZED (
        SELECT s.session_id, s.ctid AS tid, s.enrichment, s.first_event_at, s.source_ip,
               s.snapshot_asn, s.snapshot_country, s.snapshot_ip_type, s.enrichment_at
        FROM session_summaries s
        WHERE s.ctid = ANY (ARRAY(SELECT c.tid FROM cand c))
          AND (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
               OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL)
        FOR NO KEY UPDATE OF s SKIP LOCKED
    ),
    -- A row updated by a transaction that committed after this statement's snapshot
    -- is locked in its newest version (EvalPlanQual), at a new ctid that the UPDATE
    -- below cannot see with this snapshot: it would be counted as done but left
    -- unfilled. Only rows still at the ctid the scan found are processed; a moved row
    -- is treated as skipped (deferred, then retried by the sweep).
    locked AS MATERIALIZED (
        SELECT l.*
        FROM lock_attempt l
        JOIN cand c ON c.tid = l.tid
    ),
    computed AS MATERIALIZED (
        SELECT l.session_id, l.tid, l.source_ip, l.snapshot_asn, l.snapshot_country,
               l.snapshot_ip_type, l.enrichment_at, src.*,
               (src.reject_reason IS NULL AND l.source_ip IS NULL AND src.new_source_ip IS NOT NULL) AS f_ip,
               (src.reject_reason IS NULL AND l.snapshot_asn IS NULL AND src.new_snapshot_asn IS NOT NULL) AS f_asn,
               (src.reject_reason IS NULL AND l.snapshot_country IS NULL AND src.new_snapshot_country IS NOT NULL) AS f_country,
               (src.reject_reason IS NULL AND l.snapshot_ip_type IS NULL AND src.new_snapshot_ip_type IS NOT NULL) AS f_type,
               (src.reject_reason IS NULL AND l.enrichment_at IS NULL AND src.new_enrichment_at IS NOT NULL) AS f_at
        FROM locked l
        CROSS JOIN LATERAL backfill_snapshot_source(l.enrichment, l.first_event_at) src
    ),
    upd AS (
        UPDATE session_summaries s
        SET source_ip        = COALESCE(s.source_ip, x.new_source_ip),
            snapshot_asn     = COALESCE(s.snapshot_asn, x.new_snapshot_asn),
            snapshot_country = COALESCE(s.snapshot_country, x.new_snapshot_country),
            snapshot_ip_type = COALESCE(s.snapshot_ip_type, x.new_snapshot_ip_type),
            enrichment_at    = COALESCE(s.enrichment_at, x.new_enrichment_at)
        FROM computed x
        WHERE s.ctid = x.tid
          AND (x.f_ip OR x.f_asn OR x.f_country OR x.f_type OR x.f_at)
        RETURNING s.session_id, s.source_ip, s.snapshot_asn, s.snapshot_country,
                  s.snapshot_ip_type, s.enrichment_at
    ),
    ins_undo AS (
        INSERT INTO backfill_undo AS b (
            run_id, session_id,
            old_source_ip, old_snapshot_asn, old_snapshot_country, old_snapshot_ip_type, old_enrichment_at,
            new_source_ip, new_snapshot_asn, new_snapshot_country, new_snapshot_ip_type, new_enrichment_at)
        SELECT p_run_id, u.session_id,
               x.source_ip, x.snapshot_asn, x.snapshot_country, x.snapshot_ip_type, x.enrichment_at,
               u.source_ip, u.snapshot_asn, u.snapshot_country, u.snapshot_ip_type, u.enrichment_at
        FROM upd u
        JOIN computed x ON x.session_id = u.session_id
        WHERE p_record_undo
    ),
    ins_rej AS (
        INSERT INTO backfill_rejects AS r (run_id, session_id, reason, detail)
        SELECT p_run_id, x.session_id, x.reject_reason, x.reject_detail
        FROM computed x
        WHERE x.reject_reason IS NOT NULL
        ON CONFLICT (run_id, session_id) DO UPDATE
            SET reason = EXCLUDED.reason, detail = EXCLUDED.detail, rejected_at = now()
    ),
    skipped AS MATERIALIZED (
        SELECT c.session_id
        FROM cand c
        WHERE NOT EXISTS (SELECT 1 FROM locked l WHERE l.session_id = c.session_id)
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
    agg AS MATERIALIZED (
        SELECT (SELECT count(*) FROM cand)::integer AS n_cand,
               (SELECT count(*) FROM upd)::integer AS n_upd,
               CASE WHEN p_phase = 'sweep' THEN (SELECT max(dr.session_id) FROM drange dr)
                    ELSE (SELECT max(c.session_id) FROM cand c) END::text AS kmax,
               CASE WHEN p_phase = 'sweep' THEN (SELECT min(dr.session_id) FROM drange dr)
                    ELSE (SELECT min(c.session_id) FROM cand c) END::text AS kmin,
               (SELECT count(*) FROM ins_def)::integer AS n_def_add,
               (SELECT count(*) FROM del_def)::integer AS n_def_del,
               (SELECT count(*) FROM del_def dd
                 WHERE NOT EXISTS (SELECT 1 FROM locked l WHERE l.session_id = dd.session_id))::integer AS n_elsewhere,
               count(*)::integer AS n_locked,
               count(*) FILTER (WHERE x.reject_reason IS NOT NULL) AS n_rej,
               count(*) FILTER (WHERE x.f_ip OR x.f_asn OR x.f_country OR x.f_type OR x.f_at) AS n_fill,
               count(*) FILTER (WHERE x.reject_reason IS NULL
                                  AND NOT (x.f_ip OR x.f_asn OR x.f_country OR x.f_type OR x.f_at)) AS n_same,
               count(*) FILTER (WHERE x.reject_reason IS NULL AND NOT x.in_inventory) AS n_noinv,
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
               count(*) FILTER (WHERE x.f_at AND x.enrichment_at_source = 'inventory') AS at_inv
        FROM computed x
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
            enrichment_at_from_inventory = r.enrichment_at_from_inventory + a.at_inv,
            last_key = CASE WHEN p_phase = 'scan' THEN COALESCE(a.kmax, r.last_key) ELSE r.last_key END,
            sweep_key = CASE WHEN p_phase = 'sweep' THEN COALESCE(a.kmax, r.sweep_key) ELSE r.sweep_key END,
            updated_at = clock_timestamp()
        FROM agg a
        WHERE r.run_id = p_run_id
        RETURNING r.run_id
    )
    SELECT a.kmax, a.kmax IS NULL, a.n_cand, a.n_locked, a.n_upd, a.n_fill::integer, a.kmin
    FROM agg a;
END
$fn$;
