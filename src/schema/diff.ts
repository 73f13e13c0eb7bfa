// Pure schema diff for `cowrie-db check`: compares two schema_snapshot() documents
// (sql/functions/schema_snapshot.sql) -- the expected one, from a scratch database built by
// sql/migrations, and the live one -- and classifies each difference with a severity and the
// statement that fixes it. No database access here.

export type Severity = 'CRITICAL' | 'ERROR' | 'WARNING' | 'INFO';

export interface ColumnSnapshot {
  type: string;
  not_null: boolean;
  default?: string | null;
  generated?: string; // '' plain, 's' stored, 'v' virtual
  generation_expression?: string | null;
  identity?: string;
  ordinal?: number;
}
export interface ConstraintSnapshot {
  type: string; // p u c f x
  definition: string;
  validated: boolean;
}
export interface IndexSnapshot {
  definition: string; // 'USING btree (source_ip)'
  full?: string;
  unique?: boolean;
  primary?: boolean;
  valid?: boolean;
}
export interface TableSnapshot {
  columns: Record<string, ColumnSnapshot>;
  constraints?: Record<string, ConstraintSnapshot>;
  indexes?: Record<string, IndexSnapshot>;
  rows?: number;
  bytes?: number;
}
export interface SchemaSnapshot {
  schema?: string;
  server_version_num?: number;
  schema_version?: string | null;
  tables: Record<string, TableSnapshot>;
}

export type FindingKind =
  | 'missing_table'
  | 'extra_table'
  | 'missing_column'
  | 'renamed_column'
  | 'rename_leftover'
  | 'extra_column'
  | 'column_type'
  | 'column_nullability'
  | 'column_default'
  | 'generated_missing'
  | 'generated_unexpected'
  | 'generated_kind'
  | 'generation_expression'
  | 'missing_constraint'
  | 'renamed_constraint'
  | 'constraint_definition'
  | 'constraint_not_valid'
  | 'extra_constraint'
  | 'missing_index'
  | 'renamed_index'
  | 'index_definition'
  | 'index_invalid'
  | 'extra_index'
  | 'schema_version';

export interface Finding {
  severity: Severity;
  kind: FindingKind;
  table?: string;
  object?: string;
  message: string;
  expected?: string;
  actual?: string;
  fix?: string;
}

export interface DiffOptions {
  /** Compare two generation expressions (default: whitespace-insensitive text equality). */
  sameExpression?: (table: string, column: string, expected: string, actual: string) => boolean;
  /** Columns whose absence blocks the backfill or breaks the snapshot queries: CRITICAL. */
  criticalColumns?: Record<string, string[]>;
}

/** What the backfill and the snapshot queries cannot run without. */
export const CRITICAL_COLUMNS: Record<string, string[]> = {
  session_summaries: ['session_id', 'enrichment', 'source_ip', 'snapshot_asn', 'snapshot_country', 'snapshot_ip_type', 'enrichment_at'],
  ip_inventory: ['ip_address', 'enrichment', 'current_asn', 'geo_country', 'ip_types', 'is_scanner', 'is_bogon'],
};
export const CRITICAL_TABLES = ['session_summaries', 'ip_inventory'];

const SEVERITY_ORDER: Record<Severity, number> = { CRITICAL: 0, ERROR: 1, WARNING: 2, INFO: 3 };

/** "ident" quoted only when needed, like PostgreSQL's quote_ident. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

const norm = (s: string | null | undefined): string => (s ?? '').replace(/\s+/g, ' ').trim();
/** A constraint definition without pg_get_constraintdef's " NOT VALID" suffix (validated says it). */
const normDef = (s: string): string => norm(s).replace(/ NOT VALID$/, '');

/** Levenshtein distance (small strings only). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** Names that differ by plural/singular (s, es, ies/y) or a close spelling. */
export function similarNames(expected: string, actual: string): boolean {
  if (expected === actual) return false;
  const plural = (s: string) => [s + 's', s + 'es', s.endsWith('y') ? s.slice(0, -1) + 'ies' : null].filter(Boolean);
  if (plural(expected).includes(actual) || plural(actual).includes(expected)) return true;
  const longest = Math.max(expected.length, actual.length);
  return longest >= 6 && editDistance(expected, actual) <= (longest >= 12 ? 2 : 1);
}

