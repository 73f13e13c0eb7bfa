// Unit tests of the pure schema diff (src/schema/diff.ts): no database needed.
import { describe, expect, it } from 'vitest';
import {
  checkExitCode,
  conversionExpression,
  diffSchemas,
  similarNames,
  type ColumnSnapshot,
  type Finding,
  type SchemaSnapshot,
} from '../src/schema/diff.js';

const GEO = "upper(COALESCE(((enrichment -> 'maxmind'::text) ->> 'country'::text), 'XX'::text))";
const SCANNER = "COALESCE((((enrichment -> 'greynoise'::text) ->> 'noise'::text))::boolean, false)";

const col = (type: string, extra: Partial<ColumnSnapshot> = {}): ColumnSnapshot => ({ type, not_null: false, generated: '', ...extra });

/** A trimmed copy of what schema_snapshot() returns for the v16 schema. */
function expected(): SchemaSnapshot {
  return {
    schema_version: '16',
    tables: {
      schema_state: {
        columns: { key: col('character varying(128)', { not_null: true }), value: col('character varying(256)', { not_null: true }) },
        constraints: { schema_state_pkey: { type: 'p', definition: 'PRIMARY KEY (key)', validated: true } },
        indexes: { schema_state_pkey: { definition: 'USING btree (key)', unique: true, primary: true, valid: true } },
      },
      session_summaries: {
        columns: {
          session_id: col('character varying(64)', { not_null: true }),
          event_count: col('integer', { not_null: true, default: '0' }),
          enrichment: col('json'),
          source_ip: col('character varying(45)'),
          snapshot_country: col('character varying(2)'),
          snapshot_ip_type: col('text'),
        },
        constraints: {
          session_summaries_pkey: { type: 'p', definition: 'PRIMARY KEY (session_id)', validated: true },
          ck_session_summaries_snapshot_country: {
            type: 'c',
            definition: "CHECK (((snapshot_country IS NULL) OR ((snapshot_country)::text ~ '^[A-Z]{2}$'::text)))",
            validated: true,
          },
          fk_session_summaries_source_ip: { type: 'f', definition: 'FOREIGN KEY (source_ip) REFERENCES ip_inventory(ip_address)', validated: true },
        },
        indexes: {
          session_summaries_pkey: { definition: 'USING btree (session_id)', unique: true, primary: true, valid: true },
          ix_session_summaries_source_ip: { definition: 'USING btree (source_ip)', unique: false, primary: false, valid: true },
        },
      },
      ip_inventory: {
        columns: {
          ip_address: col('character varying(45)', { not_null: true }),
          enrichment: col('jsonb', { not_null: true, default: "'{}'::jsonb" }),
          geo_country: col('character varying(2)', { generated: 's', generation_expression: GEO }),
          ip_types: col('text[]', { not_null: true, default: "'{}'::text[]" }),
          is_scanner: col('boolean', { generated: 's', generation_expression: SCANNER }),
        },
        constraints: { ip_inventory_pkey: { type: 'p', definition: 'PRIMARY KEY (ip_address)', validated: true } },
        indexes: {
          ip_inventory_pkey: { definition: 'USING btree (ip_address)', unique: true, primary: true, valid: true },
          ix_ip_inventory_geo_country: { definition: 'USING btree (geo_country)', unique: false, primary: false, valid: true },
        },
      },
    },
  };
}

const live = (mutate: (s: SchemaSnapshot) => void): SchemaSnapshot => {
  const s = structuredClone(expected());
  mutate(s);
  return s;
};
const t = (s: SchemaSnapshot, name: string) => s.tables[name]!;
const only = (findings: Finding[], kind: Finding['kind']) => findings.filter((f) => f.kind === kind);

