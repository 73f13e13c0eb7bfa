// cowrie-db migrate: build or update the schema and install every SQL object.
import { Command } from 'commander';
import { z } from 'zod';
import { action, commonSchema, parseFlags, withCommonOptions } from '../cli.js';
import { openDatabase } from '../db/connect.js';
import { migrateDown, migrateUp, pendingMigrations, migrationNames } from '../db/migrate.js';
import { log, out } from '../log.js';
import { usageError } from '../errors.js';

const flagsSchema = commonSchema.extend({
  dryRun: z.boolean().optional().default(false),
  down: z.boolean().optional().default(false),
  count: z
    .union([z.literal('all'), z.coerce.number().int().min(1).max(1000)], { message: "must be a number of migrations (1-1000) or 'all'" })
    .optional(),
});

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
        const pending = await pendingMigrations(db);
        if (flags.json) out(JSON.stringify({ dryRun: true, pending, known: migrationNames() }));
        else out(pending.length ? `would apply: ${pending.join(', ')}` : 'schema is up to date: no migration pending');
        return;
      }
      const report = await migrateUp(db);
      if (flags.json) out(JSON.stringify(report));
      else {
        out(report.applied.length ? `applied ${report.applied.length} migration(s): ${report.applied.join(', ')}` : 'no migration pending: schema up to date');
        out(`installed ${report.functions} function file(s) and ${report.views} view file(s)`);
      }
    }),
  );
}
