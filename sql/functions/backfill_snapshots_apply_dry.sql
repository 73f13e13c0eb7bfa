-- backfill_snapshots_apply_dry(run_id, after_key, limit, until_key)
--   -> (last_key, done, n_candidates, n_locked, n_updated, n_would_fill, first_key,
--       locked_at, n_scanned, n_filled, n_unchanged, n_rejected, n_no_inventory, n_deferred)
--
-- ONE step of a dry run, as a single SQL statement (backfill_snapshots_apply calls it
-- when dry_run is true; the result has that function's shape). It computes exactly
-- what the real step would change -- the same page and values, backfill_snapshot_page
-- -- and writes nothing to session_summaries: it records the rejects and adds the
-- counters (by column, by source and by outcome; every row that would get a value
-- counts as filled), the checkpoint (last_key) and, until it holds 20, a sample of
-- would-be changes to backfill_runs, in the caller's transaction.
-- n_locked is the rows decided (all of the page: nothing is skipped); n_updated is 0
-- and locked_at NULL. done is true when the page is empty (end of the pass).
-- The page is read once, by one aggregate that computes every counter and gathers the
-- rejects as arrays: materializing the page (26 columns per session) and reading it
-- twice costs more (docs/benchmarks.md). Only while the sample is not full is the page read a
-- second time, by a statement of its own, for its first would-be changes.
--
-- The plan: it reads at most p_limit sessions by the primary key and probes the
-- rule's two lookups per session, at any table size. That plan is cached once
-- (plan_cache_mode = force_generic_plan) instead of being planned again for every
-- page (a measurable part of each page: docs/benchmarks.md). A generic plan does not know
-- the page's size (LIMIT p_limit), so the function also rules out sequential and
-- bitmap scans, hash joins and merge joins: on a big table they could look cheaper
-- for an unknown page, and would read the whole table or inventory for every page. And no JIT: the
-- generic plan's estimated cost is that of a big query, and a server with JIT would
-- compile it again for every page.
-- Locks: ROW EXCLUSIVE on backfill_rejects and on backfill_runs (the run's row);
--   nothing on session_summaries beyond reading it.
CREATE OR REPLACE FUNCTION backfill_snapshots_apply_dry(
    p_run_id    bigint,
    p_after_key text,
    p_limit     integer,
    p_until_key text DEFAULT NULL)
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
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET jit = off
AS $fn$
BEGIN
    -- one pass over the page for every counter and the rejects
    WITH agg AS MATERIALIZED (
        SELECT count(*)::integer AS n_cand,
               max(x.session_id)::text AS kmax,
               min(x.session_id)::text AS kmin,
               count(*) FILTER (WHERE NOT x.fill AND x.reject_reason IS NOT NULL) AS n_rej,
               count(*) FILTER (WHERE NOT x.fill AND x.reject_reason IS NULL) AS n_same,
               count(*) FILTER (WHERE x.fill) AS n_fill,
               count(*) FILTER (WHERE x.reject_reason IS NULL AND NOT x.in_inventory) AS n_noinv,
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
               count(*) FILTER (WHERE x.f_at AND x.enrichment_at_source = 'inventory') AS at_inv,
               array_agg(x.session_id) FILTER (WHERE x.reject_reason IS NOT NULL) AS rej_id,
               array_agg(x.reject_reason) FILTER (WHERE x.reject_reason IS NOT NULL) AS rej_reason,
               array_agg(x.reject_detail) FILTER (WHERE x.reject_reason IS NOT NULL) AS rej_detail
        FROM backfill_snapshot_page(p_run_id, p_after_key, p_limit, 'scan', p_until_key) x
    ),
    ins_rej AS (
        INSERT INTO backfill_rejects AS r (run_id, session_id, reason, detail)
        SELECT p_run_id, u.session_id, u.reason, u.detail
        FROM agg a CROSS JOIN LATERAL unnest(a.rej_id, a.rej_reason, a.rej_detail) AS u(session_id, reason, detail)
        ON CONFLICT (run_id, session_id) DO UPDATE
            SET reason = EXCLUDED.reason, detail = EXCLUDED.detail, rejected_at = now()
    ),
    upd_run AS (
        UPDATE backfill_runs r
        SET rows_scanned = r.rows_scanned + a.n_cand,
            rows_filled = r.rows_filled + a.n_fill,
            rows_unchanged = r.rows_unchanged + a.n_same,
            rows_rejected = r.rows_rejected + a.n_rej,
            rows_no_inventory = r.rows_no_inventory + a.n_noinv,
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
            last_key = COALESCE(a.kmax, r.last_key),
            updated_at = clock_timestamp()
        FROM agg a
        WHERE r.run_id = p_run_id
        RETURNING r.run_id
    )
    SELECT a.kmax, a.kmax IS NULL, a.n_cand, a.n_cand, 0, a.n_fill::integer, a.kmin, NULL::timestamptz,
           a.n_cand, a.n_fill::integer, a.n_same::integer, a.n_rej::integer, a.n_noinv::integer, 0
    INTO last_key, done, n_candidates, n_locked, n_updated, n_would_fill, first_key, locked_at,
         n_scanned, n_filled, n_unchanged, n_rejected, n_no_inventory, n_deferred
    FROM agg a;

    -- the sample: the first would-be changes in key order, while the run holds fewer
    -- than 20 (the first page, in practice). A statement of its own, run only then:
    -- as a part of the statement above, its second reading of the page would be set
    -- up for every page; keeping every page's rows for it would
    -- hold the whole page in memory. It reads the page again, so under concurrent
    -- writes it sees it a moment later than the counters did.
    IF n_would_fill > 0
       AND (SELECT jsonb_array_length(r.sample) < 20 FROM backfill_runs r WHERE r.run_id = p_run_id) THEN
        UPDATE backfill_runs r
        SET sample = r.sample || COALESCE((
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
                FROM (SELECT * FROM backfill_snapshot_page(p_run_id, p_after_key, p_limit, 'scan', p_until_key) z
                      WHERE z.fill
                      ORDER BY z.session_id
                      LIMIT 20 - jsonb_array_length(r.sample)) y), '[]'::jsonb)
        WHERE r.run_id = p_run_id;
    END IF;
    RETURN NEXT;
END
$fn$;
