// Connection and schema checks: connectivity, server version, read-only proof, schema drift,
// recorded vs actual schema version, migrations applied vs on disk, migration checksums.
import { performance } from 'node:perf_hooks';
import { MIGRATIONS_TABLE, migrationNames } from '../db/migrate.js';
import { migrationFileChecksums, readMigrationChecksums, CHECKSUMS_TABLE } from '../db/migration-checksums.js';
import type { SchemaSnapshot } from '../schema/diff.js';
import { schemaDrift } from './drift.js';
import type { CheckRunner } from './runner.js';

export async function connectionChecks(r: CheckRunner, label: string): Promise<void> {
  await r.run({ id: 'connection.connectivity', title: 'Connectivity', severity: 'CRITICAL' }, async (tx) => {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await tx`select 1`;
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const [who] = await tx`select current_user as u, current_database() as d`;
    return {
      status: 'pass', measured: Math.round(times[1]! * 100) / 100, display: `${times[1]!.toFixed(2)} ms`,
      message: `connected to ${label} as ${who?.u}; round trip ${times[1]!.toFixed(2)} ms (median of 3)`,
    };
  });

  await r.run({ id: 'connection.read_only', title: 'Read-only session', severity: 'CRITICAL' }, async (tx) => {
    const [s] = await tx`select current_setting('transaction_read_only') as ro, current_setting('statement_timeout') as st,
                                current_setting('lock_timeout') as lt, current_setting('transaction_isolation') as iso`;
    const ok = s?.ro === 'on';
    return {
      status: ok ? 'pass' : 'fail', measured: String(s?.ro), display: `read only ${s?.ro}`, threshold: 'on',
      message: ok
        ? `every query runs in one ${String(s?.iso).toUpperCase()} READ ONLY transaction (statement_timeout ${s?.st}, lock_timeout ${s?.lt}); nothing is written`
        : 'the transaction is not read-only: validate refuses to trust it',
      details: { transactionReadOnly: s?.ro, isolation: s?.iso, statementTimeout: s?.st, lockTimeout: s?.lt },
    };
  });

  const min = r.config.thresholds.minServerVersion;
  await r.run({ id: 'connection.server_version', title: 'Server version', severity: 'CRITICAL' }, async (tx) => {
    const [v] = await tx`select current_setting('server_version_num')::int as num, current_setting('server_version') as txt`;
    const num = Number(v?.num);
    r.state.serverVersionNum = num;
    const major = Math.floor(num / 10000);
    const ok = major >= min;
    return {
      status: ok ? 'pass' : 'fail', measured: String(v?.txt), display: `PostgreSQL ${v?.txt}`, threshold: `>= ${min}`,
      message: ok ? `PostgreSQL ${v?.txt} is supported (${min}+)` : `PostgreSQL ${v?.txt} is older than ${min}: generated columns, DROP EXPRESSION and the backfill need ${min}+`,
    };
  }, { threshold: `>= ${min}` });
}

