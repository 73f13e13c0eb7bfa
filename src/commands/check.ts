// cowrie-db check: schema drift detection with severities, fixes and exit codes.
import { Command } from 'commander';
import { action, commonSchema, parseFlags, withCommonOptions } from '../cli.js';
import { openDatabase } from '../db/connect.js';
import { checkSchema, type CheckResult } from '../schema/check.js';
import type { Severity } from '../schema/diff.js';
import { log, out, paint } from '../log.js';

const ORDER: Severity[] = ['CRITICAL', 'ERROR', 'WARNING', 'INFO'];
const COLOUR: Record<Severity, 'red' | 'yellow' | 'dim'> = { CRITICAL: 'red', ERROR: 'red', WARNING: 'yellow', INFO: 'dim' };

function printReport(r: CheckResult): void {
  const counts = ORDER.map((s) => `${r.findings.filter((f) => f.severity === s).length} ${s}`).join(', ');
  const verdict = r.exitCode === 2 ? 'CRITICAL DRIFT' : r.exitCode === 1 ? 'DRIFT' : r.findings.length ? 'OK (warnings)' : 'OK: the schema matches the migrations';
  out(`cowrie-db check: ${r.database} (PostgreSQL ${r.serverVersion})`);
  out(paint(r.exitCode ? 'red' : 'green', `${verdict} — ${counts}`));
  out(`schema_version: recorded ${r.recordedSchemaVersion ?? 'absent'}, the migrations define ${r.expectedSchemaVersion ?? '?'}`);
  for (const severity of ORDER) {
    for (const f of r.findings.filter((x) => x.severity === severity)) {
      out(`${paint(COLOUR[severity], severity.padEnd(8))} ${f.message}`);
      if (f.expected !== undefined || f.actual !== undefined) out(`         expected: ${f.expected ?? '-'} | actual: ${f.actual ?? '-'}`);
      if (f.fix) out(`         fix: ${f.fix}`);
    }
  }
  if (r.exitCode) out('\nRepair in place with: cowrie-db migrate   (preview it with: cowrie-db migrate --dry-run)');
}

export function checkCommand(): Command {
  const cmd = new Command('check')
    .description('compare the live schema with the one the migrations define; exit 0 clean, 1 ERROR, 2 CRITICAL, 3 could not run');
  withCommonOptions(cmd);
  return cmd.action(
    action(async (raw) => {
      const flags = parseFlags(commonSchema, raw);
      const db = await openDatabase(flags.db);
      log.info(`checking ${db.label} against sql/migrations`);
      const result = await checkSchema(db);
      if (flags.json) out(JSON.stringify(result, null, 2));
      else printReport(result);
      return result.exitCode;
    }),
  );
}
