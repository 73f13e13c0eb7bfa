-- schema_duplicates(p_concurrently): the foreign keys, CHECKs and indexes on the tables of
-- expected_tables() that exist twice or more under different names (the ORM's and the
-- upstream v16 one, or ours added beside them by an older cowrie-db), one row per REDUNDANT
-- object, with the one that is kept, what the redundant one costs and the statement that
-- removes it. Nothing is removed here: removing is opt-in (cowrie-db migrate
-- --drop-duplicates, or the statement by hand).
--   foreign keys: same columns -> same referenced table and columns, same ON DELETE/UPDATE;
--                 kept: the validated one, then ours (expected_constraints()), then the oldest
--   CHECKs:       same expression (schema_expression_key); kept likewise
--   indexes:      same access method, columns/expressions, operator classes, collations and
--                 predicate, in the same order or (btree) all directions reversed (a btree is
--                 read backwards: (x DESC) serves what (x) serves); never an index that backs
--                 a constraint (primary key, unique); kept: the one backing a constraint, then
--                 unique, valid, with the definition of an expected index, ours, the oldest
-- Locks: none (catalog reads; sizes from pg_relation_size).
CREATE OR REPLACE FUNCTION schema_duplicates(p_concurrently boolean DEFAULT true)
RETURNS TABLE (kind text, table_name text, keep_name text, drop_name text, definition text,
               cost text, statement text, lock_mode text, concurrently boolean)
LANGUAGE sql STABLE
SET jit = off   -- a plan of many function scans looks expensive: JIT would compile it for longer than it runs
AS $fn$
    WITH t AS (
        SELECT e.table_name, to_regclass(format('%I', e.table_name)) AS rel
          FROM expected_tables() e
    ), cons AS (
        SELECT t.table_name, k.oid, k.conname::text AS conname, k.contype, k.convalidated,
               pg_get_constraintdef(k.oid) AS def,
               CASE k.contype
                   WHEN 'f' THEN format('f|%s|%s|%s|%s|%s', k.conkey::text, k.confrelid, k.confkey::text,
                                        k.confdeltype, k.confupdtype)
                   ELSE 'c|' || schema_expression_key(pg_get_expr(k.conbin, k.conrelid))
               END AS job,
               k.conname IN (SELECT x.constraint_name FROM expected_constraints() x) AS ours,
               k.confrelid::regclass::text AS ref
          FROM t JOIN pg_constraint k ON k.conrelid = t.rel
         WHERE k.contype IN ('f', 'c')
    ), cons_ranked AS (
        SELECT c.*, first_value(c.conname) OVER w AS keeper, row_number() OVER w AS rn,
               count(*) OVER (PARTITION BY c.table_name, c.job) AS n
          FROM cons c
        WINDOW w AS (PARTITION BY c.table_name, c.job ORDER BY c.convalidated DESC, c.ours DESC, c.oid)
    ), idx AS (
        SELECT t.table_name, ic.oid, ic.relname::text AS index_name, ix.indisunique, ix.indisvalid,
               EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = ix.indexrelid) AS backs_constraint,
               regexp_replace(pg_get_indexdef(ix.indexrelid), '^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ ', '') AS def,
               concat_ws('|', am.amname, ix.indkey::text, ix.indclass::text, ix.indcollation::text,
                         pg_get_expr(ix.indexprs, ix.indrelid), pg_get_expr(ix.indpred, ix.indrelid),
                         (SELECT string_agg(((o::int) # (CASE WHEN am.amname = 'btree'
                                                                   AND (split_part(ix.indoption::text, ' ', 1)::int & 1) = 1
                                                              THEN 3 ELSE 0 END))::text, ' ')
                            FROM unnest(string_to_array(ix.indoption::text, ' ')) AS o)) AS job,
               pg_relation_size(ix.indexrelid) AS bytes
          FROM t JOIN pg_index ix ON ix.indrelid = t.rel
          JOIN pg_class ic ON ic.oid = ix.indexrelid
          JOIN pg_am am ON am.oid = ic.relam
    ), idx_ranked AS (
        SELECT i.*, first_value(i.index_name) OVER w AS keeper, row_number() OVER w AS rn,
               count(*) OVER (PARTITION BY i.table_name, i.job) AS n
          FROM idx i
        WINDOW w AS (PARTITION BY i.table_name, i.job
                     ORDER BY i.backs_constraint DESC, i.indisunique DESC, i.indisvalid DESC,
                              EXISTS (SELECT 1 FROM expected_indexes() x
                                       WHERE x.table_name = i.table_name AND x.definition = i.def) DESC,
                              EXISTS (SELECT 1 FROM expected_indexes() x WHERE x.index_name = i.index_name) DESC,
                              i.oid)
    )
    SELECT CASE c.contype WHEN 'f' THEN 'duplicate_foreign_key' ELSE 'duplicate_check' END,
           c.table_name, c.keeper, c.conname, c.def,
           CASE c.contype
               WHEN 'f' THEN format('every INSERT into %s and every UPDATE of the column (each backfill UPDATE) '
                                    'runs the foreign-key check against %s %s times instead of once', c.table_name, c.ref, c.n)
               ELSE format('every INSERT and UPDATE of %s evaluates the same CHECK %s times', c.table_name, c.n)
           END,
           format('ALTER TABLE %I DROP CONSTRAINT %I;', c.table_name, c.conname),
           CASE c.contype WHEN 'f' THEN format('ACCESS EXCLUSIVE on %s and %s (brief, metadata only)', c.table_name, c.ref)
                          ELSE format('ACCESS EXCLUSIVE on %s (brief, metadata only)', c.table_name) END,
           false
      FROM cons_ranked c
     WHERE c.n > 1 AND c.rn > 1
    UNION ALL
    SELECT 'duplicate_index', i.table_name, i.keeper, i.index_name, i.def,
           format('%s on disk; every INSERT into %s and every UPDATE of its columns writes %s indexes instead of one',
                  pg_size_pretty(i.bytes), i.table_name, i.n),
           format('DROP INDEX %sIF EXISTS %I;', CASE WHEN p_concurrently THEN 'CONCURRENTLY ' ELSE '' END, i.index_name),
           CASE WHEN p_concurrently THEN format('SHARE UPDATE EXCLUSIVE on %s (reads and writes go on)', i.table_name)
                ELSE format('ACCESS EXCLUSIVE on %s (brief)', i.table_name) END,
           p_concurrently
      FROM idx_ranked i
     WHERE i.n > 1 AND i.rn > 1 AND NOT i.backs_constraint
     ORDER BY 2, 1, 4
$fn$;
