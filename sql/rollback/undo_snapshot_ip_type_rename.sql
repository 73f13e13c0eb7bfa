-- undo_snapshot_ip_type_rename.sql: undo the snapshot type column alignment
-- (migration 004 / align_snapshot_ip_type()): session_summaries.snapshot_ip_type goes back to
-- the plural name snapshot_ip_types, with its original type when the alignment recorded it
-- (a text[] column is converted back with string_to_array: no value lost).
--
--   psql -X -v ON_ERROR_STOP=1 -f sql/rollback/undo_snapshot_ip_type_rename.sql "$DATABASE_URL"
--   cowrie-db rollback snapshot-ip-type-rename
--
-- Needs the cowrie-db functions (installed by cowrie-db migrate). Each statement is atomic:
-- the undo either happens completely or not at all. Lock: ACCESS EXCLUSIVE on
-- session_summaries, taken with a 2s lock_timeout and bounded retries (SET
-- cowrie_db.lock_timeout / cowrie_db.lock_attempts to change them); if the table stays busy it
-- stops with the blocking pids and changes nothing.
-- To force the plural column's type: SELECT rollback_snapshot_ip_type_rename('text[]');
-- Note: cowrie-db migrate would align the column again; this is for going back to code that
-- expects the plural name.

-- 1. undo (verifies its own result before it commits)
SELECT rollback_snapshot_ip_type_rename() AS undo;

-- 2. verify the committed result: fails loudly (ERROR, non-zero exit with ON_ERROR_STOP) if wrong
SELECT verify_snapshot_ip_type_rename_undone() AS verify;
