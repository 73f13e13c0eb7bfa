// The part of better-sqlite3's API that src/sqlite uses (the package ships no types;
// this avoids a second dependency on @types/better-sqlite3). If @types/better-sqlite3
// is ever added, delete this file.
declare module 'better-sqlite3' {
  namespace Database {
    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }
    interface Statement {
      run(...params: unknown[]): RunResult;
      get(...params: unknown[]): unknown;
      all(...params: unknown[]): unknown[];
      readonly reader: boolean;
    }
    interface Options {
      readonly?: boolean;
      fileMustExist?: boolean;
      /** ms to wait for a lock held by another connection (default 5000). */
      timeout?: number;
    }
    interface FunctionOptions {
      deterministic?: boolean;
      varargs?: boolean;
      directOnly?: boolean;
    }
    interface Transaction<F extends (...args: never[]) => unknown> {
      (...args: Parameters<F>): ReturnType<F>;
      deferred: (...args: Parameters<F>) => ReturnType<F>;
      immediate: (...args: Parameters<F>) => ReturnType<F>;
      exclusive: (...args: Parameters<F>) => ReturnType<F>;
    }
    class SqliteError extends Error {
      code: string;
    }
  }
  class Database {
    constructor(filename: string, options?: Database.Options);
    readonly open: boolean;
    readonly inTransaction: boolean;
    readonly name: string;
    readonly readonly: boolean;
    prepare(source: string): Database.Statement;
    exec(source: string): this;
    pragma(source: string, options?: { simple?: boolean }): unknown;
    function(name: string, options: Database.FunctionOptions, fn: (...args: never[]) => unknown): this;
    transaction<F extends (...args: never[]) => unknown>(fn: F): Database.Transaction<F>;
    close(): this;
  }
  export = Database;
}
