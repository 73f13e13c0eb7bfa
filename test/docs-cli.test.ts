// The user-facing docs cannot drift from the CLI or point nowhere:
// - docs/cli.md is exactly what scripts/cli-doc.ts renders from `--help` today;
// - every relative link in README.md and docs/*.md names an existing file, and a `#anchor` names a
//   heading of that file (GitHub's anchor rule);
// - README.md stays a front page (under 15,000 bytes) and keeps the two commands a newcomer runs,
//   and .ci/run runs the test command README.md gives.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliDocPath, renderCliDoc, subcommandNames } from '../scripts/cli-doc.js';

const repoRoot = resolve(import.meta.dirname, '..');
const readmePath = join(repoRoot, 'README.md');
const docFiles = [
  readmePath,
  ...readdirSync(join(repoRoot, 'docs')).filter((name) => name.endsWith('.md')).map((name) => join(repoRoot, 'docs', name)),
  join(repoRoot, 'sql', 'upgrades', 'README.md'),
];

// Lines outside fenced code blocks (a `# comment` in a bash block is not a heading, and a link
// inside a code block is not a link).
function proseLines(markdown: string): string[] {
  const lines: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    else if (!fenced) lines.push(line);
  }
  return lines;
}

// GitHub's heading anchors: lower case, punctuation other than '-' and '_' dropped, each space a
// '-', and a repeated anchor gets -1, -2, ...
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

interface Link { from: string; target: string }

function relativeLinks(file: string): Link[] {
  const links: Link[] = [];
  for (const line of proseLines(readFileSync(file, 'utf8'))) {
    // drop inline code first: `a](b)` inside backticks is not a link
    const text = line.replace(/`[^`]*`/g, '');
    for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1] ?? '';
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      links.push({ from: file, target });
    }
  }
  return links;
}

describe('docs/cli.md', () => {
  it('lists nested commands from a help text, without commander\'s help entry', () => {
    const help = 'Usage: x\n\nCommands:\n  start             start it\n                    wrapped\n  status [options]  say\n  help [command]    display help\n\nafter';
    expect(subcommandNames(help)).toEqual(['start', 'status']);
  });

  it('is what `--help` of every command prints (regenerate with npm run docs:cli)', () => {
    expect(existsSync(join(repoRoot, 'dist', 'runner.js')), 'dist/runner.js is missing: run npm run build').toBe(true);
    const rendered = renderCliDoc();
    for (const command of ['cowrie-db backfill', 'cowrie-db rollback backfill', 'cowrie-db server start']) {
      expect(rendered).toContain(`## \`${command}\``);
    }
    const onDisk = readFileSync(cliDocPath, 'utf8');
    if (onDisk !== rendered) {
      const a = onDisk.split('\n');
      const b = rendered.split('\n');
      const line = a.findIndex((text, i) => text !== b[i]);
      const at = line < 0 ? Math.min(a.length, b.length) : line;
      throw new Error(
        `docs/cli.md is out of date: run npm run docs:cli\n` +
          `first difference at line ${at + 1}:\n  docs/cli.md: ${JSON.stringify(a[at])}\n  --help:      ${JSON.stringify(b[at])}`,
      );
    }
  });
});

describe('README.md and docs/', () => {
  it('every relative link names an existing file and, with #anchor, one of its headings', () => {
    const broken: string[] = [];
    for (const file of docFiles) {
      for (const { from, target } of relativeLinks(file)) {
        const [pathPart = '', anchor] = target.split('#', 2);
        const linked = pathPart === '' ? from : resolve(dirname(from), decodeURIComponent(pathPart));
        const name = `${from.slice(repoRoot.length + 1)} -> ${target}`;
        if (!existsSync(linked)) broken.push(`${name}: no such file`);
        else if (anchor !== undefined && linked.endsWith('.md') && !anchorsOf(readFileSync(linked, 'utf8')).has(anchor)) {
          broken.push(`${name}: no heading with that anchor`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('the anchor rule is GitHub\'s', () => {
    const anchors = anchorsOf('# The psql route\n## `cowrie-db rollback backfill`\n## Exit codes\n## Exit codes\n```\n# not a heading\n```\n');
    expect([...anchors]).toEqual(['the-psql-route', 'cowrie-db-rollback-backfill', 'exit-codes', 'exit-codes-1']);
  });

  it('README.md is under 15,000 bytes and gives the two first commands, and .ci/run runs its test command', () => {
    const readme = readFileSync(readmePath);
    expect(readme.byteLength).toBeLessThan(15_000);
    const text = readme.toString('utf8');
    const firstScreen = text.split('\n').slice(0, 30).join('\n');
    expect(firstScreen).toMatch(/^npm ci && npx cowrie-db demo\b/m);
    expect(firstScreen).toMatch(/^npm test\b/m);
    const ci = readFileSync(join(repoRoot, '.ci', 'run'), 'utf8');
    expect(ci).toMatch(/^npm test$/m);
  });
});
