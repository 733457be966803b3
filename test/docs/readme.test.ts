/**
 * README.md and docs/ must not drift from the code: the CLI reference (docs/cli.md) is the bins'
 * own `--help`, the sample updog.toml parses, every command shown is run by some test, and the
 * README stays short enough to read in five minutes.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseUpdogConfig } from '@updog-ts/updog/config';
// @ts-expect-error plain ESM script without type declarations
import { CLI_DOC, README, readmeWithReference, renderCliReference } from './cli-reference.mjs';

const readme = readFileSync(README as string, 'utf8');
const cliDoc = readFileSync(CLI_DOC as string, 'utf8');
/** The README and every page under docs/ but the generated CLI reference. */
const prose = [readme, ...readdirSync('docs').filter((f) => f.endsWith('.md') && f !== 'cli.md').map((f) => readFileSync(join('docs', f), 'utf8'))].join('\n');

function codeBlocks(lang: string): string[] {
  return [...prose.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

/** Every file a test runs: test sources, their helpers and fixtures, and the demo the demo test runs. */
function testSources(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist' || entry.startsWith('.')) continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) testSources(path, out);
    else if (/\.(ts|mjs|py)$/.test(entry) && /(^|[/])(test|demo)[/]/.test(path)) out.push(readFileSync(path, 'utf8'));
  }
  return out;
}

const BINS = ['updog', 'signpost', 'tuf-repo', 'update-operator'] as const;

/** Subcommand trees of every bin, read from the generated reference headings. */
function commandTree(reference: string): Map<string, Set<string>> {
  const tree = new Map<string, Set<string>>();
  for (const m of reference.matchAll(/^#### `([^`]+)`$/gm)) {
    const words = m[1]!.split(' ');
    for (let i = 1; i < words.length; i++) {
      const parent = words.slice(0, i).join(' ');
      if (!tree.has(parent)) tree.set(parent, new Set());
      tree.get(parent)!.add(words[i]!);
    }
  }
  return tree;
}

/** `bin sub [sub]` for each command line shown in a shell block (alternatives `a | b` included). */
function shownCommands(tree: Map<string, Set<string>>): Set<string> {
  const shown = new Set<string>();
  for (const block of codeBlocks('sh')) {
    const lines = block.replace(/\\\n/g, ' ').split('\n');
    for (const raw of lines) {
      const line = raw.replace(/#.*$/, '').replace(/^\$ /, '').trim();
      const tokens = line.split(/\s+/);
      const bin = tokens[0];
      if (bin === 'npm' || bin === 'bash') {
        // install and build steps (`npm ci`, `npm run build`, `npm test`, `npm link`) are what CI itself runs
        for (const part of line.split('&&').map((p) => p.trim())) if (/^(npm run (?!build)\S+|bash \S+)/.test(part)) shown.add(part.split(/\s+/).slice(0, 3).join(' '));
        continue;
      }
      if (!BINS.includes(bin as (typeof BINS)[number])) continue;
      // walk the tree: a token that names a child of the current command descends; `|` starts an alternative
      let path = bin!;
      for (const token of tokens.slice(1)) {
        if (token === '|') path = path.split(' ').slice(0, -1).join(' ') || bin!;
        else if (tree.get(path)?.has(token)) {
          path = `${path} ${token}`;
          shown.add(path);
        }
      }
      if (path === bin) shown.add(bin!);
    }
  }
  // npm scripts named in the prose count as shown too
  for (const m of prose.matchAll(/`(npm run [\w:-]+)`/g)) if (m[1] !== 'npm run build') shown.add(m[1]!);
  return shown;
}

describe('README.md', () => {
  const reference = renderCliReference() as string;

  it('has a CLI reference identical to the bins\' --help (regenerate: node test/docs/cli-reference.mjs --write)', () => {
    expect(cliDoc).toBe(readmeWithReference(cliDoc, reference));
  });

  it('is at most 400 lines and every docs/ page it links to exists', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(400);
    const links = [...readme.matchAll(/\]\((docs\/[\w.-]+\.md)(#[\w-]+)?\)/g)].map((m) => m[1]!);
    expect(new Set(links)).toEqual(new Set(readdirSync('docs').map((f) => `docs/${f}`)));
    for (const link of links) expect(existsSync(link), link).toBe(true);
  });

  it('shows a sample updog.toml that updog accepts', () => {
    const [toml] = codeBlocks('toml');
    const config = parseUpdogConfig(toml!.replace(/^ {2}/gm, ''), 'README.md');
    expect(config.seed).toBe(1234);
    expect(config.metadataBaseUrl).toBe('https://updates.example.com/metadata');
  });

  it('shows only commands that some test runs', () => {
    const sources = testSources('.');
    const shown = [...shownCommands(commandTree(reference))].sort();
    expect(shown.length).toBeGreaterThan(20);
    const unexercised = shown.filter((command) => {
      if (command.startsWith('npm run ')) {
        const script = command.slice('npm run '.length).split(' ')[0]!;
        const target = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts[script];
        const entry = target && /node (\S+)/.exec(target)?.[1];
        return !entry || !sources.some((s) => s.includes(entry.replace(/^dist\//, '').replace(/\.js$/, '')));
      }
      if (command === 'bash .ci/run') return false; // CI itself
      const words = command.split(' ');
      const bin = words[0]!;
      const leaf = words[words.length - 1]!;
      return !sources.some((s) => s.includes(bin) && (words.length === 1 || s.includes(`'${leaf}'`) || s.includes(`"${leaf}"`)));
    });
    expect(unexercised).toEqual([]);
  });
});
