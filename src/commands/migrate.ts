// cowrie-db migrate: build or update the schema and install every SQL object.
import { Command } from 'commander';
import { z } from 'zod';
import { action, commonSchema, parseFlags, withCommonOptions } from '../cli.js';
import { openDatabase } from '../db/connect.js';
import { migrateDown, migrateUp } from '../db/migrate.js';
import { formatBytes, migrationPlan, type MigrationPlan } from '../db/plan.js';
import { log, out } from '../log.js';
import { usageError } from '../errors.js';

const flagsSchema = commonSchema.extend({
  dryRun: z.boolean().optional().default(false),
  down: z.boolean().optional().default(false),
  count: z
    .union([z.literal('all'), z.coerce.number().int().min(1).max(1000)], { message: "must be a number of migrations (1-1000) or 'all'" })
    .optional(),
});

function printPlan(plan: MigrationPlan): void {
  out('DRY RUN: nothing is changed.');
  if (plan.pending.length === 0) out('migrations: none pending');
  for (const m of plan.pending) {
    out(`migration ${m.name}:`);
    for (const s of m.statements) {
      const where = s.table ? ` on ${s.table} (${formatBytes(s.tableBytes)})` : '';
      out(`  - ${s.statement.split('\n')[0]!.slice(0, 110)}${s.statement.includes('\n') ? ' ...' : ''}`);
      out(`      lock: ${s.lock}${where}${s.rewrites ? ' — REWRITES THE TABLE' : ''}`);
    }
  }
  if (plan.repairNote) out(`repair: ${plan.repairNote}`);
  else if (plan.repair.length === 0) out('repair: nothing to repair');
  for (const r of plan.repair) {
    out(`repair ${r.step}: ${r.action} ${r.table_name ?? ''}${r.object_name ? '.' + r.object_name : ''}${r.concurrently ? ' (CONCURRENTLY, outside a transaction)' : ''}`);
    if (r.statement) out(`      ${r.statement}`);
    out(`      lock: ${r.lock_mode ?? 'none'} on ${r.table_name ?? '-'} (${formatBytes(r.table_bytes === null ? undefined : Number(r.table_bytes))})${r.rewrites_table ? ' — REWRITES THE TABLE' : ''}`);
    if (r.blocker) out(`      BLOCKED: ${r.blocker}`);
  }
}

export function migrateCommand(): Command {
  const cmd = new Command('migrate')
    .description('apply pending migrations, install functions/procedures/views, repair what drifted (re-runnable)')
    .option('--dry-run', 'print what would be applied and change nothing')
    .option('--down', 'revert migrations instead (needs --count)')
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
      if (flags.dryRun) {
        const plan = await migrationPlan(db);
        if (flags.json) out(JSON.stringify({ dryRun: true, ...plan }));
        else printPlan(plan);
        return;
      }
      const report = await migrateUp(db);
      if (flags.json) out(JSON.stringify(report));
      else {
        out(report.applied.length ? `applied ${report.applied.length} migration(s): ${report.applied.join(', ')}` : 'no migration pending');
        out(report.repaired.length ? `repaired ${report.repaired.length} drifted object(s):` : 'no drift to repair: schema matches the migrations');
        for (const r of report.repaired) out(`  ${r.step}. ${r.action} ${r.table_name ?? ''}${r.object_name ? '.' + r.object_name : ''}`);
        out(`installed ${report.functions} function file(s) and ${report.views} view file(s)`);
      }
    }),
  );
}
