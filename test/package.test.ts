// Packaging: `npm pack` produces a tarball that installs into a clean directory and
// runs from there: `cowrie-db --help`, `--version`, and `check` against a test server,
// with the sql/ files inside the package and found by the installed runner.
//
// The pack runs from a copy of the project (without node_modules, dist and .git;
// node_modules is symlinked for tsc), so that `prepare` (tsc) writes its own dist/
// and never rewrites the dist/ the other test files are running at the same time.
// The install needs the npm registry for the dependencies (better-sqlite3 may
// compile from source: a few minutes).
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../src/db/sqlfiles.js';
import { freshDatabase, testServers, type TestDatabase } from './harness/servers.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...options.env };
    delete env.DATABASE_URL;
    // npm run inside vitest (npm test) exports npm_config_* / npm_package_* variables; they
    // must not leak into the nested npm pack / npm install.
    for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];
    const child = spawn(command, args, { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const tail = (r: Run): string => `exit ${r.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;

const TEN_MINUTES = 600_000;
const version = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

describe('npm pack, install into a clean directory, run', () => {
  const server = testServers()[0]!;
  const work = mkdtempSync(join(tmpdir(), 'cowrie-db-pack-'));
  const source = join(work, 'source');
  const packDir = join(work, 'pack');
  const installDir = join(work, 'install');
  const bin = join(installDir, 'node_modules', '.bin', 'cowrie-db');
  let tarball = '';
  let tarFiles: string[] = [];
  let t: TestDatabase;

  beforeAll(async () => {
    t = await freshDatabase(server);
  });
  afterAll(async () => {
    await t?.drop();
    rmSync(work, { recursive: true, force: true });
  });

  it('npm pack builds the package (prepare = tsc) with dist/ and sql/ inside', async () => {
    // A copy of the project as a fresh clone has it, plus node_modules for tsc.
    cpSync(packageRoot, source, {
      recursive: true,
      filter: (src) => !/[\\/](node_modules|dist|\.git|coverage|test-results)$/.test(src) && !src.endsWith('.tgz'),
    });
    symlinkSync(join(packageRoot, 'node_modules'), join(source, 'node_modules'), 'dir');
    mkdirSync(packDir, { recursive: true }); // npm pack does not create it
    const pack = await run('npm', ['pack', '--json', '--pack-destination', packDir], { cwd: source, timeoutMs: TEN_MINUTES });
    expect(pack.code, tail(pack)).toBe(0);
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    tarball = join(packDir, info!.filename);
    expect(existsSync(tarball)).toBe(true);
    tarFiles = info!.files.map((f) => f.path);

    const list = await run('tar', ['-tzf', tarball]);
    expect(list.code, tail(list)).toBe(0);
    const entries = list.stdout.split('\n').filter(Boolean).map((p) => p.replace(/^package\//, ''));
    expect(entries.sort()).toEqual([...tarFiles].sort());

    expect(entries).toContain('package.json');
    expect(entries).toContain('dist/runner.js');
    expect(entries).toContain('README.md');
    // Every SQL file the runner installs or runs ships in the package, not only some.
    for (const dir of ['migrations', 'functions', 'views', 'rollback', 'seed', 'tests']) {
      const onDisk = readdirSync(join(packageRoot, 'sql', dir)).filter((f) => f.endsWith('.sql'));
      expect(onDisk.length, `sql/${dir} on disk`).toBeGreaterThan(0);
      for (const f of onDisk) expect(entries, `sql/${dir}/${f} in the tarball`).toContain(`sql/${dir}/${f}`);
    }
    // Nothing of the development tree leaks into it.
    expect(entries.filter((p) => /^(src|test|scripts|node_modules|\.ci)\//.test(p))).toEqual([]);
  }, TEN_MINUTES);

  it('installs from the tarball into a fresh directory', async () => {
    expect(tarball, 'npm pack must succeed first').not.toBe('');
    // A minimal project of its own, so npm does not walk up to another package root.
    mkdirSync(installDir, { recursive: true });
    writeFileSync(join(installDir, 'package.json'), JSON.stringify({ name: 'cowrie-db-install-check', version: '1.0.0', private: true }));
    const install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], {
      cwd: installDir,
      timeoutMs: 2 * TEN_MINUTES - 60_000,
    });
    expect(install.code, tail(install)).toBe(0);
    expect(existsSync(bin), `${bin} after npm install`).toBe(true);
    const installed = join(installDir, 'node_modules', 'cowrie-db');
    for (const dir of ['migrations', 'functions', 'views', 'rollback']) {
      expect(readdirSync(join(installed, 'sql', dir)).length, `installed sql/${dir}`).toBeGreaterThan(0);
    }
  }, 2 * TEN_MINUTES);

  it('cowrie-db --help lists the commands (exit 0)', async () => {
    const help = await run(bin, ['--help'], { cwd: work });
    expect(help.code, tail(help)).toBe(0);
    for (const command of ['demo', 'seed', 'check', 'migrate', 'backfill', 'status', 'validate', 'rollback', 'install-sql', 'test', 'server']) {
      expect(help.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    }
  });

  it("cowrie-db --version prints package.json's version", async () => {
    const v = await run(bin, ['--version'], { cwd: work });
    expect(v.code, tail(v)).toBe(0);
    expect(v.stdout.trim()).toBe(version);
  });

  it('the installed runner finds its own sql/ directory', async () => {
    // install-sql reads every sql/functions, sql/migrations and sql/views file of the package.
    const script = await run(bin, ['install-sql', '--print'], { cwd: work });
    expect(script.code, tail(script)).toBe(0);
    for (const dir of ['functions', 'migrations', 'views']) {
      const first = readdirSync(join(packageRoot, 'sql', dir)).filter((f) => f.endsWith('.sql')).sort()[0]!;
      expect(script.stdout).toContain(`-- ${dir}/${first}`);
    }
  });

  it('cowrie-db check --db <fresh migrated database> exits 0', async () => {
    const check = await run(bin, ['check', '--db', t.url], { cwd: work, timeoutMs: 180_000 });
    expect(check.code, tail(check)).toBe(0);
    expect(check.stdout).toMatch(/OK: the schema is as expected/);
    expect(check.stdout + check.stderr).not.toContain(server.password);
  }, 240_000);
});
