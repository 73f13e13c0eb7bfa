// The drift check: the rows of schema_findings() for the live database, read-only (no
// scratch database, no CREATEDB), and the documented exit code they give.
import type { Database } from '../db/connect.js';
import { exitCodeOf, readFindings, type Finding } from './findings.js';

export interface CheckResult {
  database: string;
  serverVersion: string;
  recordedSchemaVersion: string | null;
  /** Which copy of schema_findings() ran: this version's (rolled back) or the installed one. */
  source: 'current' | 'installed';
  findings: Finding[];
  exitCode: 0 | 1 | 2;
}

export async function checkSchema(db: Database): Promise<CheckResult> {
  const { findings, source } = await readFindings(db.sql);
  const [row] = await db.sql`select current_setting('server_version') as v, to_regclass('schema_state') is not null as has_state`;
  const [recorded] = row?.has_state ? await db.sql`select value from schema_state where key = 'schema_version'` : [];
  return {
    database: db.label,
    serverVersion: String(row?.v ?? '?'),
    recordedSchemaVersion: recorded?.value === undefined || recorded.value === null ? null : String(recorded.value),
    source,
    findings,
    exitCode: exitCodeOf(findings),
  };
}
