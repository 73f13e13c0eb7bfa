// Validate's settings: a JSON config file validated with zod and flags on top (flags win
// over the file); what neither sets takes validate_settings()'s default (the runbooks').
import { z } from 'zod';
import { usageError } from '../errors.js';
import { readFileBounded } from '../files/safe-write.js';

/** A config file larger than this is refused (a device such as /dev/zero cannot exhaust memory). */
export const CONFIG_MAX_BYTES = 1 << 20;

import { GROUPS, SEVERITIES, type Group, type Severity } from './types.js';

const percent = z.number().min(0).max(100);

/**
 * The settings validate_settings() (sql/functions/validate_settings.sql) reads: the keys are
 * checked here, at the edge; the defaults (the runbooks' thresholds) are SQL's, so a key
 * left out here takes SQL's value.
 */
export const configSchema = z
  .object({
    thresholds: z
      .object({
        coverage: percent.optional(),
        accuracy: percent.optional(),
        speedup: z.number().min(0).max(1000).optional(),
        inventoryCoverage: percent.optional(),
        minServerVersion: z.number().int().min(9).max(100).optional(),
      })
      .strict()
      .default({}),
    accuracy: z
      .object({
        sampleSize: z.number().int().min(1).max(10_000_000).optional(),
        /** Omit for a random seed (printed in the report so the sample can be reproduced). */
        seed: z.number().int().min(0).max(2_147_483_647).optional(),
      })
      .strict()
      .default({}),
    performance: z
      .object({
        runs: z.number().int().min(1).max(100).optional(),
        country: z.string().regex(/^[A-Z]{2}$/, 'must be a 2-letter upper-case country code').optional(),
        ipType: z.string().min(1).max(64).optional(),
        snowshoeMinIps: z.number().int().min(0).max(1_000_000_000).optional(),
      })
      .strict()
      .default({}),
    readiness: z
      .object({ sampleSize: z.number().int().min(1).max(1_000_000).optional(), batchSize: z.number().int().min(1).max(1_000_000).optional() })
      .strict()
      .default({}),
    /** Per-statement limit inside validate's read-only transaction (each group of checks is one statement). */
    statementTimeoutMs: z.number().int().min(100).max(86_400_000).default(300_000),
    lockTimeoutMs: z.number().int().min(10).max(3_600_000).default(5_000),
    /** Override the failing severity of a check by id, e.g. {"performance.speedup": "ERROR"}. */
    severity: z.record(z.string(), z.enum(SEVERITIES as [Severity, ...Severity[]])).default({}),
    /** Groups to run (default all) and groups to leave out. */
    only: z.array(z.enum(GROUPS as [Group, ...Group[]])).optional(),
    skip: z.array(z.enum(GROUPS as [Group, ...Group[]])).default([]),
  })
  .strict();

export type ValidateConfig = z.infer<typeof configSchema>;

export function defaultConfig(): ValidateConfig {
  return configSchema.parse({});
}

/** Reads and validates a JSON config file; errors name the file and the key. */
export function loadConfigFile(path: string): ValidateConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileBounded(path, CONFIG_MAX_BYTES));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EFBIG' ? `larger than ${CONFIG_MAX_BYTES} bytes: not a settings file` : e.code && e.syscall ? `cannot read it (${e.code})` : e.message;
    throw usageError(`--config ${path}: ${why}`);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw usageError(`--config ${path}: ${issue.path.length ? issue.path.join('.') : '(top level)'}: ${issue.message}`);
  }
  return parsed.data;
}

export interface ConfigFlags {
  minCoverage?: number;
  minAccuracy?: number;
  minSpeedup?: number;
  minInventoryCoverage?: number;
  sampleSize?: number;
  seed?: number;
  runs?: number;
  country?: string;
  ipType?: string;
  snowshoeMinIps?: number;
  statementTimeout?: number;
  only?: Group[];
  skip?: Group[];
}

/** Flags override the file (or the defaults). */
export function applyFlags(base: ValidateConfig, f: ConfigFlags): ValidateConfig {
  const c: ValidateConfig = structuredClone(base);
  if (f.minCoverage !== undefined) c.thresholds.coverage = f.minCoverage;
  if (f.minAccuracy !== undefined) c.thresholds.accuracy = f.minAccuracy;
  if (f.minSpeedup !== undefined) c.thresholds.speedup = f.minSpeedup;
  if (f.minInventoryCoverage !== undefined) c.thresholds.inventoryCoverage = f.minInventoryCoverage;
  if (f.sampleSize !== undefined) c.accuracy.sampleSize = f.sampleSize;
  if (f.seed !== undefined) c.accuracy.seed = f.seed;
  if (f.runs !== undefined) c.performance.runs = f.runs;
  if (f.country !== undefined) c.performance.country = f.country;
  if (f.ipType !== undefined) c.performance.ipType = f.ipType;
  if (f.snowshoeMinIps !== undefined) c.performance.snowshoeMinIps = f.snowshoeMinIps;
  if (f.statementTimeout !== undefined) c.statementTimeoutMs = f.statementTimeout * 1000;
  if (f.only !== undefined) c.only = f.only;
  if (f.skip !== undefined) c.skip = [...new Set([...c.skip, ...f.skip])];
  return c;
}

export function groupEnabled(c: ValidateConfig, g: Group): boolean {
  if (g === 'connection') return true;
  if (c.only && !c.only.includes(g)) return false;
  return !c.skip.includes(g);
}
