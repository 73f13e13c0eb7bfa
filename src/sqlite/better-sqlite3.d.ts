// The part of better-sqlite3's API that src/sqlite uses (the package ships no types;
// this avoids a dependency on @types/better-sqlite3, which would replace this file).
declare module 'better-sqlite3' {
  namespace Database {
    interface Statement {
      run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
      get(...params: unknown[]): unknown;
      all(...params: unknown[]): unknown[];
    }
    interface Transaction<F extends (...args: never[]) => unknown> {
      (...args: Parameters<F>): ReturnType<F>;
      immediate: (...args: Parameters<F>) => ReturnType<F>;
    }
  }
  class Database {
    constructor(filename: string, options?: { readonly?: boolean; fileMustExist?: boolean; timeout?: number });
    prepare(source: string): Database.Statement;
    exec(source: string): this;
    pragma(source: string): unknown;
    function(name: string, options: { deterministic?: boolean }, fn: (...args: never[]) => unknown): this;
    transaction<F extends (...args: never[]) => unknown>(fn: F): Database.Transaction<F>;
    close(): this;
  }
  export = Database;
}
