// node-pg-migrate creates a jiti instance when it is loaded, and jiti's file cache goes to
// <cwd>/node_modules/.cache/jiti or else $TMPDIR/jiti: a predictable path in a shared
// directory, where files written by root could go through planted links. cowrie-db's
// migrations are SQL and need no cache: off, unless the user asks for it. Imported first
// by src/runner.ts, so that this runs before node-pg-migrate is evaluated.
process.env.JITI_FS_CACHE ??= 'false';
export {};
