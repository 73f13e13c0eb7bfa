// Builds the one-file psql install: every function and procedure, the up sections
// of all migrations (each in its own transaction, recorded in pgmigrations exactly
// as node-pg-migrate records them, skipped when already recorded), then the views.
// The objects are the ones `cowrie-db migrate` installs, read from the same files.
import { MIGRATIONS_TABLE } from './migrate.js';
import { CHECKSUMS_TABLE, CHECKSUMS_TABLE_DDL, migrationFileChecksums } from './migration-checksums.js';
import { sqlFiles, upSection } from './sqlfiles.js';

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** Dollar-quote a body with a tag that does not occur in it. */
function dollarQuote(body: string): string {
  let tag = 'cowrie_db_install';
  while (body.includes(`$${tag}$`)) tag += '_x';
  return `$${tag}$${body}$${tag}$`;
}

export function buildInstallScript(version: string): string {
  const parts: string[] = [
    `-- cowrie-db ${version}: one-file install for psql.`,
    '--   psql -v ON_ERROR_STOP=1 -f cowrie-db-install.sql "postgresql://user@host/db"',
    '-- Idempotent: run it again after an upgrade. Same objects as `cowrie-db migrate`.',
    '\\set ON_ERROR_STOP on',
    'SET client_min_messages = warning;',
    '',
    '-- 1. Upgrade steps (sql/upgrades), then functions and procedures (sql/functions)',
    'BEGIN;',
    'SET LOCAL check_function_bodies = off;',
  ];
  for (const f of sqlFiles('upgrades')) parts.push(`-- upgrades/${f.name}`, f.text.trim(), '');
  for (const f of sqlFiles('functions')) parts.push(`-- functions/${f.name}`, f.text.trim(), '');
  parts.push('COMMIT;', '', '-- 2. Migrations (sql/migrations), each once, in its own transaction',
    `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL);`);
  for (const f of sqlFiles('migrations')) {
    const name = f.name.replace(/\.sql$/, '');
    // psql cannot skip a block conditionally without \if; the DO block runs the
    // migration's statements only when it is not recorded yet.
    parts.push(
      `-- migrations/${f.name}`,
      'BEGIN;',
      `DO ${dollarQuote(`
BEGIN
  IF EXISTS (SELECT 1 FROM ${MIGRATIONS_TABLE} WHERE name = ${literal(name)}) THEN
    RAISE NOTICE 'migration % already applied', ${literal(name)};
    RETURN;
  END IF;
  EXECUTE ${literal(upSection(f.text).replace(/^\s*--[\s-]*up\s+migration.*$/im, '').trim())};
  INSERT INTO ${MIGRATIONS_TABLE} (name, run_on) VALUES (${literal(name)}, now());
END
`)};`,
      'COMMIT;',
      '',
    );
  }
  parts.push(
    '-- Checksums of the migration files, so `cowrie-db validate` can tell an edited migration.',
    `${CHECKSUMS_TABLE_DDL};`,
    `INSERT INTO ${CHECKSUMS_TABLE} (name, sha256) VALUES`,
    migrationFileChecksums().map((m) => `  (${literal(m.name)}, ${literal(m.sha256)})`).join(',\n'),
    'ON CONFLICT (name) DO NOTHING;',
    '',
  );
  parts.push('-- 3. Views (sql/views)', 'BEGIN;');
  for (const f of sqlFiles('views')) parts.push(`-- views/${f.name}`, f.text.trim(), '');
  parts.push('COMMIT;', '');
  return parts.join('\n');
}
