// A comparable description of a database's public schema, for tests that assert
// two ways of building it give the same result.
import type postgres from 'postgres';

export async function catalogOf(sql: postgres.Sql): Promise<string[]> {
  const rows = await sql`
    select 'column' as kind, c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || case when a.attnotnull then ' not null' else '' end
           || coalesce(' gen:' || nullif(a.attgenerated::text, '') || ' ' || pg_get_expr(d.adbin, d.adrelid), ' default:' || pg_get_expr(d.adbin, d.adrelid), '') as item
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
      left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
     where n.nspname = 'public' and c.relkind in ('r', 'v', 'p') and c.relname <> 'pgmigrations'
    union all
    select 'index', regexp_replace(pg_get_indexdef(i.indexrelid), ' public\\.', ' ', 'g')
      from pg_index i join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relname <> 'pgmigrations'
    union all
    select 'constraint', conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || case when convalidated then '' else ' NOT VALID' end
      from pg_constraint where connamespace = 'public'::regnamespace and conrelid <> 0 and conrelid::regclass::text <> 'pgmigrations'
    union all
    select 'routine', p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
      from pg_proc p where p.pronamespace = 'public'::regnamespace
        and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
    order by 1, 2`;
  return rows.map((r) => `${r.kind}: ${r.item}`);
}
