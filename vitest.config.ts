import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['updog/test/**/*.test.ts', 'tuf-repo-tools/test/**/*.test.ts', 'update-operator/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
