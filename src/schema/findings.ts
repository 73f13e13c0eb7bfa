// Reads schema_findings() (sql/functions/schema_findings.sql), THE definition of schema drift
// that check, migrate --dry-run, migrate and validate all print. Nothing here decides what is
// drift, how severe it is or how it is repaired: that is the SQL's; this module only fetches
// the rows.
//
// Which copy of the function runs: this version's sql/functions, installed inside a
// transaction that is rolled back (nothing persists; needs CREATE on the schema, not
// CREATEDB); when the role may not create functions there (42501) or the session is read
// only (25006), the copy installed by the last `cowrie-db migrate`. Either way only the
// catalogs (and, for a constraint that must be validated, its violating rows) are read.
import type postgres from 'postgres';
import { CliError, ExitCode } from '../errors.js';
import { log } from '../log.js';
import { inRolledBackTransaction } from '../db/migrate.js';

export type Severity = 'CRITICAL' | 'ERROR' | 'WARNING' | 'INFO';
export type Repair = 'auto' | 'opt-in' | 'manual' | 'none';

export interface Finding {
  step: number;
  finding_id: string;
  severity: Severity;
  kind: string;
  table_name: string | null;
  object_name: string | null;
  expected: string | null;
  actual: string | null;
  message: string;
  fix: string | null;
  lock_mode: string | null;
  rewrites_table: boolean;
  table_bytes: string | number | null;
  repair: Repair;
  opt_in: string | null;
  run_sql: string | null;
  concurrently: boolean;
  manual_step: string | null;
}

export interface FindingsRead {
  findings: Finding[];
  /** 'current': this version's functions (rolled back); 'installed': the database's own copy. */
  source: 'current' | 'installed';
}

const SEVERITY_EXIT: Record<Severity, 0 | 1 | 2> = { CRITICAL: 2, ERROR: 1, WARNING: 0, INFO: 0 };

/** check's documented exit code for a set of findings: 2 any CRITICAL, 1 any ERROR, else 0. */
export function exitCodeOf(findings: Pick<Finding, 'severity'>[]): 0 | 1 | 2 {
  return findings.reduce<0 | 1 | 2>((worst, f) => Math.max(worst, SEVERITY_EXIT[f.severity]) as 0 | 1 | 2, 0);
}

const query = (tx: postgres.TransactionSql | postgres.Sql, concurrently: boolean) =>
  tx`select * from schema_findings(${concurrently}) order by step` as unknown as Promise<Finding[]>;

const INSTALLED = 'schema_findings(boolean)';

/** The findings as this version defines them, or the installed copy's when this one cannot be loaded. */
export async function readFindings(sql: postgres.Sql, options: { concurrently?: boolean } = {}): Promise<FindingsRead> {
  const concurrently = options.concurrently ?? true;
  try {
    const findings = await inRolledBackTransaction(sql, (tx) => query(tx, concurrently), { withCurrentFunctions: true });
    return { findings, source: 'current' };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== '42501' && code !== '25006') {
      throw new CliError(`could not read the schema findings: ${(err as Error).message}`, ExitCode.couldNotRun);
    }
    log.verbose(`cannot load this version's functions here (${(err as Error).message}); using the installed schema_findings()`);
  }
  return { findings: await readInstalledFindings(sql, concurrently), source: 'installed' };
}

/** The installed schema_findings() (what validate's read-only transaction can call). */
export async function readInstalledFindings(tx: postgres.TransactionSql | postgres.Sql, concurrently = true): Promise<Finding[]> {
  const [fn] = await tx`select to_regprocedure(${INSTALLED}) is not null as ok`;
  if (!fn?.ok) {
    throw new CliError(
      'schema_findings() is not installed in this database and this role cannot load it (no CREATE on the schema, or a read-only session): ' +
        'run cowrie-db migrate once as the owner, or run check as a role that may create functions in the schema',
      ExitCode.couldNotRun,
    );
  }
  try {
    return await query(tx, concurrently);
  } catch (err) {
    throw new CliError(`could not read the schema findings: ${(err as Error).message}`, ExitCode.couldNotRun);
  }
}
