import { configDefaults, defineConfig } from 'vitest/config';

// Tests that need the real test cluster (test/cluster/): its global setup starts one per run.
const CLUSTER_TESTS = ['test/cluster/**/*.test.ts', '**/*.cluster.test.ts'];

// Workspace packages import each other by name; tests run the TypeScript sources, so resolve
// their `source` export condition (Node and tsc use the compiled `default`/`types` entries).
const CONDITIONS = ['source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions: CONDITIONS },
  ssr: { resolve: { conditions: CONDITIONS } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['updog/test/**/*.test.ts', 'tuf-repo-tools/test/**/*.test.ts', 'update-operator/test/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...CLUSTER_TESTS],
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster',
          include: CLUSTER_TESTS,
          globalSetup: ['test/cluster/global-setup.ts'],
          // one shared control plane on 2 cores: run cluster test files one after another
          fileParallelism: false,
          testTimeout: 180_000,
        },
      },
    ],
  },
});
