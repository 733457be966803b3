#!/usr/bin/env node
/** `npm run bench`: every benchmark of the project, one after another (they share 2 cores). */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const benches = ['install-bench.mjs', 'tuf-repo-bench.mjs'].filter((f) => fs.existsSync(path.join(dir, f)));
let failed = 0;
for (const bench of benches) {
  console.log(`\n=== ${bench}`);
  const r = spawnSync(process.execPath, [path.join(dir, bench), ...process.argv.slice(2)], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`${bench} failed (${r.signal ?? `exit ${r.status}`})`);
    failed += 1;
  }
}
process.exitCode = failed === 0 ? 0 : 1;
