-- schema_repair_plan(p_concurrently, p_opt_in): what cowrie-db migrate runs to repair the
-- schema, in order: the rows of schema_findings() that migrate repairs automatically
-- (repair = 'auto' with a run_sql; a NULL run_sql is done by a pending migration) and the
-- opt-in ones whose flag is in p_opt_in ('drop-duplicates', 'convert-jsonb'). The findings
-- it leaves out (repair 'manual') are what migrate reports as not repaired, with their
-- manual step: SELECT * FROM schema_findings() WHERE repair = 'manual'.
-- Columns:
--   step            1, 2, ... (run in this order)
--   finding_id      the schema_findings() row it repairs
--   action          the finding's kind (missing_column, constraint_not_valid, missing_index, ...)
--   statement       the DDL the step executes (for display: migrate --dry-run)
--   lock_mode       the lock it takes on table_name; rewrites_table: the whole table is rewritten
--   table_bytes     pg_total_relation_size(table_name) now
--   concurrently    true: run_sql is a CREATE/DROP INDEX CONCURRENTLY statement; send it
--                   alone, outside any transaction block (autocommit)
--   run_sql         what the runner sends; non-concurrent steps in their own transaction (the
--                   functions it calls re-check, lock with bounded retries, apply and verify)
-- Read-only (changes nothing). Locks: those of schema_findings() (ACCESS SHARE).
CREATE OR REPLACE FUNCTION schema_repair_plan(p_concurrently boolean DEFAULT true, p_opt_in text[] DEFAULT '{}')
RETURNS TABLE (step integer, finding_id text, action text, table_name text, object_name text, statement text,
               lock_mode text, rewrites_table boolean, table_bytes bigint, "concurrently" boolean,
               run_sql text, severity text, repair text, message text)
LANGUAGE sql STABLE
SET jit = off   -- a plan of many function scans looks expensive: JIT would compile it for longer than it runs
AS $fn$
    SELECT (row_number() OVER (ORDER BY f.step))::integer, f.finding_id, f.kind, f.table_name, f.object_name, f.fix,
           f.lock_mode, f.rewrites_table, f.table_bytes, f."concurrently", f.run_sql, f.severity, f.repair, f.message
      FROM schema_findings(p_concurrently) f
     WHERE f.run_sql IS NOT NULL
       AND (f.repair = 'auto' OR (f.repair = 'opt-in' AND f.opt_in = ANY (coalesce(p_opt_in, '{}'))))
     ORDER BY f.step
$fn$;
