// pgTAP: make the extension available on the server, and run sql/tests files
// through the `postgres` client, collecting their TAP output.
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type postgres from 'postgres';
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
  passed: number;
  failed: number;
  error?: string;
}

function tally(file: string, lines: string[], error?: string): TapResult {
  let passed = 0;
  let failed = 0;
  let planned: number | undefined;
  for (const line of lines) {
    const plan = /^1\.\.(\d+)/.exec(line);
    if (plan) planned = Number(plan[1]);
    else if (/^ok \d+/.test(line)) passed++;
    else if (/^not ok \d+/.test(line)) failed++;
  }
  // A plan that was not met, or a file that died, is a failure.
  if (error || (planned !== undefined && planned !== passed + failed)) failed = Math.max(failed, 1);
  return { file, lines, planned, passed, failed, error };
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
    return tally(file.name, lines);
  } catch (err) {
    await conn.unsafe('rollback').catch(() => undefined);
    return tally(file.name, lines, (err as Error).message);
  } finally {
    conn.release();
  }
}
