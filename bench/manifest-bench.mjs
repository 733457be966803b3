#!/usr/bin/env node
/**
 * Manifest parse bench (run `npm run build` first): a manifest.json with 50,000 updates (6 waves
 * each), published as a signed target of a TUF repository built with tuf-repo-tools, then read
 * back from the repository and parsed, each parse in its own process:
 *   - updog's parseManifest (strict JSON scanner + JSON.parse + manifest checks),
 *   - the strict JSON parser alone,
 *   - JSON.parse alone (the floor),
 *   - reading the file only (what every process pays before parsing).
 * Prints wall time and peak RSS (GNU time `%M`) of each, and the ratios to JSON.parse.
 * Options: --updates N (default 50000).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argIndex = process.argv.indexOf('--updates');
const count = argIndex > 0 ? Number(process.argv[argIndex + 1]) : 50_000;
const TIME = '/usr/bin/time';

const { serializeManifest } = await import(path.join(root, 'updog/dist/manifest/manifest.js'));
const lib = await import(path.join(root, 'tuf-repo-tools/dist/index.js'));

/** What each measured process runs on the manifest file (argv[1]). */
const PARSERS = {
  'read only': `fs.readFileSync(file, 'utf8').length`,
  'JSON.parse': `JSON.parse(fs.readFileSync(file, 'utf8')).updates.length`,
  'strict JSON parser': `(await import(${JSON.stringify(path.join(root, 'updog/dist/manifest/strict-json.js'))})).parseJsonRejectingDuplicates(fs.readFileSync(file, 'utf8')).updates.length`,
  'updog parseManifest': `(await import(${JSON.stringify(path.join(root, 'updog/dist/manifest/manifest.js'))})).parseManifest(fs.readFileSync(file, 'utf8')).updates.length`,
  // the updog CLI keeps V8's young generation small (common/young-generation.ts)
  'parseManifest, as in updog': `((await import(${JSON.stringify(path.join(root, 'updog/dist/common/young-generation.js'))})).keepYoungGenerationSmall(), (await import(${JSON.stringify(path.join(root, 'updog/dist/manifest/manifest.js'))})).parseManifest(fs.readFileSync(file, 'utf8')).updates.length)`,
};

function measure(expression, file) {
  const script = `import fs from 'node:fs'; const file = process.argv[1]; const t = performance.now(); const r = ${expression}; process.stdout.write(JSON.stringify({ r, ms: performance.now() - t }));`;
  const rssFile = path.join(os.tmpdir(), `manifest-bench-rss-${process.pid}`);
  const haveTime = fs.existsSync(TIME);
  const argv = [process.execPath, '--input-type=module', '-e', script, file];
  const run = haveTime ? spawnSync(TIME, ['-f', '%M', '-o', rssFile, ...argv], { encoding: 'utf8' }) : spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`parse failed (exit ${run.status}): ${run.stderr}`);
  const rssKiB = haveTime ? Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop()) : undefined;
  if (haveTime) fs.rmSync(rssFile);
  return { ...JSON.parse(run.stdout), rssKiB };
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'manifest-bench-'));
try {
  const day = 86_400_000;
  const updates = Array.from({ length: count }, (_, i) => ({
    variant: `aws-k8s-1.${20 + (i % 12)}`,
    arch: i % 2 ? 'aarch64' : 'x86_64',
    version: `1.${Math.floor(i / 1000)}.${i % 1000}`,
    maxVersion: '9.9.9',
    waves: [0, 256, 512, 1024, 1536, 2048].map((seed, w) => ({ seed, startsAt: new Date(Date.UTC(2024, 0, 1) + (i + w) * day) })),
    images: { boot: `boot-${i}.lz4`, root: `root-${i}.lz4`, hash: `hash-${i}.lz4` },
  }));
  const manifest = path.join(work, 'manifest.json');
  fs.writeFileSync(manifest, serializeManifest({ updates, migrations: [{ from: '1.0.0', to: '1.0.1', targets: ['migrate_v1.0.1_a.lz4'] }] }));

  // Sign it: the bench parses the target as a repository serves it.
  const signers = await lib.loadOrCreateKeyDir(path.join(work, 'keys'));
  const editor = lib.RepositoryEditor.create(await lib.rootForSigners(signers, new Date(Date.now() + 365 * day)));
  const target = await editor.addTarget('manifest.json', manifest);
  const repo = path.join(work, 'repo');
  await editor.publish(repo, { signers, link: true });
  const sha256 = target.hashes.sha256;
  const published = path.join(repo, lib.TARGETS_DIR, lib.hashedTargetPath('manifest.json', sha256));
  const bytes = fs.readFileSync(published);
  if (createHash('sha256').update(bytes).digest('hex') !== sha256) throw new Error('published manifest does not match its signed hash');
  console.log(`manifest: ${count} updates, ${(bytes.length / 1024 / 1024).toFixed(1)} MiB, signed target ${path.basename(published)}`);

  const results = {};
  for (const [name, expression] of Object.entries(PARSERS)) {
    const r = measure(expression, published);
    results[name] = r;
    const rss = r.rssKiB === undefined ? 'n/a' : `${(r.rssKiB / 1024).toFixed(1)} MiB`;
    console.log(`${name.padEnd(22)} ${r.ms.toFixed(0).padStart(6)} ms  peak RSS ${rss}`);
  }
  const ratio = (a, b) => (results[a].rssKiB / results[b].rssKiB).toFixed(2);
  if (results['JSON.parse'].rssKiB !== undefined) {
    console.log(`peak RSS ratio strict/JSON.parse: ${ratio('strict JSON parser', 'JSON.parse')}, parseManifest/JSON.parse: ${ratio('updog parseManifest', 'JSON.parse')}, as in updog: ${ratio('parseManifest, as in updog', 'JSON.parse')} (target <= 3.00)`);
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
