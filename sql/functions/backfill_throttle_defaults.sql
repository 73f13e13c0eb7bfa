-- backfill_throttle_defaults() -> one row per threshold: parameter, default_value, meaning
--
-- The default thresholds of the health signals the backfill pauses on
-- (backfill_throttle_signal), in one place: the procedure, the CLI (`--help`) and the docs
-- read them from here. default_value is text (NULL: the signal is off by default);
-- parameter is backfill_throttle_signal's parameter name without its p_ prefix.
-- The defaults are meant to be safe on a production primary with one asynchronous standby
-- (the seeds' setup), and are based on what GitLab's batched background migrations throttle
-- on (lib/gitlab/database/health_status/indicators/ and docs.gitlab.com/development/database/
-- batched_background_migrations):
--   replica_lag_bytes 256 MB. GitLab's first database-health check paused background
--       migrations when a replication slot lagged 100 MB (Postgresql::ReplicationSlot.
--       lag_too_great?, "1 to 5 seconds to replicate" on GitLab.com, gitlab-foss MR 20720).
--       We allow a little more for a standby of unknown hardware, but stay well below the
--       default max_wal_size (1 GB): a standby without a slot that falls that far behind in
--       receiving risks asking for WAL the primary has already recycled.
--   replica_lag_ms 30 s. A promotion replays the whole backlog before it accepts writes, so
--       replay lag is extra failover time; 30 s keeps that short while ignoring the brief
--       spikes a batch's COMMIT causes.
--   wal_bytes_per_sec off. GitLab's WAL-rate indicator is an alert on its own Prometheus
--       metrics for GitLab.com (feature flag db_health_check_wal_rate), not a number that
--       fits other servers; the standby and disk are protected by the replica limits. Set it
--       when archiving or the network to the standby is the bottleneck (e.g. 64 MB/s).
--   xmin_age_ms 10 min. Longer than ordinary application transactions, reports and
--       interactive sessions, so they do not pause the run; a forgotten idle-in-transaction
--       session or a long dump does, and the backfill stops piling up row versions nobody
--       can vacuum. GitLab has no such indicator; this is the issue's proposal.
--   on_vacuum true. GitLab's AutovacuumActiveOnTable indicator pauses a migration while
--       autovacuum works on its table, on by default for every instance
--       (gitlab MR 188481, issue 512966): the backfill's own updates trigger that vacuum,
--       and letting it finish is what lets later batches reuse the space.
-- Locks: none.
CREATE OR REPLACE FUNCTION backfill_throttle_defaults()
RETURNS TABLE (parameter text, default_value text, meaning text)
LANGUAGE sql IMMUTABLE
AS $fn$
VALUES
    ('replica_lag_ms', '30000',
     'pause while a standby replays more than this many milliseconds behind (pg_stat_replication.replay_lag); NULL = off'),
    ('replica_lag_bytes', '268435456',
     'pause while a standby has more than this many bytes of WAL not replayed yet (256 MB); NULL = off'),
    ('wal_bytes_per_sec', NULL,
     'pause while WAL is written faster than this many bytes per second, averaged since the previous check; NULL = off (the default)'),
    ('xmin_age_ms', '600000',
     'pause while another transaction in this database, open longer than this many milliseconds (10 min), holds back the xmin horizon; NULL = off'),
    ('on_vacuum', 'true',
     'pause while a VACUUM (autovacuum or manual) works on session_summaries; false = off')
$fn$;
