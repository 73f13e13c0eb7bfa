-- Migration 007: the state that makes a backfill run incremental, and the monitor's
-- "last check" (cowrie-db's own tables; nothing upstream changes).
--   backfill_settled         one row per session a real run decided and left with a
--                            NULL snapshot column (rejected, no inventory row, no IP
--                            type known, ...): the row version it decided on (row_tid =
--                            ctid, row_xmin = xmin of that version: the one it read, or
--                            the one its own UPDATE wrote), the IP it waits for and the
--                            ip_inventory row version it saw (inv_xmin; NULL: the IP
--                            was not in ip_inventory), whether it was a reject, and the
--                            snapshot rule's version (backfill_rule_version()). A later
--                            run skips a session whose current (ctid, xmin) is exactly
--                            the recorded one; any UPDATE of the row makes a new version
--                            (new ctid and xmin), so a changed row is looked at again.
--                            A run invalidates the entries whose inventory row appeared
--                            or changed, whose rule version differs, and (on request)
--                            the rejects. See docs/backfill.md, "Incremental runs".
--   backfill_monitor_checks  when backfill_monitor(record_check => true) last ran: the
--                            start of the "rejects since the last check" window.
-- No foreign key to session_summaries (no RI cost or lock on the upstream table; an
-- entry of a deleted session is never matched and is cleared by recheck_all).
-- Locks: none on existing tables (CREATE TABLE / CREATE INDEX on new, empty tables).

-- Up Migration
SET LOCAL lock_timeout = '5s';

CREATE TABLE IF NOT EXISTS backfill_settled (
    session_id   varchar(64) PRIMARY KEY,
    row_tid      tid NOT NULL,
    row_xmin     xid NOT NULL,
    ip           varchar(45),
    inv_xmin     xid,
    rejected     boolean NOT NULL DEFAULT false,
    rule_version text NOT NULL,
    run_id       bigint NOT NULL,
    settled_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ix_backfill_settled_ip ON backfill_settled (ip) WHERE ip IS NOT NULL;

CREATE TABLE IF NOT EXISTS backfill_monitor_checks (
    checked_at timestamptz PRIMARY KEY,
    state      text NOT NULL
);

-- Down Migration
SET LOCAL lock_timeout = '5s';
DROP TABLE IF EXISTS backfill_monitor_checks;
DROP TABLE IF EXISTS backfill_settled;
