-- Migration 004: align the snapshot IP type column to `session_summaries.snapshot_ip_type text`
-- from every state found in the field (plural text, plural text[], both, neither, singular):
-- see sql/functions/align_snapshot_ip_type.sql for what each state does. Migration 002 calls
-- the same function before its ADD COLUMN; this migration covers databases where 002 was
-- already recorded when the drift appeared (the repair step of cowrie-db migrate covers any
-- later drift).
-- Locks: none if already aligned; otherwise ACCESS EXCLUSIVE on session_summaries taken with
-- a 2s lock_timeout and bounded retries (lock_table_with_retry); a rewrite only when
-- converting a text[] column.

-- Up Migration
SET LOCAL lock_timeout = '5s';
SELECT * FROM align_snapshot_ip_type();

-- Down Migration
SET LOCAL lock_timeout = '5s';
-- Only undoes a rename that cowrie-db's alignment did (recorded in the column comment).
SELECT rollback_snapshot_ip_type_rename(p_only_if_aligned => true);