/**
 * How a column of type `from` becomes `to` without losing a value, or null if there is no
 * safe automatic conversion. `col` is the (quoted) column name.
 */
export function conversionExpression(from: string, to: string, col: string): string | null {
  if (from === to) return col;
  const isText = (t: string) => t === 'text' || t.startsWith('character varying') || t === 'character' || t.startsWith('character(');
  if (to === 'text' && from.endsWith('[]')) return `array_to_string(${col}, ',')`;
  if (to === 'text') return `${col}::text`;
  if (isText(from) && isText(to)) return `${col}::${to}`;
  if (to.endsWith('[]') && isText(from) && to.slice(0, -2) === 'text') return `string_to_array(${col}, ',')`;
  return null;
}

function columnDdl(name: string, c: ColumnSnapshot): string {
  let ddl = `${quoteIdent(name)} ${c.type}`;
  if (c.generated === 's' || c.generated === 'v') {
    return `${ddl} GENERATED ALWAYS AS (${c.generation_expression ?? '?'}) ${c.generated === 's' ? 'STORED' : 'VIRTUAL'}`;
  }
  if (c.not_null) ddl += ' NOT NULL';
  if (c.default) ddl += ` DEFAULT ${c.default}`;
  return ddl;
}

function isCriticalColumn(opts: DiffOptions, table: string, column: string): boolean {
  return (opts.criticalColumns ?? CRITICAL_COLUMNS)[table]?.includes(column) ?? false;
}

/** The findings, most severe first. */
export function diffSchemas(expected: SchemaSnapshot, actual: SchemaSnapshot, opts: DiffOptions = {}): Finding[] {
  const findings: Finding[] = [];
  const same = opts.sameExpression ?? ((_t, _c, a, b) => norm(a) === norm(b));

  for (const [tname, exp] of Object.entries(expected.tables)) {
    const act = actual.tables[tname];
    const qt = quoteIdent(tname);
    if (!act) {
      findings.push({
        severity: CRITICAL_TABLES.includes(tname) ? 'CRITICAL' : 'ERROR',
        kind: 'missing_table',
        table: tname,
        message: `table ${tname} is missing`,
        fix: 'cowrie-db migrate (creates it); if its migration is recorded as applied, roll back to v15 first (sql/rollback/v16_to_v15.sql)',
      });
      continue;
    }
    diffColumns(tname, qt, exp, act, opts, same, findings);
    diffConstraints(tname, qt, exp, act, findings);
    diffIndexes(tname, qt, exp, act, findings);
  }
  for (const tname of Object.keys(actual.tables)) {
    if (!expected.tables[tname]) {
      findings.push({ severity: 'INFO', kind: 'extra_table', table: tname, message: `table ${tname} is not part of the cowrie-db schema` });
    }
  }

  const want = expected.schema_version ?? null;
  const have = actual.schema_version ?? null;
  const broken = findings.some((f) => f.severity === 'CRITICAL' || f.severity === 'ERROR');
  if (want !== have) {
    findings.push({
      severity: 'WARNING',
      kind: 'schema_version',
      object: 'schema_state.schema_version',
      message: `schema_state.schema_version is ${have ?? 'absent'}, the migrations record ${want ?? 'nothing'}` +
        (broken ? ' (and the schema differs, see above)' : ' although the schema matches'),
      expected: want ?? undefined,
      actual: have ?? undefined,
      fix: broken ? 'cowrie-db migrate' : `UPDATE schema_state SET value = '${want}' WHERE key = 'schema_version';`,
    });
  } else if (broken) {
    findings.push({
      severity: 'WARNING',
      kind: 'schema_version',
      object: 'schema_state.schema_version',
      message: `schema_state.schema_version says ${have ?? 'nothing'}, but the schema is not what that version defines`,
      expected: want ?? undefined,
      actual: have ?? undefined,
      fix: 'cowrie-db migrate',
    });
  }

  return findings.sort(
    (a, b) =>
      SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
      (a.table ?? '').localeCompare(b.table ?? '') ||
      (a.object ?? '').localeCompare(b.object ?? ''),
  );
}

