// Writing files in directories that others may be able to write to, without ever
// writing through what someone planted there: files are created exclusively under
// names nobody can guess (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600) in the target's own
// directory and renamed over the target (a rename replaces a planted symlink, it does
// not follow it); appends refuse a symlink (O_NOFOLLOW) and anything but a regular
// file of ours with a single link (a planted hard link). Nothing is ever chmod-ed by
// path: only through the descriptor of a file this process opened.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const { O_WRONLY, O_RDONLY, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = constants;

const uid = (): number | undefined => (typeof process.getuid === 'function' ? process.getuid() : undefined);

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off);
}

/** A temporary name next to `path` that cannot be guessed: .<name>.<96 random bits>.tmp */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(12).toString('hex')}.tmp`);
}

/** Replace `path` with `text` atomically (exclusive temp file, fsync, rename), mode 0600. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = tempNameFor(path);
  const fd = openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    try {
      fchmodSync(fd, 0o600); // a umask cannot widen it; this only makes it exact
      writeAll(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true }); // our own exclusive file, never a planted one
    throw err;
  }
}

/** Append `text` to `path` (created 0600); refuses a symlink, a non-regular file, a hard link, another user's file. */
export function appendFileSafe(path: string, text: string): void {
  let fd: number;
  try {
    fd = openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new Error(`${path} is a symbolic link: refusing to append to it`);
    throw err;
  }
  try {
    const st = fstatSync(fd);
    const me = uid();
    if (!st.isFile()) throw new Error(`${path} is not a regular file: refusing to append to it`);
    if (st.nlink !== 1) throw new Error(`${path} has ${st.nlink} hard links (one planted elsewhere?): refusing to append to it`);
    if (me !== undefined && st.uid !== me) throw new Error(`${path} belongs to another user (uid ${st.uid}): refusing to append to it`);
    if ((st.mode & 0o077) !== 0) fchmodSync(fd, 0o600);
    writeAll(fd, text);
  } finally {
    closeSync(fd);
  }
}

/**
 * Read at most `limit` bytes of a file (a device such as /dev/zero, or a huge file,
 * cannot exhaust memory); refuses a symlink when `noFollow`. Throws when longer.
 */
export function readFileBounded(path: string, limit: number, options: { noFollow?: boolean } = {}): string {
  const fd = openSync(path, O_RDONLY | O_NONBLOCK | (options.noFollow ? O_NOFOLLOW : 0));
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    const buf = Buffer.alloc(limit + 1);
    let len = 0;
    while (len < buf.length) {
      const n = readSync(fd, buf, len, buf.length - len, null);
      if (n === 0) break;
      len += n;
    }
    if (len > limit) throw Object.assign(new Error(`larger than ${limit} bytes`), { code: 'EFBIG' });
    return buf.subarray(0, len).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
