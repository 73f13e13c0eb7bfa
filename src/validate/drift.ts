// Schema drift for `cowrie-db validate`: the ONE function validate calls, schemaDrift().
// It is meant to delegate to the drift checker of `cowrie-db check` (src/schema/*) once
// that exists; until then it runs a catalog-only subset of that comparison here, in
// validate's read-only transaction: the drift states that broke upstream (snapshot IP
// type column plural / wrong type / missing, tables or snapshot columns missing, the
// generated columns of ip_inventory not STORED generated), and the expected indexes and
// constraints (expected_indexes() / expected_constraints(), when installed) missing.
import type postgres from 'postgres';
import { BOOKKEEPING_TABLES } from '../schema/check.js';
import { diffSchemas, type SchemaSnapshot } from '../schema/diff.js';

export type DriftSeverity = 'CRITICAL' | 'ERROR' | 'WARNING';

export interface DriftFinding {
  severity: DriftSeverity;
  /** e.g. "session_summaries.snapshot_ip_types" */
  object: string;
  message: string;
  fix?: string;
}

export interface DriftReport {
  /** Which implementation produced the findings. */
  source: string;
  findings: DriftFinding[];
}

type Tx = postgres.TransactionSql | postgres.Sql;

const UPSTREAM_TABLES = ['schema_state', 'session_summaries', 'asn_inventory', 'ip_inventory', 'ip_asn_history'];
const SNAPSHOT_COLUMNS: Record<string, string> = {
  source_ip: 'character varying(45)',
  snapshot_asn: 'integer',
  snapshot_country: 'character varying(2)',
  snapshot_ip_type: 'text',
  enrichment_at: 'timestamp with time zone',
};
const GENERATED_COLUMNS = ['geo_country', 'is_scanner', 'is_bogon'];

/**
 * With `expected` (the schema_snapshot() of a database built by the migrations, as
 * `cowrie-db check` obtains it), the live schema_snapshot() is read in validate's
 * transaction and compared by check's own diffSchemas(): the same findings as
 * `cowrie-db check`. Without it, the catalog subset below.
 */
export async function schemaDrift(tx: Tx, expected?: SchemaSnapshot | null): Promise<DriftReport> {
  if (expected) {
    const [installed] = await tx`select to_regprocedure('schema_snapshot(text,text[],boolean)') is not null as ok`;
    if (installed?.ok) {
      const [live] = await tx`select schema_snapshot(current_schema(), ${BOOKKEEPING_TABLES}::text[]) as s`;
      const findings = diffSchemas(expected, live?.s as SchemaSnapshot)
        .filter((f) => f.severity !== 'INFO')
        .map((f) => ({ severity: f.severity as DriftSeverity, object: [f.table, f.object].filter(Boolean).join('.') || f.kind, message: f.message, ...(f.fix ? { fix: f.fix } : {}) }));
      return { source: 'cowrie-db check (schema_snapshot + diffSchemas)', findings };
    }
  }
  const findings: DriftFinding[] = [];
  const tables = new Set(
    (await tx`select c.relname from pg_class c where c.oid = any (
                select to_regclass(x) from unnest(${UPSTREAM_TABLES}::text[]) x) and c.relkind in ('r', 'p')`).map((r) => String(r.relname)),
  );
  for (const t of UPSTREAM_TABLES) {
    if (!tables.has(t)) {
      findings.push({ severity: 'CRITICAL', object: t, message: `table ${t} is missing`, fix: 'cowrie-db migrate' });
    }
  }
  const columns = async (table: string) =>
    new Map(
      (
        await tx`select a.attname, format_type(a.atttypid, a.atttypmod) as type, a.attgenerated::text as generated
                 from pg_attribute a where a.attrelid = to_regclass(${table}) and a.attnum > 0 and not a.attisdropped`
      ).map((r) => [String(r.attname), { type: String(r.type), generated: String(r.generated) }]),
    );
  if (tables.has('session_summaries')) {
    const cols = await columns('session_summaries');
    const plural = cols.get('snapshot_ip_types');
    const singular = cols.get('snapshot_ip_type');
    if (plural && singular) {
      findings.push({ severity: 'CRITICAL', object: 'session_summaries.snapshot_ip_types',
        message: `both snapshot_ip_type (${singular.type}) and snapshot_ip_types (${plural.type}) exist`, fix: 'cowrie-db migrate (align_snapshot_ip_type merges them)' });
    } else if (plural) {
      findings.push({ severity: 'CRITICAL', object: 'session_summaries.snapshot_ip_types',
        message: `column snapshot_ip_types (${plural.type}, plural) where the code expects snapshot_ip_type text: every snapshot query fails`, fix: 'cowrie-db migrate (renames it)' });
    }
    for (const [name, type] of Object.entries(SNAPSHOT_COLUMNS)) {
      const c = cols.get(name);
      if (!c) {
        if (name === 'snapshot_ip_type' && plural) continue;
        findings.push({ severity: 'CRITICAL', object: `session_summaries.${name}`, message: `column ${name} is missing`, fix: 'cowrie-db migrate' });
      } else if (c.type !== type) {
        findings.push({ severity: 'CRITICAL', object: `session_summaries.${name}`, message: `column ${name} is ${c.type}, expected ${type}`, fix: 'cowrie-db migrate' });
      }
    }
  }
  if (tables.has('ip_inventory')) {
    const cols = await columns('ip_inventory');
    for (const name of GENERATED_COLUMNS) {
      const c = cols.get(name);
      if (!c) findings.push({ severity: 'CRITICAL', object: `ip_inventory.${name}`, message: `generated column ${name} is missing (half-migrated inventory)`, fix: 'cowrie-db migrate' });
      else if (c.generated !== 's') findings.push({ severity: 'CRITICAL', object: `ip_inventory.${name}`, message: `${name} is a plain column, expected GENERATED ALWAYS ... STORED`, fix: 'cowrie-db migrate' });
    }
  }
  const [fns] = await tx`select to_regprocedure('expected_indexes()') is not null as idx, to_regprocedure('expected_constraints()') is not null as con`;
  if (fns?.idx) {
    const missing = await tx`select e.table_name, e.index_name from expected_indexes() e
      where to_regclass(e.table_name) is not null
        and not exists (select 1 from pg_index i join pg_class c on c.oid = i.indexrelid
                        where i.indrelid = to_regclass(e.table_name) and c.relname = e.index_name and i.indisvalid)
      order by e.ordinal`;
    for (const r of missing) {
      findings.push({ severity: 'ERROR', object: `${r.table_name}.${r.index_name}`, message: `index ${r.index_name} on ${r.table_name} is missing or invalid`, fix: 'cowrie-db migrate (rebuilds it CONCURRENTLY)' });
    }
  }
  if (fns?.con) {
    const missing = await tx`select e.table_name, e.constraint_name from expected_constraints() e
      where to_regclass(e.table_name) is not null
        and not exists (select 1 from pg_constraint c where c.conrelid = to_regclass(e.table_name) and c.conname = e.constraint_name)
      order by e.ordinal`;
    for (const r of missing) {
      findings.push({ severity: 'ERROR', object: `${r.table_name}.${r.constraint_name}`, message: `constraint ${r.constraint_name} on ${r.table_name} is missing`, fix: 'cowrie-db migrate' });
    }
  }
  return { source: 'validate (catalog subset; cowrie-db check not available)', findings };
}