function diffColumns(
  tname: string,
  qt: string,
  exp: TableSnapshot,
  act: TableSnapshot,
  opts: DiffOptions,
  same: NonNullable<DiffOptions['sameExpression']>,
  out: Finding[],
): void {
  const extras = new Set(Object.keys(act.columns).filter((c) => !(c in exp.columns)));
  const explained = new Set<string>();

  for (const [cname, ec] of Object.entries(exp.columns)) {
    const ac = act.columns[cname];
    const critical = isCriticalColumn(opts, tname, cname);
    const sev: Severity = critical ? 'CRITICAL' : 'ERROR';
    const qc = quoteIdent(cname);
    if (!ac) {
      // A likely rename: an extra column with a similar name and a same or convertible type.
      const candidate = [...extras]
        .filter((x) => similarNames(cname, x))
        .map((x) => ({ name: x, conv: conversionExpression(act.columns[x]!.type, ec.type, quoteIdent(x)) }))
        .find((x) => x.conv !== null);
      if (candidate) {
        explained.add(candidate.name);
        const from = act.columns[candidate.name]!;
        const qx = quoteIdent(candidate.name);
        const convert = from.type === ec.type ? '' : `ALTER TABLE ${qt} ALTER COLUMN ${qx} TYPE ${ec.type} USING ${candidate.conv}; `;
        const aligned = tname === 'session_summaries' && cname === 'snapshot_ip_type';
        out.push({
          severity: sev,
          kind: 'renamed_column',
          table: tname,
          object: cname,
          message: `${tname}.${cname} is missing; ${candidate.name} (${from.type}) looks like it under another name`,
          expected: `${cname} ${ec.type}`,
          actual: `${candidate.name} ${from.type}`,
          fix: `${convert}ALTER TABLE ${qt} RENAME COLUMN ${qx} TO ${qc};` + (aligned ? ' -- or: SELECT * FROM align_snapshot_ip_type();' : ''),
        });
      } else {
        out.push({
          severity: sev,
          kind: 'missing_column',
          table: tname,
          object: cname,
          message: `${tname}.${cname} is missing` + (ec.generated === 's' ? ' (a STORED generated column)' : ''),
          expected: columnDdl(cname, ec),
          fix: `ALTER TABLE ${qt} ADD COLUMN ${columnDdl(cname, ec)};`,
        });
      }
      continue;
    }

    const eg = ec.generated ?? '';
    const ag = ac.generated ?? '';
    if (eg !== ag) {
      const kind: FindingKind = eg === '' ? 'generated_unexpected' : ag === '' ? 'generated_missing' : 'generated_kind';
      const what = (g: string) => (g === 's' ? 'STORED generated' : g === 'v' ? 'VIRTUAL generated' : 'plain');
      out.push({
        severity: sev,
        kind,
        table: tname,
        object: cname,
        message: `${tname}.${cname} is a ${what(ag)} column where a ${what(eg)} one belongs`,
        expected: columnDdl(cname, ec),
        actual: columnDdl(cname, ac),
        fix:
          eg === ''
            ? `ALTER TABLE ${qt} ALTER COLUMN ${qc} DROP EXPRESSION;`
            : `ALTER TABLE ${qt} DROP COLUMN ${qc}, ADD COLUMN ${columnDdl(cname, ec)}; -- values are derived: nothing is lost (cowrie-db migrate does this)`,
      });
    } else if (eg !== '' && !same(tname, cname, ec.generation_expression ?? '', ac.generation_expression ?? '')) {
      out.push({
        severity: sev,
        kind: 'generation_expression',
        table: tname,
        object: cname,
        message: `${tname}.${cname} is generated with another expression`,
        expected: ec.generation_expression ?? undefined,
        actual: ac.generation_expression ?? undefined,
        fix:
          `ALTER TABLE ${qt} ALTER COLUMN ${qc} SET EXPRESSION AS (${ec.generation_expression}); -- PostgreSQL >= 17; ` +
          `older: ALTER TABLE ${qt} DROP COLUMN ${qc}, ADD COLUMN ${columnDdl(cname, ec)};`,
      });
    }

    if (ec.type !== ac.type) {
      const conv = conversionExpression(ac.type, ec.type, qc);
      out.push({
        severity: sev,
        kind: 'column_type',
        table: tname,
        object: cname,
        message: `${tname}.${cname} is ${ac.type}, expected ${ec.type}`,
        expected: ec.type,
        actual: ac.type,
        fix: conv
          ? `ALTER TABLE ${qt} ALTER COLUMN ${qc} TYPE ${ec.type} USING ${conv};`
          : `convert ${tname}.${cname} to ${ec.type} by hand`,
      });
    }
    if (ec.not_null !== ac.not_null && eg === ag) {
      out.push({
        severity: ec.not_null ? 'ERROR' : 'WARNING',
        kind: 'column_nullability',
        table: tname,
        object: cname,
        message: `${tname}.${cname} is ${ac.not_null ? 'NOT NULL' : 'nullable'}, expected ${ec.not_null ? 'NOT NULL' : 'nullable'}`,
        fix: `ALTER TABLE ${qt} ALTER COLUMN ${qc} ${ec.not_null ? 'SET' : 'DROP'} NOT NULL;`,
      });
    }
    if (eg === '' && ag === '' && norm(ec.default) !== norm(ac.default)) {
      out.push({
        severity: 'WARNING',
        kind: 'column_default',
        table: tname,
        object: cname,
        message: `${tname}.${cname} has default ${ac.default ?? 'none'}, expected ${ec.default ?? 'none'}`,
        expected: ec.default ?? undefined,
        actual: ac.default ?? undefined,
        fix: ec.default
          ? `ALTER TABLE ${qt} ALTER COLUMN ${qc} SET DEFAULT ${ec.default};`
          : `ALTER TABLE ${qt} ALTER COLUMN ${qc} DROP DEFAULT;`,
      });
    }
  }

  for (const x of extras) {
    if (explained.has(x)) continue;
    const twin = Object.keys(exp.columns).find((c) => similarNames(c, x) && c in act.columns);
    if (twin) {
      const aligned = tname === 'session_summaries' && twin === 'snapshot_ip_type';
      out.push({
        severity: 'WARNING',
        kind: 'rename_leftover',
        table: tname,
        object: x,
        message: `${tname}.${x} (${act.columns[x]!.type}) sits next to ${twin}: a rename that was half done`,
        fix: aligned
          ? 'SELECT * FROM align_snapshot_ip_type(); -- merges the values into snapshot_ip_type, then drops the plural column'
          : `merge ${x} into ${twin}, then ALTER TABLE ${qt} DROP COLUMN ${quoteIdent(x)};`,
      });
    } else {
      out.push({ severity: 'INFO', kind: 'extra_column', table: tname, object: x, message: `${tname}.${x} (${act.columns[x]!.type}) is not part of the schema` });
    }
  }
}

