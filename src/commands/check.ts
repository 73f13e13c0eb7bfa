// cowrie-db check: schema drift as schema_findings() defines it, with severities, the fix,
// its lock, and whether migrate repairs it; documented exit codes.
import { Command } from 'commander';
import { action, commonSchema, parseFlags, withCommonOptions } from '../cli.js';
import { openDatabase } from '../db/connect.js';
import { checkSchema, type CheckResult } from '../schema/check.js';
import { SEVERITIES, formatFinding, severityCounts } from '../schema/report.js';
import { log, out, paint } from '../log.js';

export const CHECK_HELP = `
What check needs: read access only. It reads the catalogs (and, for a foreign key or CHECK
that must be added or validated, counts the rows that violate it). It creates no database
(no CREATEDB) and changes nothing. It runs this version's schema_findings() inside a
transaction that is rolled back; a role that may not create functions in the schema uses the
copy the last \`cowrie-db migrate\` installed (SELECT * FROM schema_findings() from psql gives
the same rows).

What counts as drift: the tables session_summaries, ip_inventory, asn_inventory,
ip_asn_history and schema_state against what the migrations define, in any of the
vocabularies real installs have: an index, foreign key or CHECK that does the job under the
upstream ORM's or v16 name is fine; the ORM's column forms (rir_registry, SERIAL asn_number,
enrichment_version, verification_source, NOT NULL flags, defaults) are fine; json enrichment
in the inventories is fine (jsonb conversion is opt-in); schema_version 17 is the
upstream's. Other tables are never looked at.

Each finding says whether \`cowrie-db migrate\` repairs it (auto), only with a flag (opt-in:
--drop-duplicates, --convert-jsonb), or not at all (manual, with the step to take).
migrate never drops, truncates or rewrites the upstream's other tables, its data or its
extra columns.

Exit codes: 0 no CRITICAL or ERROR finding (WARNING/INFO may be listed), 1 an ERROR,
2 a CRITICAL (the backfill or the snapshot queries cannot run), 3 could not run.`;

function printReport(r: CheckResult): void {
  const verdict = r.exitCode === 2 ? 'CRITICAL DRIFT' : r.exitCode === 1 ? 'DRIFT' : r.findings.length ? 'OK (with warnings or notes)' : 'OK: the schema is as expected';
  out(`cowrie-db check: ${r.database} (PostgreSQL ${r.serverVersion})`);
  out(paint(r.exitCode ? 'red' : 'green', `${verdict} — ${severityCounts(r.findings)}`));
  out(`schema_version: ${r.recordedSchemaVersion ?? 'absent'}`);
  for (const severity of SEVERITIES) for (const f of r.findings.filter((x) => x.severity === severity)) out(formatFinding(f).join('\n'));
  const auto = r.findings.filter((f) => f.repair === 'auto').length;
  if (auto) out(`\n${auto} finding(s) repaired in place by: cowrie-db migrate   (preview: cowrie-db migrate --dry-run)`);
}

export function checkCommand(): Command {
  const cmd = new Command('check')
    .description('compare the live schema with the expected one (read-only); exit 0 clean, 1 ERROR, 2 CRITICAL, 3 could not run')
    .addHelpText('after', CHECK_HELP);
  withCommonOptions(cmd);
  return cmd.action(
    action(async (raw) => {
      const flags = parseFlags(commonSchema, raw);
      const db = await openDatabase(flags.db);
      log.info(`checking ${db.label}`);
      const result = await checkSchema(db);
      if (result.source === 'installed') log.info('using the schema_findings() installed in the database (this role cannot load this version\'s)');
      if (flags.json) out(JSON.stringify(result, null, 2));
      else printReport(result);
      return result.exitCode;
    }),
  );
}
