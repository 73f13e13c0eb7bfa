// The value parsers of the SQLite backfill, registered as SQLite functions (open.ts)
// for the snapshot query (sql.ts). They give what sql/functions/backfill_parse_{asn,
// country,ip_type,ip,timestamptz} and backfill_spur_ip_type give, on the values the
// upstream writes; the IP and time parsers accept only those forms (docs/sqlite.md
// lists what PostgreSQL reads beyond them; here such a value is refused: null).
// None of them throws.

/** PostgreSQL's btrim(s, E' \t\r\n'). */
const btrim = (s: string): string => s.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');

/**
 * A value the query took with SQLite's `->` (JSON text) as PostgreSQL's #>> gives it:
 * a string unquoted, anything else as written; blank-trimmed; JSON null and '' -> null.
 */
export function jsonText(json: string | null): string | null {
  if (json === null || json === 'null') return null;
  const t = btrim(json.startsWith('"') ? (JSON.parse(json) as string) : json);
  return t === '' ? null : t;
}

/** backfill_parse_asn: 4134, '4134', 'AS4134', 'as 4134' -> 4134 (at most 10 digits, 1 .. 2147483647); else null. */
export function parseAsn(raw: string | null): number | null {
  const m = raw === null ? null : /^(?:[Aa][Ss][ \t\r\n]*)?([0-9]{1,10})$/.exec(btrim(raw));
  const n = m ? Number(m[1]) : 0;
  return n >= 1 && n <= 2147483647 ? n : null;
}

/** backfill_parse_country: trimmed and upper-cased, then two letters A-Z ('XX' included); else null. */
export function parseCountry(raw: string | null): string | null {
  const v = raw === null ? '' : btrim(raw).toUpperCase();
  return /^[A-Z]{2}$/.test(v) ? v : null;
}

/** The types the upstream loader prefers when several are present, best first. */
const PREFERRED_TYPES = ['VPN', 'TOR', 'PROXY', 'DATACENTER', 'RESIDENTIAL', 'MOBILE'];

const typeText = (v: unknown): string | null => (typeof v === 'string' && btrim(v) !== '' ? btrim(v).toUpperCase() : null);
const rank = (t: string): number => (PREFERRED_TYPES.includes(t) ? PREFERRED_TYPES.indexOf(t) : PREFERRED_TYPES.length);

/** backfill_parse_ip_type on a parsed value: a string gives itself, an array its preferred (else first) non-blank string. */
function typeOf(v: unknown): string | null {
  if (!Array.isArray(v)) return typeText(v);
  let best: string | null = null;
  for (const t of v.map(typeText)) if (t !== null && (best === null || rank(t) < rank(best))) best = t;
  return best;
}

function parseJson(text: string | null): unknown {
  try {
    return text === null ? null : JSON.parse(text);
  } catch {
    return null;
  }
}

/** backfill_parse_ip_type, from JSON text (spur.client.types, ip_inventory.ip_types). */
export const parseIpType = (json: string | null): string | null => typeOf(parseJson(json));

/** backfill_spur_ip_type, from the JSON text of a spur member: list [3], or object client.types, else infrastructure. */
export function spurIpType(json: string | null): string | null {
  const v = parseJson(json);
  if (Array.isArray(v)) return typeText(v[3]);
  if (typeof v !== 'object' || v === null) return null;
  const o = v as { client?: { types?: unknown } | null; infrastructure?: unknown };
  return typeOf(o.client?.types) ?? typeText(o.infrastructure);
}

/** A dotted quad as a socket writes it (no leading zeros). */
const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

/**
 * backfill_parse_ip: the address as ip_inventory holds it (PostgreSQL's host(inet)), or
 * null. Accepts a dotted quad and an IPv6 address (read and compressed by the WHATWG
 * URL parser, as inet does: lower case, the first longest run of zero groups as '::');
 * an IPv4 address embedded in IPv6 is printed as inet prints it ('::ffff:1.2.3.4').
 */
export function parseIp(raw: string | null): string | null {
  const v = raw === null ? '' : btrim(raw);
  if (IPV4.test(v)) return v;
  if (!v.includes(':') || !/^[0-9A-Fa-f:.]+$/.test(v)) return null;
  let host: string;
  try {
    host = new URL(`http://[${v}]/`).hostname.slice(1, -1);
  } catch {
    return null;
  }
  const [head = '', tail = ''] = host.split('::');
  const given = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const w = host.includes('::') ? [...given(head), ...Array<number>(8 - given(head).length - given(tail).length).fill(0), ...given(tail)] : given(host);
  const v4 = `${w[6]! >> 8}.${w[6]! & 255}.${w[7]! >> 8}.${w[7]! & 255}`;
  if (w.slice(0, 5).some((g) => g !== 0)) return host;
  if (w[5] === 0xffff) return `::ffff:${v4}`;
  return w[5] === 0 && w[6] !== 0 ? `::${v4}` : host;
}

/** An ISO 8601 date-time as the upstream writes it: 'T' or blank, optional seconds, fraction and zone. */
const ISO = /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?)?(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?$/;

/**
 * backfill_parse_timestamptz, as UTC text 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (fixed width:
 * text order is time order): an ISO 8601 date or date-time (no zone = UTC), or Unix
 * epoch seconds (9-11 digits, optional fraction of up to 6 digits); else null.
 */
export function parseTimestamp(raw: string | null): string | null {
  const v = raw === null ? '' : btrim(raw);
  const epoch = /^([0-9]{9,11})(?:\.([0-9]{1,6}))?$/.exec(v);
  if (epoch) return utcText(Number(epoch[1]) * 1000, epoch[2]);
  const m = ISO.exec(v);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
  const zone = /^([+-])([0-9]{2}):?([0-9]{2})?$/.exec(m[8] ?? '');
  const offset = zone ? (zone[1] === '-' ? -1 : 1) * (Number(zone[2]) * 60 + Number(zone[3] ?? 0)) : 0;
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (y < 1000 || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return null;
  if (zone && (Number(zone[2]) > 15 || Number(zone[3] ?? 0) > 59)) return null;
  return utcText(day.getTime() + ((h * 60 + mi - offset) * 60 + s) * 1000, m[7]);
}

/** Milliseconds since the epoch (whole seconds) and the fraction digits as 'YYYY-MM-DDTHH:MM:SS.ffffffZ'. */
const utcText = (ms: number, fraction = ''): string => new Date(ms).toISOString().replace(/\.[0-9]{3}Z$/, `.${fraction.padEnd(6, '0')}Z`);
