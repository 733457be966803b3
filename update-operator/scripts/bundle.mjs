#!/usr/bin/env node
/**
 * The update-operator bin as one ES module bundle (esbuild), run by `npm run build` after tsc.
 * The controller and the agent are long-running processes whose memory is their cost: loaded as
 * separate modules, @kubernetes/client-node's configuration module pulls in its generated API
 * classes and models (868 files, 16 MB of source; `update-operator --help` peaked at 138 MiB),
 * while the bundle keeps only what is reachable from the code paths used (86 MiB). The manifest
 * renderer, which does need the model serializer, is split into a chunk of its own that only
 * `crds` and `manifests` load. Output: dist/bundle/update-operator.js (+ chunks/).
 */
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(PACKAGE, 'dist', 'bundle');

rmSync(OUT, { recursive: true, force: true });
await build({
  entryPoints: [join(PACKAGE, 'dist', 'cli', 'update-operator.js')],
  outdir: OUT,
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  // CommonJS dependencies (undici, js-yaml...) call require() for Node's built-in modules
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
});
