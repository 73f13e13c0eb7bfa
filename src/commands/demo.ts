// cowrie-db demo: builds a database drifted like the users' (plural snapshot column,
// an ip_inventory without its generated columns, dirty rows), then runs check,
// migrate, backfill and validate on it, each as the command a person would type.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { z } from 'zod';
import { action, intFlag, parseFlags, DB_HELP } from '../cli.js';
import { ExitCode, CliError } from '../errors.js';
import { out, paint } from '../log.js';

const flagsSchema = z.object({
  sessions: intFlag(1000, 5_000_000).optional().default(100_000),
  seed: intFlag(0, 2_147_483_647).optional().default(1),
  db: z.string().optional(),
});

interface Step {
  title: string;
  args: string[];
  /** Exit codes that mean the step did what the demo expects. */
  expect: number[];
  explain: (code: number) => string;
}

const runnerPath = fileURLToPath(new URL('../runner.js', import.meta.url));

function runStep(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [runnerPath, ...args], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? ExitCode.sigint : ExitCode.error)));
  });
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('the whole job end to end on a drifted demo database: seed, check, migrate, check, backfill, validate')
    .option('--sessions <n>', 'sessions to generate (1000-5000000; default 100000)')
    .option('--seed <n>', 'generator seed (default 1)')
    .option('--db <url>', `${DB_HELP}. The demo RESETS the session data of that database.`)
    .action(
      action(async (raw) => {
        const flags = parseFlags(flagsSchema, raw);
        const db = flags.db ? ['--db', flags.db] : [];
        const steps: Step[] = [
          ...(flags.db ? [] : [{ title: 'start the embedded PostgreSQL 17 (kept running for psql afterwards)', args: ['server', 'start'], expect: [0], explain: () => 'running' }]),
          {
            title: `build a drifted database like the users': ${flags.sessions.toLocaleString('en-US')} sessions, snapshot_ip_types (plural), ip_inventory without its generated columns, dirty rows`,
            args: ['seed', '--sessions', String(flags.sessions), '--seed', String(flags.seed), '--drift', 'plural-text,incomplete-inventory', '--reset', ...db],
            expect: [0],
            explain: () => 'seeded',
          },
          { title: 'detect the drift', args: ['check', ...db], expect: [2], explain: (c) => (c === 2 ? 'CRITICAL drift found, as expected: the backfill would fail on this schema' : 'unexpected result') },
          { title: 'preview the repair (nothing changes)', args: ['migrate', '--dry-run', ...db], expect: [0], explain: () => 'plan printed' },
          { title: 'migrate: apply migrations, rename the column, rebuild the generated columns in place', args: ['migrate', ...db], expect: [0], explain: () => 'schema aligned' },
          { title: 'check again', args: ['check', ...db], expect: [0], explain: () => 'no drift left' },
          { title: 'validate before the backfill', args: ['validate', '--skip', 'performance', ...db], expect: [1], explain: (c) => (c === 1 ? 'NO-GO, as expected: snapshots are missing' : 'unexpected result') },
          { title: 'backfill the snapshot columns (resumable; Ctrl-C pauses, the same command resumes)', args: ['backfill', '--batch-size', '5000', ...db], expect: [0], explain: () => 'backfill complete' },
          { title: 'validate: coverage, accuracy, data quality, query speedup', args: ['validate', ...db], expect: [0], explain: (c) => (c === 0 ? 'GO' : 'NO-GO') },
        ];
        const started = Date.now();
        for (const [i, step] of steps.entries()) {
          out(paint('bold', `\n━━ step ${i + 1}/${steps.length}: ${step.title}`));
          out(paint('dim', `   $ cowrie-db ${step.args.join(' ')}`));
          const t0 = Date.now();
          const code = await runStep(step.args);
          if (code === ExitCode.sigint || code === ExitCode.sigterm) return code;
          const ok = step.expect.includes(code);
          out(paint(ok ? 'green' : 'red', `   ${ok ? '✔' : '✘'} ${step.explain(code)} (exit ${code}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`));
          if (!ok) throw new CliError(`demo stopped at step ${i + 1}: \`cowrie-db ${step.args.join(' ')}\` exited ${code}`, ExitCode.error);
        }
        out(paint('bold', `\nDone in ${((Date.now() - started) / 1000).toFixed(0)} s. Verdict: GO.`));
        out(`Try next:
  cowrie-db status                      runs, rows, rate, and how to undo each
  cowrie-db rollback backfill --run N   exact undo of run N (ids in cowrie-db status)
  cowrie-db validate --json             the verdict for machines
  cowrie-db server status               the psql command line for this database
  cowrie-db server stop                 stop the embedded server when you are done`);
        if (!flags.db) await runStep(['server', 'status']);
      }),
    );
}
