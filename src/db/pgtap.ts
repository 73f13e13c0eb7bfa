// pgTAP: make the extension available on the server, and run sql/tests files
// through the `postgres` client, collecting their TAP output.
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type postgres from 'postgres';
import { Parser, type FinalResults } from 'tap-parser';
import { CliError, ExitCode } from '../errors.js';
import type { SqlFile } from './sqlfiles.js';

const DEBIAN_SHARE = '/usr/share/postgresql';

function debianPgtapDir(): string | undefined {
  if (!existsSync(DEBIAN_SHARE)) return undefined;
  const versions = readdirSync(DEBIAN_SHARE).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => join(DEBIAN_SHARE, v, 'extension')).find((d) => existsSync(join(d, 'pgtap.control')));
}

/** pgTAP's files are plain SQL: copy them into a server's extension directory. */
export function copyPgtapInto(extensionDir: string): boolean {
  if (existsSync(join(extensionDir, 'pgtap.control'))) return true;
  const source = debianPgtapDir();
  if (!source) return false;
  for (const f of readdirSync(source).filter((n) => n.startsWith('pgtap') || n === 'uninstall_pgtap.sql')) {
    copyFileSync(join(source, f), join(extensionDir, f));
  }
  return true;
}

/**
 * Ensures `CREATE EXTENSION pgtap` works in the connected database. `extensionDir`
 * is given for servers cowrie-db runs itself (embedded, test clusters).
 */
export async function ensurePgtap(sql: postgres.Sql, extensionDir?: string): Promise<void> {
  const available = async (): Promise<boolean> =>
    (await sql`select count(*)::int as n from pg_available_extensions where name = 'pgtap'`)[0]?.n === 1;
  if (!(await available()) && extensionDir) copyPgtapInto(extensionDir);
  if (!(await available())) {
    const [row] = await sql`select current_setting('server_version_num')::int / 10000 as major`;
    const major = row?.major ?? 15;
    throw new CliError(
      `pgTAP is not installed on this server. Install it with: apt-get install postgresql-${major}-pgtap ` +
        `(for the embedded server: apt-get install postgresql-15-pgtap; its SQL files are copied in automatically)`,
      ExitCode.couldNotRun,
    );
  }
  await sql`create extension if not exists pgtap`;
}

export interface TapResult {
  file: string;
  lines: string[];
  planned?: number;
  /** Test points that passed, not counting skips and TODOs. */
  passed: number;
  /** Failed test points (a failing TODO is not one), plus 1 for an unmet plan, a bail-out or a file that died. */
  failed: number;
  skipped: number;
  /** TODO test points (expected to fail; either way not counted as passed or failed). */
  todo: number;
  error?: string;
}

/** Why a file failed as a whole, apart from its failed test points. */
function fileProblem(results: FinalResults, hadPlan: boolean, died: string | undefined): string | undefined {
  if (died !== undefined) return `died: ${died}`;
  if (results.bailout !== false) return `bailed out: ${results.bailout === true ? 'no reason given' : results.bailout}`;
  return hadPlan ? undefined : 'no TAP plan in its output';
}

/** The counts of one file's TAP output, as TAP consumers (prove, pg_prove) read it. */
export function parseTap(file: string, lines: string[], died?: string): TapResult {
  let results: FinalResults | undefined;
  let planSeen = false;
  const parser = new Parser((r) => (results = r));
  parser.on('plan', () => (planSeen = true));
  parser.write(lines.map((l) => `${l}\n`).join(''));
  // Read before end(): on end the parser makes up a plan for output that had none.
  const hadPlan = planSeen;
  parser.end();
  if (!results) throw new Error(`TAP parser did not finish on ${file}`);
  const skipped = results.skips.length;
  const todo = results.todos.length;
  const passed = results.pass - skipped - results.todos.filter((t) => t.ok).length;
  const error = fileProblem(results, hadPlan, died);
  const failed = results.failures.length + (error !== undefined && results.failures.length === 0 ? 1 : 0);
  return { file, lines, planned: hadPlan ? results.plan.end ?? undefined : undefined, passed, failed, skipped, todo, error };
}

/**
 * The file's SQL with its psql `\ir <file>` lines replaced by that file's text (a path
 * relative to the including file), as psql and pg_prove run it: the backfill files
 * share one fixture that way. No other meta-command is used by the suite.
 */
export function expandIncludes(file: SqlFile): string {
  return file.text.replace(/^\\ir\s+(\S+)\s*$/gm, (_line, rel: string) => {
    const path = join(dirname(file.path), rel);
    return expandIncludes({ name: rel, path, text: readFileSync(path, 'utf8') });
  });
}

/** Runs one pgTAP file on a reserved connection; its own BEGIN/ROLLBACK keep it clean. */
export async function runTapFile(sql: postgres.Sql, file: SqlFile): Promise<TapResult> {
  const conn = await sql.reserve();
  const lines: string[] = [];
  try {
    const results = (await conn.unsafe(expandIncludes(file)).simple()) as unknown as postgres.RowList<postgres.Row[]>[] | postgres.RowList<postgres.Row[]>;
    const list = Array.isArray(results) && Array.isArray(results[0]) ? (results as postgres.RowList<postgres.Row[]>[]) : [results as postgres.RowList<postgres.Row[]>];
    for (const rows of list) {
      for (const row of rows ?? []) {
        const values = Object.values(row);
        if (values.length === 1 && typeof values[0] === 'string') lines.push(...values[0].split('\n'));
      }
    }
    return parseTap(file.name, lines);
  } catch (err) {
    await conn.unsafe('rollback').catch(() => undefined);
    return parseTap(file.name, lines, (err as Error).message);
  } finally {
    conn.release();
  }
}
