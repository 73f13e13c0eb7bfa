// cowrie-db migrate: build or update the schema and install every SQL object.
import { Command } from 'commander';
import { z } from 'zod';
import { action, commonSchema, parseFlags, withCommonOptions } from '../cli.js';
import { openDatabase } from '../db/connect.js';
import { migrateDown, migrateUp, type OptIn } from '../db/migrate.js';
import { formatBytes, migrationPlan, type MigrationPlan } from '../db/plan.js';
import { formatFinding } from '../schema/report.js';
import type { Finding } from '../schema/findings.js';
import { log, out } from '../log.js';
import { ExitCode, usageError } from '../errors.js';

const flagsSchema = commonSchema.extend({
  dryRun: z.boolean().optional().default(false),
  down: z.boolean().optional().default(false),
  dropDuplicates: z.boolean().optional().default(false),
  convertJsonb: z.boolean().optional().default(false),
  count: z
    .union([z.literal('all'), z.coerce.number().int().min(1).max(1000)], { message: "must be a number of migrations (1-1000) or 'all'" })
    .optional(),
});

function printNotRepaired(findings: Finding[]): void {
  if (findings.length === 0) return;
  out(`not repaired automatically (${findings.length}):`);
  for (const f of findings) out(formatFinding(f).map((l) => '  ' + l).join('\n'));
}

function printPlan(plan: MigrationPlan): void {
  out('DRY RUN: nothing is changed.');
  if (plan.pending.length === 0) out('migrations: none pending');
  for (const m of plan.pending) {
    out(`migration ${m.name}:`);
    for (const line of m.header) out(`    ${line}`);
  }
  for (const f of plan.byMigrations) out(`by the pending migrations: ${f.message} (${f.fix ?? ''})`);
  if (plan.repairNote) out(`repair: ${plan.repairNote}`);
  else if (plan.repair.length === 0) out('repair: nothing to repair');
  for (const r of plan.repair) {
    out(`repair ${r.step}: ${r.action} ${r.table_name ?? ''}${r.object_name ? '.' + r.object_name : ''}${r.concurrently ? ' (CONCURRENTLY, outside a transaction)' : ''}${r.repair === 'opt-in' ? ' [opt-in]' : ''}`);
    if (r.message) out(`      ${r.message}`);
    if (r.statement) out(`      ${r.statement}`);
    out(`      lock: ${r.lock_mode ?? 'none'} on ${r.table_name ?? '-'} (${formatBytes(r.table_bytes === null ? undefined : Number(r.table_bytes))})${r.rewrites_table ? ' — REWRITES THE TABLE' : ''}`);
  }
  printNotRepaired(plan.notRepaired);
}

/** migrate's exit code: 1 when a CRITICAL or ERROR finding is left that needs a manual step. */
function exitOf(notRepaired: Finding[]): number {
  return notRepaired.some((f) => f.repair === 'manual' && (f.severity === 'CRITICAL' || f.severity === 'ERROR')) ? ExitCode.error : ExitCode.ok;
}

export function migrateCommand(): Command {
  const cmd = new Command('migrate')
    .description('apply pending migrations, install functions/procedures/views, repair what drifted (re-runnable)')
    .option('--dry-run', 'print what would be applied and change nothing')
    .option('--down', 'revert migrations instead (needs --count)')
    .option('--drop-duplicates', 'also remove the redundant copy of a foreign key, CHECK or index that exists twice under two names (opt-in; check lists them)')
    .option('--convert-jsonb', 'also convert the inventories\' json enrichment to jsonb (opt-in; rewrites the table under ACCESS EXCLUSIVE)')
    .option('--count <n|all>', 'with --down: how many migrations to revert');
  withCommonOptions(cmd);
  return cmd.action(
    action(async (raw) => {
      const flags = parseFlags(flagsSchema, raw);
      const db = await openDatabase(flags.db);
      log.info(`database: ${db.label}`);
      if (flags.down) {
        if (flags.count === undefined) throw usageError('--down needs --count <n|all>');
        const count = flags.count === 'all' ? Infinity : flags.count;
        const reverted = await migrateDown(db, count);
        if (flags.json) out(JSON.stringify({ reverted }));
        else out(reverted.length ? `reverted: ${reverted.join(', ')}` : 'nothing to revert');
        return;
      }
      const optIn: OptIn[] = [...(flags.dropDuplicates ? (['drop-duplicates'] as const) : []), ...(flags.convertJsonb ? (['convert-jsonb'] as const) : [])];
      if (flags.dryRun) {
        const plan = await migrationPlan(db, { optIn });
        if (flags.json) out(JSON.stringify({ dryRun: true, optIn, ...plan }));
        else printPlan(plan);
        return;
      }
      const report = await migrateUp(db, { optIn });
      if (flags.json) out(JSON.stringify({ optIn, ...report }));
      else {
        out(report.applied.length ? `applied ${report.applied.length} migration(s): ${report.applied.join(', ')}` : 'no migration pending');
        out(report.repaired.length ? `repaired ${report.repaired.length} drifted object(s):` : 'no drift to repair');
        for (const r of report.repaired) out(`  ${r.step}. ${r.action} ${r.table_name ?? ''}${r.object_name ? '.' + r.object_name : ''}`);
        printNotRepaired(report.notRepaired);
        out(`installed ${report.functions} function file(s) and ${report.views} view file(s)`);
      }
      const code = exitOf(report.notRepaired);
      if (code) log.error('some findings need a manual step (listed above); cowrie-db check lists them too');
      return code;
    }),
  );
}
