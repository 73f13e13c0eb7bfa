// The password file, as libpq reads it: $PGPASSFILE, else ~/.pgpass. Lines are
// hostname:port:database:username:password; `*` matches anything, `\:` and `\\`
// escape; the first matching line wins; `#` starts a comment. Like libpq, a file
// that the group or others can read is ignored (with a warning).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { log } from '../log.js';

export interface PgpassQuery {
  host: string;
  port: number;
  database: string;
  user: string;
}

/** The password file's path for this environment (it may not exist). */
export function pgpassPath(env: NodeJS.ProcessEnv): string {
  return env.PGPASSFILE || join(env.HOME || homedir(), '.pgpass');
}

/** Splits one line on unescaped colons, unescaping `\:` and `\\`. */
function fields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) cur += line[++i];
    else if (c === ':') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** The password of the first line of `text` that matches `q`, if any. */
export function matchPgpass(text: string, q: PgpassQuery): string | undefined {
  const wanted = [q.host, String(q.port), q.database, q.user];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.trim() === '' || raw.startsWith('#')) continue;
    const f = fields(raw);
    if (f.length < 5) continue;
    const ok = wanted.every((w, i) => f[i] === '*' || f[i] === w);
    if (ok) return f.slice(4).join(':');
  }
  return undefined;
}

/** Looks the target up in the password file; undefined when there is none or no line matches. */
export function pgpassPassword(q: PgpassQuery, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const path = pgpassPath(env);
  if (!existsSync(path)) return undefined;
  try {
    const st = statSync(path);
    if (!st.isFile()) return undefined;
    if ((st.mode & 0o077) !== 0) {
      log.warn(`password file ${path} has group or world access; permissions should be u=rw (0600) or less: ignored`);
      return undefined;
    }
    return matchPgpass(readFileSync(path, 'utf8'), q);
  } catch (err) {
    log.warn(`cannot read password file ${path}: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}
