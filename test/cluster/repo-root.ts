import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository root, found upwards from this module: the harness runs both from its TS sources
 * (vitest) and from dist/ (demo), and needs files that only exist in the tree (scripts, dist bins).
 */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'test', 'cluster', 'build-k8s.sh'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the repository root (with test/cluster/build-k8s.sh) above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}