function diffConstraints(tname: string, qt: string, exp: TableSnapshot, act: TableSnapshot, out: Finding[]): void {
  const ecs = exp.constraints ?? {};
  const acs = act.constraints ?? {};
  const used = new Set<string>();
  for (const [name, ec] of Object.entries(ecs)) {
    const ac = acs[name];
    if (!ac) {
      const other = Object.entries(acs).find(([n, c]) => !(n in ecs) && c.type === ec.type && normDef(c.definition) === normDef(ec.definition));
      if (other) {
        used.add(other[0]);
        out.push({
          severity: 'INFO',
          kind: 'renamed_constraint',
          table: tname,
          object: name,
          message: `constraint ${name} exists as ${other[0]}`,
          fix: `ALTER TABLE ${qt} RENAME CONSTRAINT ${quoteIdent(other[0])} TO ${quoteIdent(name)};`,
        });
        continue;
      }
      const kind = ec.type === 'f' ? 'foreign key' : ec.type === 'c' ? 'CHECK' : ec.type === 'p' ? 'primary key' : 'constraint';
      out.push({
        severity: 'ERROR',
        kind: 'missing_constraint',
        table: tname,
        object: name,
        message: `${kind} ${name} on ${tname} is missing`,
        expected: ec.definition,
        fix:
          ec.type === 'c' || ec.type === 'f'
            ? `ALTER TABLE ${qt} ADD CONSTRAINT ${quoteIdent(name)} ${ec.definition} NOT VALID; ALTER TABLE ${qt} VALIDATE CONSTRAINT ${quoteIdent(name)};`
            : `ALTER TABLE ${qt} ADD CONSTRAINT ${quoteIdent(name)} ${ec.definition};`,
      });
      continue;
    }
    if (normDef(ac.definition) !== normDef(ec.definition)) {
      out.push({
        severity: 'ERROR',
        kind: 'constraint_definition',
        table: tname,
        object: name,
        message: `constraint ${name} on ${tname} is defined differently`,
        expected: ec.definition,
        actual: ac.definition,
        fix: `ALTER TABLE ${qt} DROP CONSTRAINT ${quoteIdent(name)}, ADD CONSTRAINT ${quoteIdent(name)} ${ec.definition} NOT VALID; ALTER TABLE ${qt} VALIDATE CONSTRAINT ${quoteIdent(name)};`,
      });
    } else if (ec.validated && !ac.validated) {
      out.push({
        severity: 'WARNING',
        kind: 'constraint_not_valid',
        table: tname,
        object: name,
        message: `constraint ${name} on ${tname} is NOT VALID (existing rows are not checked)`,
        fix: `ALTER TABLE ${qt} VALIDATE CONSTRAINT ${quoteIdent(name)};`,
      });
    }
  }
  for (const name of Object.keys(acs)) {
    if (!(name in ecs) && !used.has(name)) {
      out.push({ severity: 'INFO', kind: 'extra_constraint', table: tname, object: name, message: `constraint ${name} on ${tname} is not part of the schema`, actual: acs[name]!.definition });
    }
  }
}

