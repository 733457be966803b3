/** The project's module structure: package boundaries, no import cycles, updog's layers. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { boundaryViolations, importCycles, importsOf, layerViolations, readSourceTree } from './import-graph.js';

const tree = readSourceTree(resolve(import.meta.dirname, '../..'));

describe('the repository', () => {
  it('has its sources where the checks look', () => {
    expect(tree.has('updog/src/cli/updog.ts')).toBe(true);
    expect(tree.has('tuf-repo-tools/src/index.ts')).toBe(true);
    expect(tree.has('update-operator/src/index.ts')).toBe(true);
    expect(tree.size).toBeGreaterThan(200);
  });

  it('imports other packages only through their exports', () => {
    expect(boundaryViolations(tree)).toEqual([]);
  });

  it('has no import cycle', () => {
    expect(importCycles(tree)).toEqual([]);
  });

  it('keeps updog in layers: cli > api > update > tuf/install/signpost/selection > ... > common', () => {
    expect(layerViolations(tree)).toEqual([]);
  });
});

describe('the checks fail on a deliberate violation', () => {
  const violating = new Map([
    ['updog/src/common/errors.ts', "export class UserError extends Error {}\n"],
    ['updog/src/gpt/io.ts', "import { Signpost } from '../signpost/signpost.js';\nexport const io = 1;\n"],
    ['updog/src/signpost/signpost.ts', "import type { io } from '../gpt/io.js';\nexport { io as Signpost } from '../gpt/io.js';\n"],
    ['updog/src/cli/updog.ts', "import { UserError } from '../common/errors.js';\n"],
    ['updog/src/widgets/w.ts', "export const w = 1;\n"],
    ['tuf-repo-tools/src/cli/tuf-repo.ts', "import { UserError } from '../../../updog/src/common/errors.js';\nimport { io } from '@updog-ts/updog/disk';\n"],
  ]);

  it('finds an import into another package', () => {
    expect(boundaryViolations(violating)).toEqual([
      'tuf-repo-tools/src/cli/tuf-repo.ts imports ../../../updog/src/common/errors.js: use the exports of @updog-ts/updog instead',
    ]);
  });

  it('finds a cycle, type-only imports and re-exports included', () => {
    expect(importCycles(violating)).toEqual([['updog/src/gpt/io.ts', 'updog/src/signpost/signpost.ts']]);
  });

  it('finds a lower layer importing a higher one, and a folder without a layer', () => {
    expect(layerViolations(violating)).toEqual([
      'updog/src/gpt/io.ts imports ../signpost/signpost.js: updog/src/signpost is not below updog/src/gpt',
      'updog/src/widgets/w.ts: folder updog/src/widgets has no layer in UPDOG_LAYERS',
    ]);
  });

  it('reads every import form and ignores commented-out ones', () => {
    const text = [
      "import a from './a.js';",
      "import type { B } from './b.js';",
      "export * from './c.js';",
      "const d = await import('./d.js');",
      "import './e.js';",
      "// import { f } from './f.js';",
      "/* import { g } from './g.js'; */",
      "import {\n  h,\n  type H,\n} from 'h-package';",
    ].join('\n');
    expect(importsOf('x/y.ts', text).map((e) => e.to ?? e.specifier)).toEqual(['x/a.ts', 'x/b.ts', 'x/c.ts', 'x/d.ts', 'x/e.ts', 'h-package']);
  });
});

describe('the bins', () => {
  it('are the workspace packages\' bins, also named at the root (npx runs the root package\'s bins: npm ci cannot link a package\'s bins before its first build)', () => {
    const read = (path: string): { bin: Record<string, string> } => JSON.parse(readFileSync(resolve(import.meta.dirname, '../..', path), 'utf8'));
    const fromPackages = Object.fromEntries(
      ['updog', 'tuf-repo-tools', 'update-operator'].flatMap((pkg) => Object.entries(read(`${pkg}/package.json`).bin).map(([name, file]) => [name, `${pkg}/${file.replace(/^\.\//, '')}`])),
    );
    expect(read('package.json').bin).toEqual(fromPackages);
    expect(Object.keys(fromPackages)).toEqual(['updog', 'signpost', 'tuf-repo', 'update-operator']);
  });
});
