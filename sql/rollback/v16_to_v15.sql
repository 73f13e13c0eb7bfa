-- v16_to_v15.sql: take the v16 three-tier schema (complete, half-migrated or drifted) back to
-- v15 while keeping every session row and its enrichment:
-- drops the v16 columns of session_summaries (source_ip, snapshot_asn, snapshot_country,
-- enrichment_at, and the snapshot type column whether named snapshot_ip_type or
-- snapshot_ip_types), their foreign key, CHECK and indexes, the tables ip_asn_history,
-- ip_inventory and asn_inventory (and views depending on them), and sets
-- schema_state.schema_version to '15'. All in ONE transaction (the single SELECT below):
-- on any error nothing is changed.
--
--   psql -X -v ON_ERROR_STOP=1 -f sql/rollback/v16_to_v15.sql "$DATABASE_URL"
--   cowrie-db rollback v16-to-v15 --yes
--
-- Needs the cowrie-db functions (installed by cowrie-db migrate). Locks: ACCESS EXCLUSIVE on
-- session_summaries and the three v16 tables, each taken with a 2s lock_timeout and bounded
-- retries (SET cowrie_db.lock_timeout / cowrie_db.lock_attempts to change them), held until
-- the end. The data check scans session_summaries twice under that lock; for a faster run
-- without it: SELECT * FROM rollback_v16_to_v15(p_verify_data => false);
-- Afterwards `cowrie-db migrate` (or its pgmigrations bookkeeping) will apply v16 again: to
-- stay on v15 remove the recorded migrations >= 002 from pgmigrations (cowrie-db rollback does).

-- 1. roll back (verifies schema and session data itself before it commits)
SELECT * FROM rollback_v16_to_v15() AS step;

-- 2. verify the committed result: fails loudly (ERROR, non-zero exit with ON_ERROR_STOP) if wrong
SELECT verify_v15_schema() AS verify;
