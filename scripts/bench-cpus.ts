// Bench helper: restricts a local PostgreSQL server to the first N CPUs (and gives
// them all back), so that one bench run measures the variants on 1 and on 2 cores.
// The postmaster's affinity is inherited by every backend it starts from then on;
// its running children (checkpointer, WAL writer, autovacuum, ...) are set too.
// Needs the server on this machine and the right to change its processes' affinity
// (root, or the server's OS user); taskset from util-linux.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type postgres from 'postgres';

/** CPUs of this machine: the count the variants without an @Ncpu suffix run on. */
export const MACHINE_CPUS = availableParallelism();

/** The postmaster's pid (first line of postmaster.pid; superuser), checked to be a local process. */
export async function postmasterPid(sql: postgres.Sql): Promise<number> {
  let text: string;
  try {
    const [row] = await sql`select pg_read_file('postmaster.pid') as text`;
    text = String(row!.text);
  } catch (err) {
    throw new Error(`@Ncpu variants need to read postmaster.pid (superuser): ${(err as Error).message}`);
  }
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid < 1) throw new Error(`@Ncpu variants: postmaster.pid does not start with a pid`);
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres')) throw new Error('not a postgres process');
  } catch (err) {
    throw new Error(`@Ncpu variants need the server on this machine (pid ${pid}: ${(err as Error).message})`);
  }
  return pid;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** Binds the postmaster and its current children to CPUs 0..cpus-1. */
export function bindServer(postmaster: number, cpus: number): void {
  const list = cpus === 1 ? '0' : `0-${cpus - 1}`;
  for (const pid of [postmaster, ...childrenOf(postmaster)]) {
    try {
      execFileSync('taskset', ['-a', '-pc', list, String(pid)], { stdio: 'pipe' });
    } catch (err) {
      if (pid === postmaster) throw new Error(`taskset -pc ${list} ${pid} failed: ${(err as Error).message}`);
      // a child that ended meanwhile
    }
  }
}
