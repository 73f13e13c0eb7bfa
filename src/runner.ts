#!/usr/bin/env node
// cowrie-db: the CLI entry point. Each command lives in src/commands/<name>.ts.
import './no-jiti-cache.js'; // first: before node-pg-migrate creates its jiti instance
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { installSignalHandlers } from './lifecycle.js';
import { packageRoot } from './db/sqlfiles.js';
import { backfillCommand } from './commands/backfill.js';
import { checkCommand } from './commands/check.js';
import { demoCommand } from './commands/demo.js';
import { seedCommand } from './commands/seed.js';
import { rollbackCommand } from './commands/rollback.js';
import { statusCommand } from './commands/status.js';
import { installSqlCommand } from './commands/install-sql.js';
import { migrateCommand } from './commands/migrate.js';
import { monitorCommand } from './commands/monitor.js';
import { serverCommand } from './commands/server.js';
import { testCommand } from './commands/test.js';
import { validateCommand } from './commands/validate.js';

const { version } = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };

const program = new Command('cowrie-db')
  .description('Bring a drifted Cowrie/DShield honeypot database back into line and fill its ADR-007 snapshot columns safely.')
  .version(version, '-V, --version')
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Target database: --db <url>, else $DATABASE_URL, else the libpq PG* variables,
else an embedded PostgreSQL 17 that cowrie-db starts itself ($COWRIE_DB_HOME).
A password not given there comes from $PGPASSWORD, then $PGPASSFILE or ~/.pgpass (as psql).
TLS as libpq: ?sslmode= (else $PGSSLMODE), default prefer; sslrootcert for verify-ca/verify-full.
Printed resume:/undo: commands keep every URL parameter except the password.

Exit codes: 0 ok/GO, 1 error/NO-GO, 2 critical, 3 could not run (connection, TLS,
permissions), 64 bad usage (a flag, the URL, a file or directory refused before running),
130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Errors are one line on stderr.`,
  );

// commander's own usage errors (unknown flag, bad choice, missing argument) exit 64;
// --help and --version exit 0. Applied to every command and subcommand.
function exitOnCommanderError(command: Command): void {
  command.exitOverride((err) => {
    const ok = err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version';
    process.exit(ok ? 0 : 64);
  });
  command.commands.forEach(exitOnCommanderError);
}

const commands = [
  demoCommand(), seedCommand(), checkCommand(), migrateCommand(), backfillCommand(), statusCommand(), monitorCommand(),
  validateCommand(), rollbackCommand(), installSqlCommand(), testCommand(), serverCommand(),
];
for (const command of commands) program.addCommand(command);
exitOnCommanderError(program);

installSignalHandlers();
await program.parseAsync(process.argv);
