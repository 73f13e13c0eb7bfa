// Column values as the `postgres` client returns them (bigint as string, NULL as null),
// read into plain numbers and ISO timestamps.

/** A count: NULL reads as 0. */
export const countOf = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

/** A number that may be NULL. */
export const numberOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** A timestamp as ISO 8601 text, or null. */
export const isoOrNull = (v: unknown): string | null =>
  v === null || v === undefined ? null : v instanceof Date ? v.toISOString() : String(v);
