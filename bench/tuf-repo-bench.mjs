#!/usr/bin/env node
/**
 * Bench of tuf-repo on a repository with 10,000 targets (run `npm run build` first):
 *   - create the repository (library, targets hard-linked: setup),
 *   - `tuf-repo update` adding one target and replacing another (the bin, as an operator runs it),
 *   - `tuf-repo refresh` (snapshot + timestamp) and `refresh --targets`,
 *   - `tuf-repo validate`,
 *   - `updog tuf refresh` from a fresh cache, the repository served on loopback HTTP (the client
 *     side: tuf-js parses and signature-checks the same targets.json).
 * Prints one line per figure. Options: --targets N (default 10000).
 */
import { execFile, execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'tuf-repo-tools/dist');
const bin = join(dist, 'cli/tuf-repo.js');
const argIndex = process.argv.indexOf('--targets');
const count = argIndex > 0 ? Number(process.argv[argIndex + 1]) : 10_000;

const lib = await import(join(dist, 'index.js'));
const work = mkdtempSync(join(tmpdir(), 'tuf-repo-bench-'));
const ms = (start) => Number(process.hrtime.bigint() - start) / 1e6;
const report = (what, millis) => console.log(`${what.padEnd(46)} ${millis.toFixed(0).padStart(7)} ms`);

try {
  const filesDir = join(work, 'files');
  mkdirSync(filesDir);
  for (let i = 0; i < count; i++) writeFileSync(join(filesDir, `t${i}`), `target ${i}\n`);
  const keys = join(work, 'keys');
  const signers = await lib.loadOrCreateKeyDir(keys);
  const key = join(keys, 'ed25519.pem');

  let t = process.hrtime.bigint();
  const editor = lib.RepositoryEditor.create(await lib.rootForSigners(signers, new Date(Date.now() + 365 * 86_400_000)));
  for (let i = 0; i < count; i++) await editor.addTarget(`bench/target-${i}.bin`, join(filesDir, `t${i}`));
  const repo = join(work, 'repo');
  await editor.publish(repo, { signers, link: true });
  report(`create with ${count} targets (library, --link)`, ms(t));
  const targetsJson = join(repo, 'metadata', '1.targets.json');
  console.log(`targets.json size: ${(statSync(targetsJson).size / 1024 / 1024).toFixed(2)} MiB`);

  const cli = (...args) => execFileSync(process.execPath, [bin, '--log-level', 'warn', ...args], { encoding: 'utf8' });
  writeFileSync(join(work, 'new.bin'), 'new target\n');
  writeFileSync(join(work, 'replacement.bin'), 'replacement\n');
  t = process.hrtime.bigint();
  cli('update', repo, '-k', key, '--add', `bench/new.bin=${join(work, 'new.bin')}`, '--add', `bench/target-0.bin=${join(work, 'replacement.bin')}`);
  report(`tuf-repo update (+1 target, 1 replaced)`, ms(t));

  t = process.hrtime.bigint();
  cli('refresh', repo, '-k', key);
  report('tuf-repo refresh (snapshot + timestamp)', ms(t));

  t = process.hrtime.bigint();
  cli('refresh', repo, '-k', key, '--targets');
  report('tuf-repo refresh --targets', ms(t));

  t = process.hrtime.bigint();
  cli('validate', repo);
  report('tuf-repo validate', ms(t));

  const server = createServer((req, res) => {
    const file = join(repo, 'metadata', decodeURIComponent(new URL(req.url, 'http://x').pathname));
    const stream = createReadStream(file);
    stream.on('error', () => res.writeHead(404).end());
    stream.on('open', () => stream.pipe(res));
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  const metadataDir = join(work, 'updog-metadata');
  mkdirSync(metadataDir);
  const updog = (...args) =>
    new Promise((done, fail) =>
      execFile(process.execPath, [join(root, 'updog/dist/cli/updog.js'), 'tuf', '--metadata-dir', metadataDir, ...args], (err) => (err ? fail(err) : done())),
    );
  await updog('init', join(repo, 'metadata', '1.root.json'));
  t = process.hrtime.bigint();
  await updog('--metadata-url', `http://127.0.0.1:${server.address().port}/`, 'refresh');
  report('updog tuf refresh (fresh cache, loopback HTTP)', ms(t));
  server.close();

  t = process.hrtime.bigint();
  execFileSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
  report('(node start-up: tuf-repo --help)', ms(t));
} finally {
  rmSync(work, { recursive: true, force: true });
}
