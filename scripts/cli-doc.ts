// docs/cli.md from the CLI's own help: `cowrie-db --help`, then every command's and subcommand's
// `--help`, found by reading the "Commands:" section of each help text (so a new command or flag
// appears without touching this script). Run `npm run docs:cli` after changing a flag;
// test/docs-cli.test.ts fails while docs/cli.md differs from what this renders.
//
// The help is read through a pipe, never a terminal: commander then wraps at 80 columns whatever
// the terminal's width, and NO_COLOR keeps escape codes out, so the output is the same everywhere.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
export const cliDocPath = join(repoRoot, 'docs', 'cli.md');
const runnerPath = join(repoRoot, 'dist', 'runner.js');

const INTRO = `# cowrie-db command reference

Generated from the CLI's own \`--help\` by \`npm run docs:cli\` (scripts/cli-doc.ts); do not edit it by
hand. \`test/docs-cli.test.ts\` fails when this file and \`--help\` disagree.

What the options mean in practice (connecting, TLS, passwords, the status file, what is written where,
each command's output and exit codes) is in [usage.md](usage.md); the SQL behind each command is in
[psql.md](psql.md). Exit codes, for every command: 0 ok / GO, 1 error / NO-GO, 2 critical, 3 could not
run (connection, TLS, permissions), 64 bad usage, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM);
each command's own meaning of them is at the end of its help and in [usage.md](usage.md#exit-codes).
`;

function helpOf(commandPath: string[]): string {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', COLUMNS: '80' };
  delete env.FORCE_COLOR;
  delete env.CLICOLOR_FORCE;
  return execFileSync(process.execPath, [runnerPath, ...commandPath, '--help'], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

// The names listed under "Commands:" (entries start at column 2; wrapped descriptions are indented
// further). commander's own `help [command]` is left out.
export function subcommandNames(help: string): string[] {
  const lines = help.split('\n');
  const start = lines.indexOf('Commands:');
  if (start < 0) return [];
  const names: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    const name = /^ {2}(\S+)/.exec(line)?.[1];
    if (name !== undefined && name !== 'help') names.push(name);
  }
  return names;
}

interface HelpSection { commandPath: string[]; help: string }

function collectHelp(commandPath: string[]): HelpSection[] {
  const help = helpOf(commandPath);
  const nested = subcommandNames(help).flatMap((name) => collectHelp([...commandPath, name]));
  return [{ commandPath, help }, ...nested];
}

export function renderCliDoc(): string {
  const sections = collectHelp([]);
  const toc = sections
    .filter((section) => section.commandPath.length > 0)
    .map((section) => `[\`${section.commandPath.join(' ')}\`](#${anchorOf(section.commandPath)})`)
    .join(' · ');
  const body = sections.map((section) => {
    const title = ['cowrie-db', ...section.commandPath].join(' ');
    return `## \`${title}\`\n\n\`\`\`text\n${section.help.trimEnd()}\n\`\`\`\n`;
  });
  return `${INTRO}\nCommands: ${toc}\n\n${body.join('\n')}`;
}

// GitHub's anchor for a heading "`cowrie-db rollback backfill`": lower case, spaces to hyphens,
// backticks dropped.
function anchorOf(commandPath: string[]): string {
  return ['cowrie-db', ...commandPath].join('-').toLowerCase();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  writeFileSync(cliDocPath, renderCliDoc());
  process.stderr.write(`wrote ${cliDocPath}\n`);
}
