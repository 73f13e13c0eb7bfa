// The password file, as libpq reads it: $PGPASSFILE, else ~/.pgpass. Lines are
// hostname:port:database:username:password; `*` matches anything, `\:` and `\\`
// escape; the first matching line wins; `#` starts a comment; the password ends at
// the next unescaped colon; `localhost` also matches a Unix socket in the default
// directory. Like libpq, a file that is not a plain file, or that the group or others
// can read, is ignored (with a warning).
//
// Hand-written, not the `pgpass` package (1.0.5, pg's dependency): compared with libpq
// (psql 15 against a scram server, PGPASSFILE), pgpass ignores every line shorter than
// 11 characters (`*:*:*:*:pw` gives no password; libpq uses it), keeps colons after the
// password (`...:a\:b:x` gives `a:b:x`; libpq `a:b`), and it only offers a callback API
// that reads process.env, where resolveTarget is synchronous and takes its environment.
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

/** The socket directories libpq builds use by default (upstream /tmp, Debian's /var/run/postgresql). */
const DEFAULT_SOCKET_DIRS = ['/tmp', '/var/run/postgresql'];

/** The host name a line must name: libpq matches a socket in the default directory with `localhost`. */
function pgpassHost(host: string): string {
  return DEFAULT_SOCKET_DIRS.includes(host) ? 'localhost' : host;
}

/** The password of the first line of `text` that matches `q`, if any (an empty one is none, as in libpq). */
export function matchPgpass(text: string, q: PgpassQuery): string | undefined {
  const wanted = [pgpassHost(q.host), String(q.port), q.database, q.user];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.startsWith('#')) continue;
    const f = fields(raw);
    if (f.length < 5) continue;
    if (wanted.every((w, i) => f[i] === '*' || f[i] === w)) return f[4] || undefined;
  }
  return undefined;
}

/** Looks the target up in the password file; undefined when there is none or no line matches. */
export function pgpassPassword(q: PgpassQuery, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const path = pgpassPath(env);
  if (!existsSync(path)) return undefined;
  try {
    const st = statSync(path);
    if (!st.isFile()) {
      log.warn(`password file ${path} is not a plain file: ignored`);
      return undefined;
    }
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
