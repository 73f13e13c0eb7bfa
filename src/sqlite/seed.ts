// seedSqlite: a small, deterministic SQLite database of the upstream v16 shape for
// the SQLite path (development installs, tests): asn_inventory, ip_inventory,
// ip_asn_history and session_summaries with enrichment JSON at the real paths,
// including the dirty cases of real data. The same (sessions, seed, ips) always
// gives the same rows (every value comes from a hash of the seed and the row number;
// no clock, no Math.random). It is not the PostgreSQL generator (sql/seed): same
// shape and same kinds of dirt, not the same rows.
import { CliError, ExitCode } from '../errors.js';
import { ensureSchema, openSqlite } from './open.js';
import { formatMicros, parseIp } from './parse.js';

export interface SqliteSeedOptions {
  /** Distinct source IPs; default max(min(sessions, 24), sessions * 38864 / 1682827). */
  ips?: number;
  /** Delete the rows of the four tables (and the backfill state) first, instead of refusing. */
  reset?: boolean;
}

export interface SqliteSeedSummary {
  path: string;
  sessions: number;
  seed: number;
  ips: number;
  /** Rows written per table. */
  tables: { asn_inventory: number; ip_inventory: number; ip_asn_history: number; session_summaries: number };
  /** Sessions carrying one of the forced dirty cases (all of them when sessions >= ips + DIRTY_CASES.length). */
  forcedDirtyCases: number;
  elapsedMs: number;
}

export const MAX_SQLITE_SEED_SESSIONS = 1_000_000;

// ---------------------------------------------------------------------------
// Deterministic hashing: h(seed, stream, n) -> uint32, u() -> [0, 1).