export async function schemaChecks(r: CheckRunner, expected: SchemaSnapshot | null = null): Promise<void> {
  await r.run({ id: 'schema.drift', title: 'Schema drift', severity: 'CRITICAL' }, async (tx) => {
    const drift = await schemaDrift(tx, expected);
    const critical = drift.findings.filter((f) => f.severity === 'CRITICAL');
    const worst = critical.length ? 'CRITICAL' : drift.findings.some((f) => f.severity === 'ERROR') ? 'ERROR' : drift.findings.length ? 'WARNING' : undefined;
    if (critical.length) r.state.blockedBy = `schema drift (${critical.map((f) => f.object).join(', ')}): fix it first, see schema.drift`;
    return {
      status: drift.findings.length ? 'fail' : 'pass', severity: worst, measured: drift.findings.length,
      display: `${drift.findings.length} difference(s)`, threshold: '0',
      message: drift.findings.length
        ? `${drift.findings.map((f) => f.message).slice(0, 3).join('; ')}${drift.findings.length > 3 ? `; and ${drift.findings.length - 3} more` : ''}: run cowrie-db migrate`
        : 'the live schema matches what the migrations define',
      details: drift,
    };
  });

  await r.run({ id: 'schema.version', title: 'Recorded vs actual schema version', severity: 'CRITICAL' }, async (tx) => {
    const [st] = await tx`select to_regclass('schema_state') is not null as ok`;
    if (!st?.ok) {
      return { status: 'fail', measured: null, display: 'no schema_state', threshold: 'recorded = actual', message: 'table schema_state does not exist: this is not a Cowrie database, or it was never migrated (cowrie-db migrate)' };
    }
    const [s] = await tx`
      select (select value from schema_state where key = 'schema_version') as recorded,
             to_regclass('ip_inventory') is not null as ip_inventory,
             to_regclass('asn_inventory') is not null as asn_inventory,
             to_regclass('ip_asn_history') is not null as ip_asn_history,
             (select count(*)::int from pg_attribute a where a.attrelid = to_regclass('session_summaries') and a.attnum > 0 and not a.attisdropped
                and a.attname in ('source_ip', 'snapshot_asn', 'snapshot_country', 'snapshot_ip_type', 'snapshot_ip_types', 'enrichment_at')) as snapshot_cols`;
    if (!s) throw new Error('no row');
    const v16parts = [s.ip_inventory, s.asn_inventory, s.ip_asn_history].filter(Boolean).length + Math.min(Number(s.snapshot_cols), 5);
    const actual = v16parts === 8 ? '16' : v16parts === 0 ? '15' : 'between 15 and 16';
    const recorded = s.recorded === null ? null : String(s.recorded);
    const ok = recorded === actual;
    const overclaims = recorded !== null && /^\d+$/.test(recorded) && (actual !== '16' && Number(recorded) >= 16);
    return {
      status: ok ? 'pass' : 'fail',
      severity: overclaims || actual === 'between 15 and 16' ? 'CRITICAL' : 'ERROR',
      measured: recorded, display: `recorded ${recorded ?? 'none'}, actual ${actual}`, threshold: 'recorded = actual',
      message: ok
        ? `schema_state says ${recorded} and the tables are those of v${actual}`
        : overclaims || actual === 'between 15 and 16'
          ? `schema_state says ${recorded ?? 'nothing'} but the schema is ${actual} (half-migrated: the upstream "table exists, skipped" failure): run cowrie-db migrate`
          : `schema_state says ${recorded ?? 'nothing'} but the schema is v${actual}: run cowrie-db migrate to record it`,
      details: { recorded, actual, v16Objects: v16parts },
    };
  });

  await r.run({ id: 'schema.migrations', title: 'Migrations applied vs files on disk', severity: 'ERROR' }, async (tx) => {
    const onDisk = migrationNames();
    const [t] = await tx`select to_regclass(${MIGRATIONS_TABLE}) is not null as ok`;
    if (!t?.ok) {
      return { status: 'fail', measured: onDisk.length, display: `${onDisk.length} pending`, threshold: '0 pending',
        message: `no ${MIGRATIONS_TABLE} table: cowrie-db has never migrated this database; run cowrie-db migrate`, details: { applied: [], pending: onDisk, unknown: [] } };
    }
    const applied = (await tx.unsafe(`select name from ${MIGRATIONS_TABLE} order by run_on, id`)).map((x) => String(x.name));
    const appliedSet = new Set(applied);
    const pending = onDisk.filter((m) => !appliedSet.has(m));
    const unknown = applied.filter((m) => !onDisk.includes(m));
    const status = pending.length || unknown.length ? 'fail' : 'pass';
    return {
      status, severity: pending.length ? 'ERROR' : 'WARNING',
      measured: pending.length, display: `${applied.length} applied, ${pending.length} pending`, threshold: '0 pending',
      message: pending.length
        ? `${pending.length} migration(s) not applied: ${pending.join(', ')}: run cowrie-db migrate`
        : unknown.length
          ? `applied migration(s) with no file in this cowrie-db version: ${unknown.join(', ')} (a newer cowrie-db applied them?)`
          : `all ${onDisk.length} migrations on disk are applied`,
      details: { applied, pending, unknown },
    };
  });

  await r.run({ id: 'schema.migration_checksums', title: 'Applied migrations unchanged since applied (sha256)', severity: 'ERROR' }, async (tx) => {
    const recorded = await readMigrationChecksums(tx);
    const files = new Map(migrationFileChecksums().map((f) => [f.name, f.sha256]));
    if (recorded === null) {
      return { status: 'fail', severity: 'WARNING', measured: null, display: 'not recorded', threshold: '0 edited',
        message: `no checksums recorded (${CHECKSUMS_TABLE} missing): edits to applied migrations cannot be detected until cowrie-db migrate records them` };
    }
    const edited = recorded.filter((c) => files.has(c.name) && files.get(c.name) !== c.sha256);
    return {
      status: edited.length ? 'fail' : 'pass', measured: edited.length, display: `${edited.length} edited`, threshold: '0 edited',
      message: edited.length
        ? `migration file(s) edited after they were applied: ${edited.map((e) => `${e.name} (recorded ${e.recordedAt.slice(0, 10)})`).join(', ')}: the database does not have what the files now say; restore the files or write a new migration`
        : `${recorded.length} applied migration(s) match the sha256 recorded when they were applied`,
      details: { edited: edited.map((e) => ({ name: e.name, recorded: e.sha256, onDisk: files.get(e.name) })), recorded: recorded.length },
    };
  });
}
