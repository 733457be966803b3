#!/usr/bin/env node
/**
 * `npm run build:sea`: updog and signpost as single executables for hosts without Node.js
 * (Bottlerocket ships none). Each bin's compiled entry is bundled with its dependencies into one
 * CommonJS script (esbuild), the decode worker into another that the executable carries as an
 * asset; Node's single-executable support turns each script into a blob, which postject injects
 * into a copy of the running Node binary (the pinned Node 24). Output: updog/dist-sea/{updog,signpost}.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { inject } from 'postject';

const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(PACKAGE, 'dist-sea');
const WORK = join(OUT, 'work');
const BINS = ['updog', 'signpost'];
/** Must equal DECODE_WORKER_ASSET in src/install/decode-worker-source.ts. */
const WORKER_ASSET = 'decode-worker.cjs';
/** The sentinel Node looks for to know a blob was injected (Node's documented value). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const bundle = (entry, outfile) =>
  build({
    entryPoints: [join(PACKAGE, 'dist', entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    // the CommonJS bundle has no import.meta; the one use (finding decode-worker.js) is skipped in a single executable
    logOverride: { 'empty-import-meta': 'silent' },
    legalComments: 'none',
  });

rmSync(OUT, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
const worker = join(WORK, WORKER_ASSET);
await bundle('install/decode-worker.js', worker);
for (const bin of BINS) {
  const main = join(WORK, `${bin}.cjs`);
  await bundle(`cli/${bin}.js`, main);
  const blob = join(WORK, `${bin}.blob`);
  const config = join(WORK, `${bin}.sea.json`);
  writeFileSync(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets: { [WORKER_ASSET]: worker } }));
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exe = join(OUT, bin);
  copyFileSync(process.execPath, exe);
  await inject(exe, 'NODE_SEA_BLOB', await import('node:fs/promises').then((fs) => fs.readFile(blob)), { sentinelFuse: SEA_FUSE });
  console.log(`${exe}: ${(statSync(exe).size / 2 ** 20).toFixed(1)} MiB (Node ${process.version})`);
}
rmSync(WORK, { recursive: true, force: true });