function mix(x0: number): number {
  let x = x0 >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

function hasher(seed: number): { h: (stream: number, n: number) => number; u: (stream: number, n: number) => number } {
  const s = mix(seed ^ 0x9e3779b9);
  const h = (stream: number, n: number): number => mix(mix(s ^ Math.imul(stream + 1, 0x85ebca6b)) ^ n);
  return { h, u: (stream, n) => h(stream, n) / 4294967296 };
}

// ---------------------------------------------------------------------------
// Reference data.

const COUNTRIES: [c2: string, c3: string, rir: string, weight: number][] = [
  ['CN', 'CHN', 'apnic', 20], ['US', 'USA', 'arin', 16], ['RU', 'RUS', 'ripencc', 6], ['IN', 'IND', 'apnic', 6],
  ['BR', 'BRA', 'lacnic', 5], ['VN', 'VNM', 'apnic', 5], ['KR', 'KOR', 'apnic', 4], ['DE', 'DEU', 'ripencc', 4],
  ['SG', 'SGP', 'apnic', 4], ['HK', 'HKG', 'apnic', 3], ['NL', 'NLD', 'ripencc', 3], ['FR', 'FRA', 'ripencc', 3],
  ['ID', 'IDN', 'apnic', 3], ['TW', 'TWN', 'apnic', 2], ['GB', 'GBR', 'ripencc', 2], ['JP', 'JPN', 'apnic', 2],
];
const COUNTRY_PICK = COUNTRIES.flatMap((c, i) => Array<number>(c[3]).fill(i));

const KNOWN_ASNS: [asn: number, org: string, c2: string, type: string][] = [
  [4134, 'CHINANET-BACKBONE No.31,Jin-rong Street', 'CN', 'isp'], [14061, 'DIGITALOCEAN-ASN', 'US', 'hosting'],
  [45090, 'TENCENT-NET-AP Shenzhen Tencent Computer Systems Company Limited', 'CN', 'hosting'],
  [4837, 'CHINA169-BACKBONE CHINA UNICOM China169 Backbone', 'CN', 'isp'], [16509, 'AMAZON-02', 'US', 'hosting'],
  [396982, 'GOOGLE-CLOUD-PLATFORM', 'US', 'hosting'], [16276, 'OVH', 'FR', 'hosting'], [24940, 'HETZNER-AS', 'DE', 'hosting'],
  [8075, 'MICROSOFT-CORP-MSN-AS-BLOCK', 'US', 'hosting'], [4766, 'KIXS-AS-KR Korea Telecom', 'KR', 'isp'],
  [7552, 'VIETEL-AS-AP Viettel Group', 'VN', 'isp'], [12389, 'ROSTELECOM-AS', 'RU', 'isp'],
];

/** spur client types of an IP, weighted ('' = none known). */
const SPUR_TYPES = ['DATACENTER', 'DATACENTER', 'DATACENTER', 'DATACENTER', 'DATACENTER,PROXY', 'RESIDENTIAL', 'RESIDENTIAL',
  'MOBILE', 'VPN', 'DATACENTER,VPN', 'RESIDENTIAL,PROXY', ''];
const FIRST_OCTETS = [1, 5, 14, 27, 36, 39, 42, 43, 45, 46, 47, 49, 58, 59, 60, 61, 77, 78, 79, 80, 81, 82, 83, 85, 89, 91, 92, 93, 94, 95,
  101, 103, 104, 106, 107, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 134, 138, 139, 141,
  143, 144, 146, 147, 150, 152, 154, 157, 159, 162, 164, 165, 167, 170, 171, 175, 176, 178, 179, 180, 181, 182, 183, 185, 186, 187,
  188, 190, 193, 194, 195, 196, 197, 200, 201, 202, 210, 211, 212, 213, 217, 218, 219, 220, 221, 222, 223];
const V6_PREFIXES = ['2a01:4f8', '2001:41d0', '240e:3b7', '2400:8901', '2604:a880', '2a03:b0c0', '2001:da8', '2409:8a1e'];

const YEAR_START_US = BigInt(Date.UTC(2024, 10, 6)) * 1000n; // 2024-11-06T00:00:00Z
const YEAR_US = 31_536_000_000_000;
const SPUR_ARRAY_FROM_US = BigInt(Date.UTC(2025, 4, 1)) * 1000n; // newer sessions carry an array

// ---------------------------------------------------------------------------
// Dirty cases. A session's enrichment JSON is described by one choice per field;
// 'ok' is the normal case.

interface Spec {
  enrich: 'ok' | 'sql_null' | 'empty' | 'json_null' | 'malformed';
  ip: 'ok' | 'not-an-ip' | '999' | 'blank' | 'null' | 'missing' | 'padded' | 'upper';
  asn: 'ok' | 'as_string' | 'string' | 'null' | 'missing' | 'garbage';
  country: 'ok' | 'lower' | 'alpha3' | 'null' | 'missing' | 'none';
  spur: 'ok' | 'null' | 'missing' | 'array' | 'empty';
  at: 'ok' | 'missing' | 'epoch' | 'garbage';
  /** 0 none; 1 all five snapshot columns written; 2 source_ip + snapshot_asn; 3 a different country written by someone. */
  prefill: 0 | 1 | 2 | 3;
  /** Which IP: the session's own slot, or one of the special slots. */
  slot?: 'v6' | 'absent' | 'changer_before';
}

const OK: Spec = { enrich: 'ok', ip: 'ok', asn: 'ok', country: 'ok', spur: 'ok', at: 'ok', prefill: 0 };

/** One session of each dirty case (sessions ips+1 .. ips+N), so that even a small seed has all of them. */
export const DIRTY_CASES: { name: string; spec: Partial<Spec> }[] = [
  { name: 'enrichment SQL NULL', spec: { enrich: 'sql_null' } },
  { name: "enrichment '{}'", spec: { enrich: 'empty' } },
  { name: 'enrichment JSON null', spec: { enrich: 'json_null' } },
  { name: "ip 'not-an-ip'", spec: { ip: 'not-an-ip' } },
  { name: "ip '999.1.2.3'", spec: { ip: '999' } },
  { name: "ip ''", spec: { ip: 'blank' } },
  { name: 'ip JSON null', spec: { ip: 'null' } },
  { name: 'no dshield key', spec: { ip: 'missing' } },
  { name: 'ip with blanks', spec: { ip: 'padded' } },
  { name: 'IPv6 in upper case', spec: { ip: 'upper', slot: 'v6' } },
  { name: "asn 'AS4134'", spec: { asn: 'as_string' } },
  { name: "asn '4134' string", spec: { asn: 'string' } },
  { name: 'asn JSON null (history)', spec: { asn: 'null', slot: 'changer_before' } },
  { name: 'no cymru key', spec: { asn: 'missing' } },
  { name: "asn 'n/a'", spec: { asn: 'garbage' } },
  { name: "country 'cn'", spec: { country: 'lower' } },
  { name: "country 'CHN'", spec: { country: 'alpha3' } },
  { name: 'maxmind.country null', spec: { country: 'null' } },
  { name: 'no maxmind key', spec: { country: 'missing' } },
  { name: 'no country anywhere (inventory)', spec: { country: 'none' } },
  { name: 'spur types null', spec: { spur: 'null' } },
  { name: 'no spur key', spec: { spur: 'missing' } },
  { name: 'spur types array', spec: { spur: 'array' } },
  { name: 'spur types empty', spec: { spur: 'empty' } },
  { name: 'no enriched_at', spec: { at: 'missing' } },
  { name: 'enriched_at epoch', spec: { at: 'epoch' } },
  { name: "enriched_at 'yesterday'", spec: { at: 'garbage' } },
  { name: 'snapshot already written', spec: { prefill: 1 } },
  { name: 'source_ip + snapshot_asn written', spec: { prefill: 2 } },
  { name: 'someone wrote another country', spec: { prefill: 3 } },
  { name: 'IP not in ip_inventory', spec: { slot: 'absent' } },
  { name: 'malformed JSON text', spec: { enrich: 'malformed' } },
];

/** The production rates of sql/seed/seed_session_core.sql, per session. */
function randomSpec(u: (stream: number) => number): Spec {
  const pick = <T>(x: number, table: [number, T][], otherwise: T): T => {
    let acc = 0;
    for (const [p, v] of table) if (x < (acc += p)) return v;
    return otherwise;
  };
  return {
    enrich: pick(u(20), [[0.01, 'sql_null'], [0.005, 'empty']], 'ok'),
    ip: pick(u(21), [[0.004, 'not-an-ip'], [0.004, '999'], [0.004, 'blank'], [0.003, 'null'], [0.005, 'missing']], 'ok'),
    asn: pick(u(22), [[0.02, 'as_string'], [0.01, 'string'], [0.01, 'null'], [0.015, 'missing']], 'ok'),
    country: pick(u(23), [[0.015, 'lower'], [0.01, 'alpha3'], [0.005, 'null'], [0.015, 'missing']], 'ok'),
    spur: pick(u(24), [[0.03, 'null'], [0.09, 'missing']], 'ok'),
    at: pick(u(25), [[0.005, 'missing']], 'ok'),
    prefill: pick(u(26), [[0.007, 1 as const], [0.003, 2 as const]], 0 as const),
  };
}

interface Ip {
  address: string;
  kind: 'public' | 'v6' | 'private';
  inInventory: boolean;
  country: number; // index in COUNTRIES
  /** [observed_at (µs), asn index] in time order; empty for private addresses. */
  asnHistory: [bigint, number][];
  types: string[];
  scanner: boolean;
  sessions: number;
  firstUs: bigint | null;
  lastUs: bigint | null;
}

/**
 * Writes a deterministic synthetic data set into the SQLite file `path` (created with
 * the v16 schema when missing). Refuses (exit 1) when the tables already hold rows,
 * unless options.reset. Synchronous (better-sqlite3); one transaction.
 */
export function seedSqlite(path: string, sessions: number, seed: number, options: SqliteSeedOptions = {}): SqliteSeedSummary {
  const t0 = performance.now();
  if (!Number.isInteger(sessions) || sessions < 1 || sessions > MAX_SQLITE_SEED_SESSIONS) {
    throw new CliError(`--sessions: must be an integer from 1 to ${MAX_SQLITE_SEED_SESSIONS} for a sqlite: database (got ${String(sessions)})`, ExitCode.usage);
  }
  if (!Number.isInteger(seed) || seed < -2147483648 || seed > 2147483647) {
    throw new CliError(`--seed: must be an integer from -2147483648 to 2147483647 (got ${String(seed)})`, ExitCode.usage);
  }
  const nIps = options.ips ?? Math.max(Math.min(sessions, 24), Math.round((sessions * 38864) / 1682827));
  if (!Number.isInteger(nIps) || nIps < 1 || nIps > sessions) {
    throw new CliError(`--ips: must be an integer from 1 to the number of sessions (${sessions}) (got ${String(options.ips)})`, ExitCode.usage);
  }
  const { h, u } = hasher(seed);
  const db = openSqlite(path, { create: true });
  try {
    ensureSchema(db);
    const counts = db.prepare(`SELECT (SELECT count(*) FROM session_summaries) + (SELECT count(*) FROM ip_inventory)
        + (SELECT count(*) FROM asn_inventory) + (SELECT count(*) FROM ip_asn_history) AS n`).get() as { n: number };
    if (counts.n > 0 && !options.reset) {
      throw new CliError(`sqlite:${path} already has data (session_summaries or the inventory tables are not empty); use --reset to replace it`, ExitCode.error);
    }

    // ASNs: the well-known honeypot sources first (busiest), then synthetic ones.
    const nAsn = Math.max(Math.min(8, nIps), Math.round(nIps * 0.09));
    const asns = Array.from({ length: nAsn }, (_, i) => {
      const k = KNOWN_ASNS[i];
      if (k) return { asn: k[0], org: k[1], c2: k[2], type: k[3] };
      return {
        asn: 400000 + 3 * i + (h(1, i) % 3), org: `SYNTH-NET-${i}-AS`, c2: COUNTRIES[COUNTRY_PICK[h(2, i) % COUNTRY_PICK.length]!]![0],
        type: ['isp', 'hosting', 'hosting', 'business', 'education'][h(3, i) % 5]!,
      };
    });
    const asnIndex = (n: number, stream: number): number => Math.min(nAsn - 1, Math.floor(nAsn * u(stream, n) ** 2.5));

    // IPs. Special slots (when there are enough IPs): the last is IPv6, the one before
    // private, then one absent from ip_inventory, then one that changed ASN.
    const special = { v6: nIps >= 4 ? nIps : -1, priv: nIps >= 4 ? nIps - 1 : -1, absent: nIps >= 4 ? nIps - 2 : -1, changer: nIps >= 5 ? nIps - 3 : -1 };
    const seen = new Set<string>();
    const ips: Ip[] = [];
    for (let slot = 1; slot <= nIps; slot++) {
      const k = u(10, slot);
      const kind: Ip['kind'] = slot === special.v6 ? 'v6' : slot === special.priv ? 'private'
        : slot === special.absent || slot === special.changer ? 'public' : k < 0.015 ? 'v6' : k < 0.025 ? 'private' : 'public';
      let address = '';
      for (let attempt = 0; address === '' || seen.has(address); attempt++) {
        const a = h(11 + attempt * 4, slot);
        const b = h(12 + attempt * 4, slot);
        if (kind === 'public') address = `${FIRST_OCTETS[a % FIRST_OCTETS.length]}.${(a >>> 8) & 255}.${(a >>> 16) & 255}.${1 + (b % 254)}`;
        else if (kind === 'v6') address = parseIp(`${V6_PREFIXES[a % V6_PREFIXES.length]}:${(b & 0xffff).toString(16)}:${(b >>> 16).toString(16)}::${(a >>> 8 & 0xfff).toString(16)}`)!;
        else address = [`10.${a & 255}.${(a >>> 8) & 255}.${1 + (b % 254)}`, `192.168.${a & 255}.${1 + (b % 254)}`,
          `172.${16 + (a & 15)}.${(a >>> 8) & 255}.${1 + (b % 254)}`, `127.${a & 255}.${(a >>> 8) & 255}.${1 + (b % 254)}`][slot % 4]!;
      }
      seen.add(address);
      const changer = kind !== 'private' && (slot === special.changer || (slot !== special.absent && u(13, slot) < 0.1));
      const history: [bigint, number][] = [];
      if (kind !== 'private') {
        const a0 = asnIndex(slot, 14);
        history.push([YEAR_START_US, a0]);
        if (changer) {
          const steps = u(15, slot) < 0.5 ? 1 : 2;
          let prev = a0;
          for (let s = 1; s <= steps; s++) {
            const next = (prev + 1 + (h(16 + s, slot) % Math.max(1, nAsn - 1))) % nAsn;
            const at = YEAR_START_US + BigInt(Math.floor(YEAR_US * (s / (steps + 1)) + (h(19, slot) % 86_400) * 1e6));
            history.push([at, next === prev ? (prev + 1) % nAsn : next]);
            prev = history[history.length - 1]![1];
          }
        }
      }
      ips.push({
        address, kind, inInventory: slot !== special.absent && (slot === special.v6 || slot === special.changer || u(20, slot) >= 0.02),
        country: COUNTRY_PICK[h(21, slot) % COUNTRY_PICK.length]!, asnHistory: history,
        types: SPUR_TYPES[h(22, slot) % SPUR_TYPES.length]!.split(',').filter((t) => t !== ''),
        scanner: u(23, slot) < 0.6, sessions: 0, firstUs: null, lastUs: null,
      });
    }
    const asnAt = (ip: Ip, us: bigint): number | null => {
      let found: number | null = null;
      for (const [at, a] of ip.asnHistory) if (at <= us) found = a;
      return found;
    };

    if (options.reset) {
      db.exec(`DELETE FROM session_summaries; DELETE FROM ip_asn_history; DELETE FROM ip_inventory; DELETE FROM asn_inventory;
               DELETE FROM backfill_rejects; DELETE FROM backfill_runs;`);
    }
    const insSession = db.prepare(`INSERT INTO session_summaries (session_id, first_event_at, last_event_at, event_count, command_count,
        file_downloads, login_attempts, ssh_key_injections, unique_ssh_keys, vt_flagged, dshield_flagged, risk_score, matcher,
        source_files, enrichment, created_at, updated_at, source_ip, snapshot_asn, snapshot_country, snapshot_ip_type, enrichment_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const insIp = db.prepare(`INSERT INTO ip_inventory (ip_address, current_asn, asn_last_verified, first_seen, last_seen, session_count,
        enrichment, enrichment_updated_at, enrichment_version, geo_country, is_scanner, is_bogon, ip_types, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, '2.0', ?, ?, ?, ?, ?, ?)`);
    const insAsn = db.prepare(`INSERT INTO asn_inventory (asn_number, organization_name, organization_country, rir_registry, asn_type,
        is_known_hosting, is_known_vpn, first_seen, last_seen, unique_ip_count, total_session_count, enrichment, enrichment_updated_at,
        created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const insHist = db.prepare(`INSERT INTO ip_asn_history (ip_address, asn_number, observed_at) VALUES (?, ?, ?)`);

    const written = { asn_inventory: 0, ip_inventory: 0, ip_asn_history: 0, session_summaries: 0 };
    let forced = 0;
    const yearStart = formatMicros(YEAR_START_US);
    const yearEnd = formatMicros(YEAR_START_US + BigInt(YEAR_US));

    db.transaction(() => {
      // Sessions first (the inventory's counters come from them): foreign keys checked at COMMIT.
      db.pragma('defer_foreign_keys = ON');
      const firstPublic = ips.findIndex((ip, i) => ip.kind === 'public' && ip.inInventory && ip.asnHistory.length === 1 && i + 1 !== special.absent);
      for (let n = 1; n <= sessions; n++) {
        const dirty = n > nIps ? DIRTY_CASES[n - nIps - 1] : undefined;
        const spec: Spec = dirty ? { ...OK, ...dirty.spec } : randomSpec((s) => u(s, n));
        if (dirty) forced++;
        // Which IP: slot n for the first nIps sessions (every IP has a session), then
        // skewed toward the first (busiest) slots; dirty cases on their special slot.
        let slot = n <= nIps ? n : 1 + Math.floor(nIps * u(30, n) ** 3);
        if (dirty) {
          slot = spec.slot === 'v6' && special.v6 > 0 ? special.v6 : spec.slot === 'absent' && special.absent > 0 ? special.absent
            : spec.slot === 'changer_before' && special.changer > 0 ? special.changer : firstPublic >= 0 ? firstPublic + 1 : slot;
        }
        const ip = ips[slot - 1]!;
        // first event: a year from 2024-11-06 UTC (one in three from a rising density), µs resolution
        const r = u(31, n);
        let first = YEAR_START_US + BigInt(Math.floor((h(32, n) % 3 === 0 ? Math.sqrt(r) : r) * YEAR_US));
        if (spec.slot === 'changer_before' && ip.asnHistory.length > 1) first = YEAR_START_US + (ip.asnHistory[1]![0] - YEAR_START_US) / 2n;
        const d = u(33, n);
        const dur = d < 0.6 ? h(34, n) % 10 : d < 0.9 ? 10 + (h(34, n) % 110) : d < 0.99 ? 120 + (h(34, n) % 1680) : 1800 + (h(34, n) % 5400);
        const last = first + BigInt(dur) * 1_000_000n;
        ip.sessions++;
        if (ip.firstUs === null || first < ip.firstUs) ip.firstUs = first;
        if (ip.lastUs === null || last > ip.lastUs) ip.lastUs = last;

        const asnIdx = asnAt(ip, first);
        const asn = asnIdx === null ? null : asns[asnIdx]!;
        const [c2, c3] = COUNTRIES[ip.country]!;
        const hasCountry = ip.kind !== 'private';
        const enrichedUs = first + BigInt(1 + (h(35, n) % 3600)) * 1_000_000n;
        const enrichment = buildEnrichment(spec, ip, asn, c2, c3, hasCountry, first, enrichedUs, h(36, n));

        // Snapshot columns "someone already wrote" (valid values; source_ip only when inventoried).
        let pre: [string | null, number | null, string | null, string | null, string | null] = [null, null, null, null, null];
        if (spec.prefill > 0) {
          const srcIp = ip.inInventory ? ip.address : null;
          const country = hasCountry ? c2 : 'XX';
          if (spec.prefill === 1) pre = [srcIp, asn?.asn ?? null, country, ip.types[0] ?? 'DATACENTER', formatMicros(enrichedUs)];
          if (spec.prefill === 2) pre = [srcIp, asn?.asn ?? null, null, null, null];
          if (spec.prefill === 3) pre = [null, null, country === 'US' ? 'DE' : 'US', null, null];
        }
        const sid = h(37, n).toString(16).padStart(8, '0') + n.toString(16).padStart(6, '0');
        const events = 1 + (h(38, n) % 200);
        insSession.run(
          sid, formatMicros(first), formatMicros(last), events, h(39, n) % Math.min(events, 40), h(40, n) % 4 === 0 ? h(41, n) % 3 : 0,
          h(42, n) % Math.max(1, events), h(43, n) % 50 === 0 ? 1 : 0, h(43, n) % 50 === 0 ? 1 : 0, h(44, n) % 100 === 0 ? 1 : 0,
          h(45, n) % 3 === 0 ? 1 : 0, h(46, n) % 101, ['cowrie', 'dshield', null][h(47, n) % 3] ?? null,
          JSON.stringify([`cowrie.json.${formatMicros(first).slice(0, 10)}`]), enrichment, formatMicros(last), formatMicros(last), ...pre,
        );
        written.session_summaries++;
      }

      const asnIps = new Map<number, number>();
      const asnSessions = new Map<number, number>();
      for (const ip of ips) {
        const cur = ip.asnHistory.length > 0 ? asns[ip.asnHistory[ip.asnHistory.length - 1]![1]]! : null;
        if (cur) {
          asnIps.set(cur.asn, (asnIps.get(cur.asn) ?? 0) + 1);
          asnSessions.set(cur.asn, (asnSessions.get(cur.asn) ?? 0) + ip.sessions);
        }
      }
      asns.forEach((a, i) => {
        insAsn.run(a.asn, a.org, a.c2, COUNTRIES.find((c) => c[0] === a.c2)?.[2] ?? 'ripencc', a.type, a.type === 'hosting' ? 1 : 0,
          yearStart, yearEnd, asnIps.get(a.asn) ?? 0, asnSessions.get(a.asn) ?? 0,
          JSON.stringify({ cymru: { asn: a.asn, country: a.c2, registry: COUNTRIES.find((c) => c[0] === a.c2)?.[2] ?? 'ripencc' }, name: a.org }),
          formatMicros(YEAR_START_US + BigInt(YEAR_US) - BigInt(h(50, i) % 86_400) * 1_000_000n), yearStart, yearEnd);
        written.asn_inventory++;
      });
      ips.forEach((ip, i) => {
        const cur = ip.asnHistory.length > 0 ? asns[ip.asnHistory[ip.asnHistory.length - 1]![1]]! : null;
        if (ip.inInventory) {
          const [c2] = COUNTRIES[ip.country]!;
          const enr: Record<string, unknown> = {
            greynoise: { noise: ip.scanner }, validation: { is_bogon: ip.kind === 'private' },
            spur: { client: { types: ip.types } },
          };
          if (ip.kind !== 'private') {
            enr.maxmind = { country: c2 };
            enr.cymru = { asn: cur?.asn ?? null, country: c2 };
          }
          const updated = formatMicros((ip.lastUs ?? YEAR_START_US) + BigInt(h(51, i) % 86_400) * 1_000_000n);
          insIp.run(ip.address, cur?.asn ?? null, updated, formatMicros(ip.firstUs ?? YEAR_START_US), formatMicros(ip.lastUs ?? YEAR_START_US),
            ip.sessions, JSON.stringify(enr), updated, ip.kind === 'private' ? 'XX' : c2, ip.scanner ? 1 : 0, ip.kind === 'private' ? 1 : 0,
            ip.types.length > 0 ? JSON.stringify(ip.types) : null, formatMicros(ip.firstUs ?? YEAR_START_US), updated);
          written.ip_inventory++;
        }
        if (!ip.inInventory) return; // ip_asn_history.ip_address references ip_inventory
        for (const [at, a] of ip.asnHistory) {
          insHist.run(ip.address, asns[a]!.asn, formatMicros(at));
          written.ip_asn_history++;
        }
      });
    }).immediate();

    return {
      path, sessions, seed, ips: nIps, tables: written, forcedDirtyCases: forced,
      elapsedMs: Math.round(performance.now() - t0),
    };
  } finally {
    db.close();
  }
}

function buildEnrichment(
  spec: Spec, ip: Ip, asn: { asn: number; org: string } | null, c2: string, c3: string, hasCountry: boolean,
  firstUs: bigint, enrichedUs: bigint, k: number,
): string | null {
  switch (spec.enrich) {
    case 'sql_null': return null;
    case 'empty': return '{}';
    case 'json_null': return 'null';
    case 'malformed': return '{"dshield": {"ip": {"number": "1.2.3.4"';
    default: break;
  }
  const e: Record<string, unknown> = {};
  const ipValue = { 'ok': ip.address, 'not-an-ip': 'not-an-ip', '999': '999.1.2.3', 'blank': '', 'null': null, 'missing': null,
    'padded': ` ${ip.address} `, 'upper': ip.address.toUpperCase() }[spec.ip];
  const country = { ok: c2, lower: c2.toLowerCase(), alpha3: c3, null: null, missing: null, none: null }[spec.country];
  if (spec.ip !== 'missing') {
    e.dshield = { ip: { number: ipValue, ...(hasCountry && spec.country !== 'none' ? { ascountry: c2 } : {}), asname: asn?.org ?? null, count: 1 + (k % 500) } };
  }
  if (spec.asn !== 'missing' && ip.kind !== 'private') {
    const asnValue = { ok: asn?.asn ?? null, as_string: asn ? `AS${asn.asn}` : null, string: asn ? String(asn.asn) : null, null: null, missing: null, garbage: 'n/a' }[spec.asn];
    e.cymru = { asn: asnValue, ...(hasCountry && spec.country !== 'none' ? { country: c2 } : {}), prefix: `${ip.address}/24` };
  }
  if (hasCountry && spec.country !== 'missing' && spec.country !== 'none') e.maxmind = { country, city: null };
  const types = spec.spur === 'array' ? (ip.types.length > 0 ? ip.types : ['MOBILE', 'DESKTOP'])
    : spec.spur === 'null' ? null : spec.spur === 'empty' ? ((k & 1) === 0 ? '' : [])
    : (firstUs >= SPUR_ARRAY_FROM_US) !== (k % 10 === 0) ? ip.types : (ip.types[0] ?? null);
  if (spec.spur !== 'missing' && !(spec.spur === 'ok' && ip.types.length === 0)) e.spur = { client: { types } };
  if (spec.at === 'ok') e.enriched_at = (k & 2) === 0 ? formatMicros(enrichedUs) : formatMicros(enrichedUs).replace('Z', '+00:00');
  if (spec.at === 'epoch') e.enriched_at = Number(enrichedUs / 1_000_000n);
  if (spec.at === 'garbage') e.enriched_at = 'yesterday';
  return JSON.stringify(e);
}