describe('diffSchemas', () => {
  it('finds nothing when the schemas are equal, and exits 0', () => {
    const findings = diffSchemas(expected(), expected());
    expect(findings).toEqual([]);
    expect(checkExitCode(findings)).toBe(0);
  });

  it('plural text snapshot column: CRITICAL rename with the RENAME statement', () => {
    const findings = diffSchemas(expected(), live((s) => {
      const c = t(s, 'session_summaries').columns;
      c.snapshot_ip_types = c.snapshot_ip_type!;
      delete c.snapshot_ip_type;
    }));
    expect(findings).toHaveLength(2); // the rename + schema_version says 16 but the schema differs
    const [f] = findings;
    expect(f).toMatchObject({ severity: 'CRITICAL', kind: 'renamed_column', table: 'session_summaries', object: 'snapshot_ip_type' });
    expect(f!.fix).toContain('ALTER TABLE session_summaries RENAME COLUMN snapshot_ip_types TO snapshot_ip_type;');
    expect(f!.fix).toContain('align_snapshot_ip_type()');
    expect(f!.fix).not.toContain('ALTER COLUMN');
    expect(only(findings, 'extra_column')).toEqual([]);
    expect(only(findings, 'schema_version')[0]!.severity).toBe('WARNING');
    expect(checkExitCode(findings)).toBe(2);
  });

  it('plural text[] snapshot column: the fix converts with array_to_string, then renames', () => {
    const findings = diffSchemas(expected(), live((s) => {
      const c = t(s, 'session_summaries').columns;
      c.snapshot_ip_types = col('text[]');
      delete c.snapshot_ip_type;
    }));
    const f = only(findings, 'renamed_column')[0]!;
    expect(f.severity).toBe('CRITICAL');
    expect(f.fix).toBe(
      "ALTER TABLE session_summaries ALTER COLUMN snapshot_ip_types TYPE text USING array_to_string(snapshot_ip_types, ','); " +
        'ALTER TABLE session_summaries RENAME COLUMN snapshot_ip_types TO snapshot_ip_type; -- or: SELECT * FROM align_snapshot_ip_type();',
    );
  });

  it('both spellings present: the plural one is a half-done rename (WARNING, merge)', () => {
    const findings = diffSchemas(expected(), live((s) => {
      t(s, 'session_summaries').columns.snapshot_ip_types = col('text');
    }));
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ severity: 'WARNING', kind: 'rename_leftover', object: 'snapshot_ip_types' });
    expect(findings[0]!.fix).toContain('align_snapshot_ip_type()');
    expect(checkExitCode(findings)).toBe(0);
  });

  it('neither spelling: the snapshot column is missing, CRITICAL, with ADD COLUMN', () => {
    const findings = diffSchemas(expected(), live((s) => {
      delete t(s, 'session_summaries').columns.snapshot_ip_type;
    }));
    expect(findings[0]).toMatchObject({ severity: 'CRITICAL', kind: 'missing_column', object: 'snapshot_ip_type' });
    expect(findings[0]!.fix).toBe('ALTER TABLE session_summaries ADD COLUMN snapshot_ip_type text;');
  });

  it('incomplete inventory: missing generated columns are CRITICAL with ADD COLUMN ... STORED, the index a WARNING', () => {
    const findings = diffSchemas(expected(), live((s) => {
      const inv = t(s, 'ip_inventory');
      delete inv.columns.geo_country;
      delete inv.columns.is_scanner;
      delete inv.indexes!.ix_ip_inventory_geo_country;
    }));
    const missing = only(findings, 'missing_column');
    expect(missing.map((f) => [f.severity, f.object])).toEqual([
      ['CRITICAL', 'geo_country'],
      ['CRITICAL', 'is_scanner'],
    ]);
    expect(missing[0]!.fix).toBe(`ALTER TABLE ip_inventory ADD COLUMN geo_country character varying(2) GENERATED ALWAYS AS (${GEO}) STORED;`);
    expect(only(findings, 'missing_index')[0]).toMatchObject({
      severity: 'WARNING',
      fix: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_ip_inventory_geo_country ON ip_inventory USING btree (geo_country);',
    });
    expect(checkExitCode(findings)).toBe(2);
  });

  it('a plain column where a generated one belongs is never mistaken for a default', () => {
    const findings = diffSchemas(expected(), live((s) => {
      t(s, 'ip_inventory').columns.is_scanner = col('boolean', { default: 'false' });
    }));
    expect(only(findings, 'column_default')).toEqual([]);
    expect(only(findings, 'generated_missing')[0]).toMatchObject({ severity: 'CRITICAL', object: 'is_scanner' });
    expect(only(findings, 'generated_missing')[0]!.fix).toContain('DROP COLUMN is_scanner, ADD COLUMN is_scanner boolean GENERATED ALWAYS AS');
  });

  it('a wrong generation expression: SET EXPRESSION (17+) or drop and add', () => {
    const findings = diffSchemas(expected(), live((s) => {
      t(s, 'ip_inventory').columns.geo_country!.generation_expression = "'XX'::text";
    }));
    const f = only(findings, 'generation_expression')[0]!;
    expect(f).toMatchObject({ severity: 'CRITICAL', expected: GEO, actual: "'XX'::text" });
    expect(f.fix).toContain(`ALTER TABLE ip_inventory ALTER COLUMN geo_country SET EXPRESSION AS (${GEO});`);
  });

  it('expressions equal after the caller-provided normalisation are not reported', () => {
    const findings = diffSchemas(
      expected(),
      live((s) => {
        t(s, 'ip_inventory').columns.geo_country!.generation_expression = GEO.replace(/::text/g, '');
      }),
      { sameExpression: (_t, _c, a, b) => a.replace(/::text/g, '') === b.replace(/::text/g, '') },
    );
    expect(findings).toEqual([]);
  });

  it('missing FK is an ERROR with NOT VALID + VALIDATE; a NOT VALID one a WARNING', () => {
    const missing = diffSchemas(expected(), live((s) => {
      delete t(s, 'session_summaries').constraints!.fk_session_summaries_source_ip;
    }));
    expect(only(missing, 'missing_constraint')[0]).toMatchObject({ severity: 'ERROR', object: 'fk_session_summaries_source_ip' });
    expect(only(missing, 'missing_constraint')[0]!.fix).toBe(
      'ALTER TABLE session_summaries ADD CONSTRAINT fk_session_summaries_source_ip FOREIGN KEY (source_ip) REFERENCES ip_inventory(ip_address) NOT VALID; ' +
        'ALTER TABLE session_summaries VALIDATE CONSTRAINT fk_session_summaries_source_ip;',
    );
    expect(checkExitCode(missing)).toBe(1);

    const notValid = diffSchemas(expected(), live((s) => {
      const fk = t(s, 'session_summaries').constraints!.fk_session_summaries_source_ip!;
      fk.validated = false;
      fk.definition += ' NOT VALID'; // as pg_get_constraintdef prints it
    }));
    expect(notValid).toHaveLength(1);
    expect(notValid[0]).toMatchObject({ severity: 'WARNING', kind: 'constraint_not_valid' });
    expect(checkExitCode(notValid)).toBe(0);
  });

  it('an index under another name is a rename, not missing + extra', () => {
    const findings = diffSchemas(expected(), live((s) => {
      const ix = t(s, 'session_summaries').indexes!;
      ix.idx_session_source_ip = ix.ix_session_summaries_source_ip!;
      delete ix.ix_session_summaries_source_ip;
    }));
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({
      severity: 'INFO',
      kind: 'renamed_index',
      fix: 'ALTER INDEX idx_session_source_ip RENAME TO ix_session_summaries_source_ip;',
    });
  });

  it('an INVALID index is a WARNING with a concurrent rebuild', () => {
    const findings = diffSchemas(expected(), live((s) => {
      t(s, 'session_summaries').indexes!.ix_session_summaries_source_ip!.valid = false;
    }));
    expect(findings[0]).toMatchObject({ severity: 'WARNING', kind: 'index_invalid' });
    expect(findings[0]!.fix).toMatch(/^DROP INDEX CONCURRENTLY ix_session_summaries_source_ip; CREATE INDEX CONCURRENTLY/);
  });

  it('missing tables: CRITICAL for the backfill tables; extra tables/columns are INFO', () => {
    const findings = diffSchemas(expected(), live((s) => {
      delete s.tables.ip_inventory;
      s.tables.raw_events = { columns: { id: col('bigint') } };
      t(s, 'session_summaries').columns.notes = col('text');
    }));
    expect(findings.find((f) => f.kind === 'missing_table')).toMatchObject({ severity: 'CRITICAL', table: 'ip_inventory' });
    expect(findings.find((f) => f.kind === 'extra_table')).toMatchObject({ severity: 'INFO', table: 'raw_events' });
    expect(findings.find((f) => f.kind === 'extra_column')).toMatchObject({ severity: 'INFO', object: 'notes' });
  });

  it('type, nullability and default differences', () => {
    const findings = diffSchemas(expected(), live((s) => {
      const c = t(s, 'session_summaries').columns;
      c.snapshot_country = col('character varying(3)');
      c.event_count = col('integer', { default: '1' });
    }));
    expect(only(findings, 'column_type')[0]).toMatchObject({
      severity: 'CRITICAL',
      fix: 'ALTER TABLE session_summaries ALTER COLUMN snapshot_country TYPE character varying(2) USING snapshot_country::character varying(2);',
    });
    expect(only(findings, 'column_nullability')[0]).toMatchObject({ severity: 'ERROR', fix: 'ALTER TABLE session_summaries ALTER COLUMN event_count SET NOT NULL;' });
    expect(only(findings, 'column_default')[0]).toMatchObject({ severity: 'WARNING', fix: 'ALTER TABLE session_summaries ALTER COLUMN event_count SET DEFAULT 0;' });
  });

  it('schema_version: behind although the schema matches -> WARNING with the UPDATE', () => {
    const findings = diffSchemas(expected(), live((s) => {
      s.schema_version = '15';
    }));
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ severity: 'WARNING', kind: 'schema_version', expected: '16', actual: '15' });
    expect(findings[0]!.fix).toBe("UPDATE schema_state SET value = '16' WHERE key = 'schema_version';");
    expect(checkExitCode(findings)).toBe(0);
  });

  it('orders findings most severe first', () => {
    const findings = diffSchemas(expected(), live((s) => {
      t(s, 'session_summaries').columns.notes = col('text');
      delete t(s, 'session_summaries').indexes!.ix_session_summaries_source_ip;
      delete t(s, 'session_summaries').columns.snapshot_ip_type;
    }));
    expect(findings.map((f) => f.severity)).toEqual(['CRITICAL', 'WARNING', 'WARNING', 'INFO']);
  });
});

describe('helpers', () => {
  it('similarNames: plural/singular and close spellings, not unrelated names', () => {
    expect(similarNames('snapshot_ip_type', 'snapshot_ip_types')).toBe(true);
    expect(similarNames('snapshot_ip_types', 'snapshot_ip_type')).toBe(true);
    expect(similarNames('category', 'categories')).toBe(true);
    expect(similarNames('snapshot_country', 'snapshot_contry')).toBe(true);
    expect(similarNames('first_seen', 'last_seen')).toBe(false);
    expect(similarNames('is_bogon', 'is_scanner')).toBe(false);
    expect(similarNames('created_at', 'updated_at')).toBe(false);
  });

  it('conversionExpression: lossless conversions only', () => {
    expect(conversionExpression('text', 'text', 'c')).toBe('c');
    expect(conversionExpression('text[]', 'text', 'c')).toBe("array_to_string(c, ',')");
    expect(conversionExpression('character varying(50)', 'text', 'c')).toBe('c::text');
    expect(conversionExpression('integer', 'boolean', 'c')).toBeNull();
  });
});
