// cowrie-db install-sql: the one-file SQL install for DBAs who work from psql.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { action, parseFlags } from '../cli.js';
import { buildInstallScript } from '../db/install-script.js';
import { packageRoot } from '../db/sqlfiles.js';
import { usageError } from '../errors.js';
import { checkOutputFile } from '../files/checks.js';
import { writeFileAtomic } from '../files/safe-write.js';
import { log } from '../log.js';

const flagsSchema = z.object({
  print: z.boolean().optional().default(false),
  output: z.string().min(1).optional(),
});

export function installSqlCommand(): Command {
  return new Command('install-sql')
    .description('write every function, procedure, migration and view as one idempotent psql script')
    .option('--print', 'print the script on stdout')
    .option('-o, --output <file>', 'write the script to a file (replaced atomically, mode 0600; its directory must exist)')
    .addHelpText('after', '\nThen: psql -v ON_ERROR_STOP=1 -f cowrie-db-install.sql "postgresql://user@host/db"')
    .action(
      action(async (raw) => {
        const flags = parseFlags(flagsSchema, raw);
        if (!flags.print && !flags.output) throw usageError('install-sql: give --print or --output <file>');
        if (flags.output) checkOutputFile('--output', flags.output);
        const { version } = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
        const script = buildInstallScript(version);
        if (flags.output) {
          writeFileAtomic(flags.output, script);
          log.info(`wrote ${flags.output}; run it with: psql -v ON_ERROR_STOP=1 -f ${flags.output} "<database url>"`);
        }
        if (flags.print) process.stdout.write(script);
      }),
    );
}
