// cowrie-db validate: GO / NO-GO with evidence, for people and for CI. Read-only.
import { Command } from 'commander';
import { z } from 'zod';
import { action, commonSchema, intFlag, numberFlag, parseFlags, withCommonOptions } from '../cli.js';
import { openDatabase } from '../db/connect.js';
import { resolveTarget, describeTarget } from '../db/target.js';
import { CliError, ExitCode, errorMessage, usageError } from '../errors.js';
import { checkOutputFile } from '../files/checks.js';
import { writeFileAtomic } from '../files/safe-write.js';
import { log, out } from '../log.js';
import { applyFlags, defaultConfig, loadConfigFile } from '../validate/config.js';
import { renderJson, renderJunit, renderText } from '../validate/report.js';
import { couldNotConnect, runValidate, type ValidateReport } from '../validate/run.js';
import { GROUPS, type Group } from '../validate/types.js';

const num = numberFlag;

const groups = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
  .refine((xs) => xs.every((x) => (GROUPS as readonly string[]).includes(x)), { message: `must be a comma-separated list of: ${GROUPS.join(', ')}` })
  .transform((xs) => xs as Group[]);

const flagsSchema = commonSchema.extend({
  config: z.string().min(1).optional(),
  junit: z.string().min(1).optional(),
  minCoverage: num(0, 100).optional(),
  minAccuracy: num(0, 100).optional(),
  minSpeedup: num(0, 1000).optional(),
  minInventoryCoverage: num(0, 100).optional(),
  sampleSize: intFlag(1, 10_000_000).optional(),
  seed: intFlag(0, 2_147_483_647).optional(),
  runs: intFlag(1, 100).optional(),
  country: z.string().regex(/^[A-Z]{2}$/, 'must be a 2-letter upper-case country code').optional(),
  ipType: z.string().min(1).max(64).optional(),
  snowshoeMinIps: intFlag(0, 1_000_000_000).optional(),
  statementTimeout: intFlag(1, 86_400).optional(),
  fullDrift: z.boolean().optional().default(true),
  only: groups.optional(),
  skip: groups.optional(),
});

export function validateCommand(): Command {
  const cmd = new Command('validate')
    .description('GO / NO-GO verdict with evidence: schema, coverage, accuracy, data quality, query performance, readiness (read-only)')
    .option('--config <file>', 'JSON settings file, at most 1 MiB (thresholds, sample, performance, severity overrides); flags win over it')
    .option('--junit <file>', 'also write a JUnit XML report (one test case per check) to <file>: replaced atomically, mode 0600; its directory must exist')
    .option('--min-coverage <pct>', 'coverage threshold in % (default 95)')
    .option('--min-accuracy <pct>', 'accuracy threshold in % (default 99)')
    .option('--min-speedup <x>', 'snapshot-vs-JOIN speedup threshold (default 5)')
    .option('--min-inventory-coverage <pct>', 'readiness: % of sessions to fill whose IP is in ip_inventory (default 95)')
    .option('--sample-size <n>', 'accuracy sample size (default 1000)')
    .option('--seed <n>', 'accuracy sample seed (default: random, printed in the report)')
    .option('--runs <n>', 'timed runs per benchmark query form; the median is reported (default 5)')
    .option('--country <CC>', 'country of the benchmark queries (default CN)')
    .option('--ip-type <type>', 'IP type of the benchmark queries (default DATACENTER)')
    .option('--snowshoe-min-ips <n>', 'snowshoe query: ASNs with more than n distinct IPs (default 100)')
    .option('--statement-timeout <seconds>', 'per-statement limit in the read-only transaction (default 300)')
    .option('--no-full-drift', 'no effect (kept for scripts): schema drift is always schema_findings(), exactly as `cowrie-db check` reports it')
    .option('--only <groups>', `run only these groups (comma-separated: ${GROUPS.filter((g) => g !== 'connection').join(', ')})`)
    .option('--skip <groups>', 'leave these groups out')
    .addHelpText(
      'after',
      `
Runs in one REPEATABLE READ READ ONLY transaction with a statement timeout: writes nothing.
Exit codes: 0 GO, 1 NO-GO (an ERROR), 2 CRITICAL, 3 could not run (connection, permissions,
a check that could not be evaluated, or the --junit file could not be written after the
report was printed), 64 bad usage (a bad flag, config file or --junit path: refused before running).
The checks and the verdict are decided in SQL; from psql (in a READ ONLY transaction):
  SELECT * FROM validate_verdict();   SELECT * FROM validate_checks();   (docs/validate.md)`,
    );
  withCommonOptions(cmd);
  return cmd.action(
    action(async (raw) => {
      const flags = parseFlags(flagsSchema, raw);
      const config = applyFlags(flags.config ? loadConfigFile(flags.config) : defaultConfig(), flags);
      if (flags.json && flags.junit === '-') throw usageError('--junit -: use a file name (stdout carries --json)');
      if (flags.junit) checkOutputFile('--junit', flags.junit);
      let report: ValidateReport;
      try {
        const db = await openDatabase(flags.db);
        log.info(`validating ${db.label} (read-only)`);
        report = await runValidate(db, config, { fullDrift: flags.fullDrift });
      } catch (err) {
        if (!(err instanceof CliError) || err.exitCode !== ExitCode.couldNotRun) throw err;
        log.error(err.message);
        let label = 'unknown database';
        try {
          const t = resolveTarget(flags.db);
          label = t.kind === 'postgres' ? describeTarget(t) : t.kind;
        } catch {
          /* keep the generic label */
        }
        report = couldNotConnect(label, config, err.message);
      }
      // The report first: a JUnit file that cannot be written must not cost the verdict.
      if (flags.json) out(renderJson(report));
      else out(renderText(report));
      if (flags.junit) {
        try {
          writeFileAtomic(flags.junit, renderJunit(report));
          log.verbose(`wrote JUnit report ${flags.junit}`);
        } catch (err) {
          log.error(`--junit ${flags.junit}: cannot write the JUnit report (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}); the report is on stdout above`);
          return report.exitCode === ExitCode.ok ? ExitCode.couldNotRun : report.exitCode;
        }
      }
      return report.exitCode;
    }),
  );
}
