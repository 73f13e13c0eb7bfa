-- Migration 008: parallel workers and throttling of a backfill run (cowrie-db's own
-- tables; nothing upstream changes).
--   backfill_ranges   the key ranges a run's primary-key space is cut into when it
--                     starts (backfill_range_bounds): range range_no covers the
--                     sessions with lo_key < session_id <= hi_key (NULL: unbounded).
--                     last_key is the range's checkpoint (the last session examined;
--                     NULL: none yet), done that its pass is over. A worker claims a
--                     range that is not done and whose worker is not alive, walks it
--                     in keyset batches and commits each batch with the range's
--                     checkpoint; so N workers never share a range, and an
--                     interrupted worker's range is taken over from its checkpoint.
--   backfill_workers  one row per worker (a CALL of backfill_snapshots on its own
--                     connection) that joined a run: its backend (pid and
--                     backend_start, which together name one backend even when a pid
--                     is reused), the range it works on, its counters, and whether it
--                     is throttled now (throttle_reason, throttled_since) and how long
--                     it has been in all (throttled_ms). left_at is set when it returns.
--   backfill_runs     gains workers (the parallelism the latest call asked for: up to
--                     that many CALLs work the run together) and throttled_ms (time lost
--                     to throttling, summed over the workers; the signal holding a worker
--                     back now is that worker's, in backfill_workers).
-- A run started before this migration and not finished gets one range from its
-- checkpoint, so it resumes where it stopped.
-- Locks: ACCESS EXCLUSIVE on backfill_runs for the ADD COLUMNs (no rewrite: defaults
--   are constants); none on upstream tables.

-- Up Migration
SET LOCAL lock_timeout = '5s';

CREATE TABLE IF NOT EXISTS backfill_ranges (
    run_id       bigint NOT NULL REFERENCES backfill_runs (run_id) ON DELETE CASCADE,
    range_no     integer NOT NULL,
    lo_key       varchar(64),
    hi_key       varchar(64),
    last_key     varchar(64),
    done         boolean NOT NULL DEFAULT false,
    batches      integer NOT NULL DEFAULT 0,
    rows_scanned bigint NOT NULL DEFAULT 0,
    elapsed_ms   double precision NOT NULL DEFAULT 0,
    worker_pid   integer,
    claimed_at   timestamptz,
    finished_at  timestamptz,
    PRIMARY KEY (run_id, range_no)
);

CREATE TABLE IF NOT EXISTS backfill_workers (
    run_id          bigint NOT NULL REFERENCES backfill_runs (run_id) ON DELETE CASCADE,
    pid             integer NOT NULL,
    backend_start   timestamptz NOT NULL,
    joined_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    left_at         timestamptz,
    range_no        integer,
    batches         integer NOT NULL DEFAULT 0,
    rows_scanned    bigint NOT NULL DEFAULT 0,
    elapsed_ms      double precision NOT NULL DEFAULT 0,
    throttled_ms    double precision NOT NULL DEFAULT 0,
    throttle_reason text,
    throttled_since timestamptz,
    PRIMARY KEY (run_id, pid, backend_start)
);

ALTER TABLE backfill_runs
    ADD COLUMN IF NOT EXISTS workers         integer NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS throttled_ms    double precision NOT NULL DEFAULT 0;

INSERT INTO backfill_ranges (run_id, range_no, lo_key, hi_key, last_key, done)
SELECT r.run_id, 1, NULL, NULL, r.last_key, r.phase <> 'scan'
FROM backfill_runs r
WHERE r.status IN ('running', 'paused', 'failed')
  AND NOT EXISTS (SELECT 1 FROM backfill_ranges g WHERE g.run_id = r.run_id);

-- Down Migration
SET LOCAL lock_timeout = '5s';
-- The views read the tables and columns: they go first, and `migrate` installs them again.
DROP VIEW IF EXISTS backfill_worker_progress;
DROP VIEW IF EXISTS backfill_progress;
ALTER TABLE backfill_runs
    DROP COLUMN IF EXISTS throttled_ms,
    DROP COLUMN IF EXISTS workers;
DROP TABLE IF EXISTS backfill_workers;
DROP TABLE IF EXISTS backfill_ranges;
