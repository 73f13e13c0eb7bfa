// Checks of the files and directories a user names (--status-dir, --checkpoint-file,
// --junit, --output), made before anything runs: a bad path is one usage error line
// (exit 64) instead of a stack trace, or a lost report, after the work is done.
import { accessSync, constants, lstatSync, mkdirSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { usageError } from '../errors.js';
import { readFileBounded } from './safe-write.js';

const uid = (): number | undefined => (typeof process.getuid === 'function' ? process.getuid() : undefined);

function statOrUndefined(path: string, follow = true): Stats | undefined {
  try {
    return follow ? statSync(path) : lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

const code = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

/**
 * The status directory: created (mode 0700) when missing; must be a directory we can
 * write, owned by us, and writable by nobody else (whoever can write there could
 * plant links where the status files go).
 */
export function prepareStatusDir(dir: string): void {
  const flag = '--status-dir';
  let st: Stats | undefined;
  try {
    st = statOrUndefined(dir);
    if (!st) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      st = statSync(dir);
    }
  } catch (err) {
    throw usageError(`${flag} ${dir}: cannot create the directory (${code(err)})`);
  }
  if (!st.isDirectory()) throw usageError(`${flag} ${dir}: exists and is not a directory`);
  const me = uid();
  if (me !== undefined && st.uid !== me) {
    throw usageError(`${flag} ${dir}: belongs to another user (uid ${st.uid}); use a directory of your own`);
  }
  if ((st.mode & 0o022) !== 0) {
    throw usageError(
      `${flag} ${dir}: is writable by ${st.mode & 0o002 ? 'others' : 'its group'} (mode ${(st.mode & 0o7777).toString(8)}); ` +
        'anyone who can write there could plant links where the status files go: use a directory only you can write (chmod go-w)',
    );
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw usageError(`${flag} ${dir}: not writable (${code(err)})`);
  }
}

/** The parent directory of an output file must exist and be writable; the file itself must not be a directory. */
export function checkOutputFile(flag: string, path: string): void {
  const dir = dirname(path);
  const parent = statOrUndefined(dir);
  if (!parent) throw usageError(`${flag} ${path}: the directory ${dir} does not exist`);
  if (!parent.isDirectory()) throw usageError(`${flag} ${path}: ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw usageError(`${flag} ${path}: the directory ${dir} is not writable (${code(err)})`);
  }
  const st = statOrUndefined(path, false);
  if (st?.isDirectory()) throw usageError(`${flag} ${path}: is a directory`);
}

/** What a checkpoint mirror file holds at least (see src/commands/backfill.ts). */
function isCheckpointDocument(doc: unknown): boolean {
  const d = doc as { tool?: unknown; checkpoint?: unknown } | null;
  return typeof d === 'object' && d !== null && d.tool === 'cowrie-db' && typeof d.checkpoint === 'object' && d.checkpoint !== null;
}

/**
 * --checkpoint-file: missing (it is created), or a checkpoint mirror this tool wrote.
 * Anything else (a symlink, a device, a file of other content) is refused, never replaced.
 */
export function checkCheckpointFile(path: string): void {
  const flag = '--checkpoint-file';
  const st = statOrUndefined(path, false);
  if (!st) {
    const dir = dirname(path);
    const parent = statOrUndefined(dir);
    if (parent && !parent.isDirectory()) throw usageError(`${flag} ${path}: ${dir} is not a directory`);
    return;
  }
  if (st.isSymbolicLink()) throw usageError(`${flag} ${path}: is a symbolic link; refusing to replace it (name the file itself)`);
  if (!st.isFile()) throw usageError(`${flag} ${path}: exists and is not a regular file; refusing to replace it`);
  let doc: unknown;
  try {
    doc = JSON.parse(readFileBounded(path, 1 << 20, { noFollow: true }));
  } catch {
    doc = undefined;
  }
  if (!isCheckpointDocument(doc)) {
    throw usageError(`${flag} ${path}: exists and is not a cowrie-db checkpoint file; refusing to replace it (name a new file, or remove this one)`);
  }
}
