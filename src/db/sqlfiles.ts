// Locates the project's versioned SQL (shipped in the package next to dist/).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Package root: src/db/ and dist/db/ are both two levels below it. */
export const packageRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const sqlRoot = join(packageRoot, 'sql');

export type SqlDir = 'migrations' | 'upgrades' | 'functions' | 'views' | 'rollback' | 'tests' | 'seed';

export function sqlDir(dir: SqlDir): string {
  return join(sqlRoot, dir);
}

export interface SqlFile {
  name: string;
  path: string;
  text: string;
}

/** The .sql files of a directory in name order (the install order). */
export function sqlFiles(dir: SqlDir): SqlFile[] {
  const path = sqlDir(dir);
  if (!existsSync(path)) return [];
  return readdirSync(path)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((name) => ({ name, path: join(path, name), text: readFileSync(join(path, name), 'utf8') }));
}

/**
 * What installing the functions runs, in order: the upgrade steps (sql/upgrades: drops of
 * signatures that changed, guarded), then every object of sql/functions.
 */
export function functionInstallFiles(): SqlFile[] {
  return [...sqlFiles('upgrades'), ...sqlFiles('functions')];
}

/** The up section of a node-pg-migrate SQL migration. */
export function upSection(text: string): string {
  const up = text.search(/^\s*--[\s-]*up\s+migration/im);
  const down = text.search(/^\s*--[\s-]*down\s+migration/im);
  if (up < 0) return text;
  return text.slice(up, down > up ? down : undefined);
}