function diffIndexes(tname: string, qt: string, exp: TableSnapshot, act: TableSnapshot, out: Finding[]): void {
  const eis = exp.indexes ?? {};
  const ais = act.indexes ?? {};
  const used = new Set<string>();
  for (const [name, ei] of Object.entries(eis)) {
    const ai = ais[name];
    const create = `CREATE ${ei.unique ? 'UNIQUE ' : ''}INDEX CONCURRENTLY IF NOT EXISTS ${quoteIdent(name)} ON ${qt} ${ei.definition};`;
    if (!ai) {
      const other = Object.entries(ais).find(([n, i]) => !(n in eis) && norm(i.definition) === norm(ei.definition) && !!i.unique === !!ei.unique);
      if (other) {
        used.add(other[0]);
        out.push({
          severity: 'INFO',
          kind: 'renamed_index',
          table: tname,
          object: name,
          message: `index ${name} exists as ${other[0]}`,
          fix: `ALTER INDEX ${quoteIdent(other[0])} RENAME TO ${quoteIdent(name)};`,
        });
        continue;
      }
      out.push({
        severity: ei.primary ? 'ERROR' : 'WARNING',
        kind: 'missing_index',
        table: tname,
        object: name,
        message: `index ${name} on ${tname} is missing`,
        expected: ei.definition,
        fix: create,
      });
      continue;
    }
    if (norm(ai.definition) !== norm(ei.definition) || !!ai.unique !== !!ei.unique) {
      out.push({
        severity: 'WARNING',
        kind: 'index_definition',
        table: tname,
        object: name,
        message: `index ${name} on ${tname} is defined differently`,
        expected: ei.definition,
        actual: ai.definition,
        fix: `DROP INDEX CONCURRENTLY ${quoteIdent(name)}; ${create}`,
      });
    } else if (ai.valid === false) {
      out.push({
        severity: 'WARNING',
        kind: 'index_invalid',
        table: tname,
        object: name,
        message: `index ${name} on ${tname} is INVALID (a failed concurrent build): not used, still maintained`,
        fix: `DROP INDEX CONCURRENTLY ${quoteIdent(name)}; ${create}`,
      });
    }
  }
  for (const name of Object.keys(ais)) {
    if (!(name in eis) && !used.has(name)) {
      out.push({ severity: 'INFO', kind: 'extra_index', table: tname, object: name, message: `index ${name} on ${tname} is not part of the schema`, actual: ais[name]!.definition });
    }
  }
}

/** The most severe finding, or null when there is none. */
export function worstSeverity(findings: Finding[]): Severity | null {
  let worst: Severity | null = null;
  for (const f of findings) if (worst === null || SEVERITY_ORDER[f.severity] < SEVERITY_ORDER[worst]) worst = f.severity;
  return worst;
}

/** check's exit code: 2 any CRITICAL, 1 any ERROR, else 0. */
export function checkExitCode(findings: Finding[]): 0 | 1 | 2 {
  const w = worstSeverity(findings);
  return w === 'CRITICAL' ? 2 : w === 'ERROR' ? 1 : 0;
}
