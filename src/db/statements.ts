// Splits SQL text into statements (respecting quotes, dollar quotes and comments)
// and describes the lock each DDL statement takes, for `migrate --dry-run`.

export function splitStatements(text: string): string[] {
  const out: string[] = [];
  let current = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    const rest = text.slice(i);
    if (rest.startsWith('--')) {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end + 1;
      current += '\n';
      continue;
    }
    if (rest.startsWith('/*')) {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 2;
      continue;
    }
    const dollar = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(rest);
    if (dollar) {
      const tag = dollar[0];
      const end = text.indexOf(tag, i + tag.length);
      const stop = end < 0 ? text.length : end + tag.length;
      current += text.slice(i, stop);
      i = stop;
      continue;
    }
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < text.length) {
        if (text[j] === ch && text[j + 1] === ch) j += 2;
        else if (text[j] === ch) break;
        else j++;
      }
      current += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === ';') {
      if (current.trim()) out.push(current.trim());
      current = '';
      i++;
      continue;
    }
    current += ch;
    i++;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

export interface LockInfo {
  table?: string;
  lock: string;
  rewrites: boolean;
}

const ident = '("?[A-Za-z_][A-Za-z0-9_$]*"?(?:\\."?[A-Za-z_][A-Za-z0-9_$]*"?)?)';

/** The lock a statement takes on its main table (PostgreSQL's documented lock levels). */
export function describeLock(statement: string): LockInfo {
  const s = statement.replace(/\s+/g, ' ').trim();
  const unquote = (name: string | undefined): string | undefined => name?.replace(/"/g, '');
  let m: RegExpExecArray | null;
  if ((m = new RegExp(`^CREATE INDEX CONCURRENTLY (?:IF NOT EXISTS )?\\S+ ON (?:ONLY )?${ident}`, 'i').exec(s)))
    return { table: unquote(m[1]), lock: 'SHARE UPDATE EXCLUSIVE (writes continue)', rewrites: false };
  if ((m = new RegExp(`^CREATE (?:UNIQUE )?INDEX (?:IF NOT EXISTS )?\\S+ ON (?:ONLY )?${ident}`, 'i').exec(s)))
    return { table: unquote(m[1]), lock: 'SHARE (blocks writes while the index builds)', rewrites: false };
  if ((m = new RegExp(`^CREATE TABLE (?:IF NOT EXISTS )?${ident}`, 'i').exec(s)))
    return { table: unquote(m[1]), lock: 'none on existing tables (creates a new one; no-op if it exists)', rewrites: false };
  if ((m = new RegExp(`^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?${ident} (.*)$`, 'i').exec(s))) {
    const action = m[2] ?? '';
    const rewrites = /GENERATED ALWAYS AS .* STORED|SET EXPRESSION|ALTER COLUMN \S+ (?:SET DATA )?TYPE/i.test(action);
    if (/^VALIDATE CONSTRAINT/i.test(action)) return { table: unquote(m[1]), lock: 'SHARE UPDATE EXCLUSIVE (scans, writes continue)', rewrites: false };
    if (/ADD CONSTRAINT .*FOREIGN KEY/i.test(action)) return { table: unquote(m[1]), lock: 'SHARE ROW EXCLUSIVE (and on the referenced table)', rewrites: false };
    return { table: unquote(m[1]), lock: 'ACCESS EXCLUSIVE (brief, metadata only)' + (rewrites ? ', rewrites the table' : ''), rewrites };
  }
  if ((m = new RegExp(`^(?:UPDATE|INSERT INTO|DELETE FROM) ${ident}`, 'i').exec(s)))
    return { table: unquote(m[1]), lock: 'ROW EXCLUSIVE (row locks on the rows it changes)', rewrites: false };
  if ((m = new RegExp(`^DROP (?:TABLE|INDEX|VIEW) (?:CONCURRENTLY )?(?:IF EXISTS )?${ident}`, 'i').exec(s)))
    return { table: unquote(m[1]), lock: 'ACCESS EXCLUSIVE', rewrites: false };
  if (/^(SET|RESET|SELECT set_config)\b/i.test(s)) return { lock: 'none', rewrites: false };
  if (/^DO\b/i.test(s)) return { lock: 'depends on the block (guarded DDL: see its statements)', rewrites: false };
  if (/^SELECT\b/i.test(s)) return { lock: 'that of the function called (see its header comment)', rewrites: false };
  return { lock: 'see statement', rewrites: false };
}
