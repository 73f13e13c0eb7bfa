// cowrie-db test: run the pgTAP suite (sql/tests) through the runner. By default
// on a scratch database created and migrated on the target server, then dropped.
import { basename } from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { action, commonSchema, parseFlags, withCommonOptions } from '../cli.js';
import { openDatabase, openTarget, type Database } from '../db/connect.js';
import { migrateUp } from '../db/migrate.js';
import { ensurePgtap, runTapFile, type TapResult } from '../db/pgtap.js';
import { sqlFiles } from '../db/sqlfiles.js';
import { CliError, ExitCode, isPermissionError, usageError } from '../errors.js';
import { log, out } from '../log.js';

const flagsSchema = commonSchema.extend({
  inPlace: z.boolean().optional().default(false),
  keep: z.boolean().optional().default(false),
});

export function testCommand(): Command {
  const cmd = new Command('test')
    .description('run the pgTAP tests in sql/tests (TAP on stdout, summary at the end; exit 1 on any failure)')
    .argument('[files...]', 'only these test files (names or paths under sql/tests)')
    .option('--in-place', 'run in the target database itself instead of a scratch copy of the schema')
    .option('--keep', 'keep the scratch database afterwards (its name is printed)');
  withCommonOptions(cmd);
  cmd.addHelpText('after', '\nThe scratch database needs CREATEDB (else exit 3; or use --in-place).\nExit codes: 0 all passed, 1 a failure, 3 could not run, 64 unknown file.');
  return cmd.action(
    action(async (raw, command) => {
      const flags = parseFlags(flagsSchema, raw);
      const wanted = (command.args as string[]).map((a) => basename(a));
      const files = sqlFiles('tests').filter((f) => wanted.length === 0 || wanted.includes(f.name));
      const unknown = wanted.filter((w) => !files.some((f) => f.name === w));
      if (unknown.length) throw usageError(`no such test file in sql/tests: ${unknown.join(', ')}`);

      const server = await openDatabase(flags.db);
      let db: Database = server;
      let scratch: string | undefined;
      if (!flags.inPlace) {
        scratch = `cowrie_test_${process.pid}_${Date.now().toString(36)}`;
        await server.sql.unsafe(`create database ${scratch}`).catch((err: unknown) => {
          if (!isPermissionError(err)) throw err;
          throw new CliError(
            `cowrie-db test builds a scratch database and the role "${server.target.user}" may not create one (needs CREATEDB): ` +
              'grant it (ALTER ROLE ... CREATEDB), or run the tests in the target database itself with --in-place',
            ExitCode.couldNotRun,
          );
        });
        db = await openTarget({ ...server.target, database: scratch });
        db.extensionDir = server.extensionDir;
        log.info(`scratch database ${scratch} on ${server.label}`);
        await migrateUp(db);
      }
      try {
        await ensurePgtap(db.sql, db.extensionDir);
        const results: TapResult[] = [];
        for (const file of files) {
          const result = await runTapFile(db.sql, file);
          results.push(result);
          if (!flags.json) {
            out(`# ${file.name}`);
            for (const line of result.lines) out(line);
            if (result.error) out(`not ok - ${file.name} ${result.error}`);
          }
        }
        const passed = results.reduce((n, r) => n + r.passed, 0);
        const failed = results.reduce((n, r) => n + r.failed, 0);
        const skipped = results.reduce((n, r) => n + r.skipped, 0);
        const todo = results.reduce((n, r) => n + r.todo, 0);
        const badFiles = results.filter((r) => r.failed > 0).map((r) => r.file);
        if (flags.json) out(JSON.stringify({ files: results.length, passed, failed, skipped, todo, failedFiles: badFiles, results }));
        else {
          out(`# files: ${results.length}, failing files: ${badFiles.length ? badFiles.join(', ') : 'none'}`);
          out(`pgtap: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}${todo ? `, ${todo} todo` : ''}`);
        }
        return failed > 0 || results.length === 0 ? ExitCode.error : ExitCode.ok;
      } finally {
        if (scratch && !flags.keep) {
          await db.close();
          await server.sql.unsafe(`drop database if exists ${scratch} with (force)`).catch(async () => server.sql.unsafe(`drop database if exists ${scratch}`));
        } else if (scratch) log.info(`kept scratch database ${scratch}`);
      }
    }),
  );
}
