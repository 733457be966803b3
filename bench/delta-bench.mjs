#!/usr/bin/env node
/**
 * Delta bench (`npm run bench:delta`): a host running release 1.0 updates to 1.1 with the real
 * CLIs, and pays for what differs. The releases are the ext4 fixtures of bench/delta-fixtures.mjs
 * (768 MiB images of Debian packages; 1.1 changes a few percent of the files).
 *
 *   1. `tuf-repo release` publishes 1.0.0 and 1.1.0 (fake boot/hash images from `tuf-repo image
 *      fake`, the real ext4 as root) into one signed repository; when `tuf-repo release` knows
 *      `--no-block-index`, a second repository without indexes is the streaming baseline.
 *   2. Each repository is served on loopback by tuf-repo's static server (the one behind
 *      `tuf-repo serve`), counting bytes sent (headers included), requests and Range requests.
 *   3. Per run, a fresh host: a GPT disk with the Bottlerocket A/B layout (set A active, holding
 *      1.0.0; set B empty), os-release, updog.toml (the cluster simulation's host files).
 *      `updog update-image --json -n` installs 1.1.0 into set B under GNU time; the bench then
 *      checks that B's root partition is byte-identical to the 1.1 ext4 image.
 * Contenders, interleaved round by round:
 *   delta    repository with indexes, set A's root holds the 1.0 ext4 image;
 *   empty    same repository, set A's root holds no release (a fake image: what a host with nothing
 *            to reuse pays for a block install);
 *   stream   repository without indexes, 1.0 on the host (only with --no-block-index).
 * Against a repository without indexes (main before block installs) every contender is a full
 * streaming install; the figures say which method updog used (`method` in its --json output).
 *
 *   npm run bench:delta -- [--rounds 3] [--keep] [--small | --large] [--block-size 64KiB]
 * --keep leaves the work directory and says where; --small uses the 96 MiB fixtures (for a test),
 * --large the same files as the default in 1.5 GiB images (what grows with the image size alone);
 * --block-size is passed to `tuf-repo release` for the indexed repository.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deltaFixtures, profileFromArgs } from './delta-fixtures.mjs';
import { median, runMeasured, sha256OfRange } from './measure.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TUF_REPO = path.join(repoRoot, 'tuf-repo-tools/dist/cli/tuf-repo.js');
const UPDOG = path.join(repoRoot, 'updog/dist/cli/updog.js');
const { serveDirectory } = await import(path.join(repoRoot, 'tuf-repo-tools/dist/index.js'));
const { createSimulatedHostFiles, DEFAULT_ARCH, DEFAULT_VARIANT } = await import(path.join(repoRoot, 'dist/test/cluster/sim-host.js'));
const { findPartitionSets, readGpt } = await import(path.join(repoRoot, 'updog/dist/disk.js'));

const MIB = 1024 * 1024;
const OLD = '1.0.0';
const NEW = '1.1.0';
/** the issue's target for a minor release: fetched bytes as a share of the full image */
const TARGET_FETCHED_PERCENT = 25;

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const rounds = option('rounds', 3);
const keep = process.argv.includes('--keep');
const blockSizeAt = process.argv.indexOf('--block-size');
/** passed on to `tuf-repo release --block-size` (its default when not given) */
const blockSize = blockSizeAt >= 0 ? process.argv[blockSizeAt + 1] : undefined;

const tufRepo = (args) => execFileSync(process.execPath, [TUF_REPO, ...args, '--log-level', 'warn'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

/** Publishes one release into repo; returns its image target names. */
function release(work, repo, version, rootImage, extra) {
  const fake = JSON.parse(tufRepo(['image', 'fake', '--variant', DEFAULT_VARIANT, '--arch', DEFAULT_ARCH, '--version', version, '--out-dir', path.join(work, 'fake', version)]));
  const out = tufRepo(['release', '--out', repo, '--keys-dir', path.join(work, 'keys'), '--variant', DEFAULT_VARIANT, '--arch', DEFAULT_ARCH, '--version', version,
    '--boot', fake.boot, '--root', rootImage, '--hash', fake.hash, ...extra]);
  return JSON.parse(out).images;
}

/** The signed targets of the repository's newest targets.json. */
function signedTargets(repo) {
  const dir = path.join(repo, 'metadata');
  const newest = fs.readdirSync(dir)
    .filter((f) => /^(\d+\.)?targets\.json$/.test(f))
    .sort((a, b) => (Number.parseInt(a, 10) || 0) - (Number.parseInt(b, 10) || 0))
    .pop();
  return JSON.parse(fs.readFileSync(path.join(dir, newest), 'utf8')).signed.targets;
}

/** Serves repo on loopback and counts what it sends. */
async function countingServer(repo) {
  const served = await serveDirectory(repo);
  const live = new Set();
  const traffic = { bytes: 0, requests: 0, ranged: 0 };
  served.server.on('request', (req) => {
    traffic.requests++;
    if (req.headers.range !== undefined) traffic.ranged++;
  });
  served.server.on('connection', (socket) => {
    live.add(socket);
    socket.on('close', () => {
      live.delete(socket);
      traffic.bytes += socket.bytesWritten;
    });
  });
  return {
    url: served.url.replace(/\/$/, ''),
    close: served.close,
    /** The traffic since the last call, once the client's connections have closed (at most 5 s). */
    async take() {
      for (let waited = 0; live.size > 0 && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      const taken = { ...traffic, bytes: traffic.bytes + [...live].reduce((n, s) => n + s.bytesWritten, 0) };
      Object.assign(traffic, { bytes: 0, requests: 0, ranged: 0 });
      return taken;
    },
  };
}

/** Copies file into the disk at offset (4 MiB at a time). */
function writeInto(disk, offset, file) {
  const src = fs.openSync(file, 'r');
  const dst = fs.openSync(disk, 'r+');
  const buf = Buffer.alloc(4 * MIB);
  try {
    for (let at = 0; ; ) {
      const n = fs.readSync(src, buf, 0, buf.length, at);
      if (n === 0) break;
      fs.writeSync(dst, buf, 0, n, offset + at);
      at += n;
    }
  } finally {
    fs.closeSync(src);
    fs.closeSync(dst);
  }
}

/** A fresh host running 1.0.0 (set A) that fetches from url; `withOldRoot` puts the 1.0 ext4 in A's root. */
async function makeHost(dir, url, fixtures, withOldRoot) {
  fs.rmSync(dir, { recursive: true, force: true });
  const host = await createSimulatedHostFiles(dir, { version: OLD, rootSize: fixtures.imageSize, metadataBaseUrl: `${url}/metadata`, targetsBaseUrl: `${url}/targets` });
  const sets = findPartitionSets(readGpt(host.diskImage).gpt);
  if (withOldRoot) writeInto(host.diskImage, sets.A.root.offset, fixtures.images['1.0']);
  return { host, sets };
}

async function main() {
  const fixtures = await deltaFixtures({ profile: profileFromArgs(process.argv) });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'updog-delta-bench-'));
  const cleanup = () => (keep ? console.log(`kept ${work}`) : fs.rmSync(work, { recursive: true, force: true }));
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  const servers = [];
  try {
    console.log(`delta bench: fixtures ${fixtures.version} (${fixtures.source}), ext4 images of ${fixtures.imageSize / MIB} MiB; work in ${work}`);
    const canSkipIndex = tufRepo(['release', '--help']).includes('--no-block-index');
    const repos = { indexed: path.join(work, 'repo') };
    if (canSkipIndex) repos.plain = path.join(work, 'repo-no-index');
    const names = {};
    for (const [kind, repo] of Object.entries(repos)) {
      const extra = kind === 'plain' ? ['--no-block-index'] : blockSize === undefined ? [] : ['--block-size', blockSize];
      console.log(`tuf-repo release ${OLD} and ${NEW} into ${repo}${extra.length > 0 ? ` (${extra.join(' ')})` : ''}`);
      release(work, repo, OLD, fixtures.images['1.0'], extra);
      names[kind] = release(work, repo, NEW, fixtures.images['1.1'], extra);
    }
    const targets = signedTargets(repos.indexed);
    const rootTarget = names.indexed.root;
    const fullRoot = targets[rootTarget].length;
    const indexTarget = Object.keys(targets).find((t) => t === `${rootTarget}.blockindex`);
    console.log(`1.1 root target ${rootTarget}: ${fullRoot} bytes (${((100 * fullRoot) / fixtures.imageSize).toFixed(1)} % of the image); ` +
      (indexTarget ? `block index ${targets[indexTarget].length} bytes` : 'no block index published (streaming installs only)'));

    const served = {};
    for (const [kind, repo] of Object.entries(repos)) {
      served[kind] = await countingServer(repo);
      servers.push(served[kind]);
    }
    const contenders = {
      delta: { repo: 'indexed', withOldRoot: true },
      empty: { repo: 'indexed', withOldRoot: false },
      ...(canSkipIndex ? { stream: { repo: 'plain', withOldRoot: true } } : {}),
    };
    const results = Object.fromEntries(Object.keys(contenders).map((n) => [n, []]));
    const order = Object.keys(contenders);
    for (let round = 0; round < rounds; round++) {
      for (const which of order.map((_, i) => order[(i + round) % order.length])) {
        const c = contenders[which];
        const server = served[c.repo];
        const dir = path.join(work, 'host');
        const { host, sets } = await makeHost(dir, server.url, fixtures, c.withOldRoot);
        fs.copyFileSync(path.join(repos[c.repo], 'metadata', '1.root.json'), path.join(dir, 'root.json'));
        const env = {
          ...process.env,
          UPDOG_LOG_LEVEL: process.env.BENCH_UPDOG_LOG_LEVEL ?? 'warn',
          UPDOG_CONFIG: host.updogConfig,
          UPDOG_OS_RELEASE: host.osRelease,
          UPDOG_ROOT_JSON: path.join(dir, 'root.json'),
          UPDOG_METADATA_CACHE: path.join(dir, 'metadata-cache'),
          UPDOG_MIGRATIONS_DIR: path.join(dir, 'migrations'),
          UPDOG_MIGRATOR_METADATA_DIR: path.join(dir, 'migrator-metadata'),
          UPDOG_DISK: host.diskImage,
          UPDOG_ACTIVE_SET_FILE: host.activeSetFile,
          UPDOG_LOCK_FILE: path.join(dir, 'updog.lock'),
        };
        await server.take();
        const t0 = performance.now();
        const r = await runMeasured([process.execPath, UPDOG, 'update-image', '--json', '--ignore-waves'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
        const seconds = (performance.now() - t0) / 1000;
        const traffic = await server.take();
        if (r.code !== 0) throw new Error(`${which}: updog update-image exited ${r.code}`);
        const prepared = JSON.parse(r.stdout);
        if (prepared.version !== NEW || prepared.set !== 'B') throw new Error(`${which}: installed ${prepared.version} into set ${prepared.set}, expected ${NEW} into B`);
        if (sha256OfRange(host.diskImage, sets.B.root.offset, fixtures.imageSize) !== fixtures.sha256['1.1']) {
          throw new Error(`${which}: set B's root partition is not the 1.1 image after the run`);
        }
        const root = prepared.images.root;
        const run = { seconds, ...r, traffic, root, downloaded: Object.values(prepared.images).reduce((n, i) => n + i.downloadedBytes, 0) };
        results[which].push(run);
        console.log(`  round ${round + 1} ${which.padEnd(6)} ${seconds.toFixed(2).padStart(6)} s  user ${r.user?.toFixed(2) ?? 'n/a'} s  sys ${r.sys?.toFixed(2) ?? 'n/a'} s  ` +
          `peak RSS ${r.rssKiB === undefined ? 'n/a' : `${(r.rssKiB / 1024).toFixed(1)} MiB`}  root: ${root.method}, fetched ${root.downloadedBytes} (${((100 * root.downloadedBytes) / fullRoot).toFixed(1)} %), ` +
          `reused ${root.reusedBytes ?? 0}; server sent ${traffic.bytes} bytes in ${traffic.requests} requests (${traffic.ranged} ranged)  (B verified)`);
      }
    }
    console.log('');
    console.log('contender  method  median wall s  median user s  peak RSS MiB  root fetched (% of full)  root reused MiB  server MiB (median)  requests');
    const summary = {};
    for (const [name, runs] of Object.entries(results)) {
      const s = {
        method: runs[0].root.method,
        wall: median(runs.map((r) => r.seconds)),
        user: runs.every((r) => r.user !== undefined) ? median(runs.map((r) => r.user)) : undefined,
        rss: runs.every((r) => r.rssKiB !== undefined) ? Math.max(...runs.map((r) => r.rssKiB)) / 1024 : undefined,
        fetched: median(runs.map((r) => r.root.downloadedBytes)),
        reused: median(runs.map((r) => r.root.reusedBytes ?? 0)),
        served: median(runs.map((r) => r.traffic.bytes)),
        requests: median(runs.map((r) => r.traffic.requests)),
      };
      summary[name] = s;
      console.log(`${name.padEnd(9)}  ${s.method.padEnd(6)}  ${s.wall.toFixed(2).padStart(13)}  ${s.user?.toFixed(2).padStart(13) ?? '          n/a'}  ${s.rss?.toFixed(1).padStart(12) ?? '         n/a'}  ` +
        `${`${(s.fetched / MIB).toFixed(1)} MiB (${((100 * s.fetched) / fullRoot).toFixed(1)} %)`.padStart(24)}  ${(s.reused / MIB).toFixed(1).padStart(15)}  ${(s.served / MIB).toFixed(1).padStart(19)}  ${String(s.requests).padStart(8)}`);
    }
    const d = summary.delta;
    const full = summary.stream ?? summary.empty;
    const fullName = summary.stream ? 'stream' : 'empty';
    console.log('');
    console.log(`delta fetched ${((100 * d.fetched) / fullRoot).toFixed(1)} % of the full root image (target <= ${TARGET_FETCHED_PERCENT} %); server sent ${((100 * d.served) / full.served).toFixed(1)} % of what ${fullName} needed`);
    console.log(`delta wall time / ${fullName}: ${(d.wall / full.wall).toFixed(2)} (target <= 1.00)${d.rss === undefined ? '' : `; delta peak RSS ${d.rss.toFixed(1)} MiB for a ${fixtures.imageSize / MIB} MiB image`}`);
    if (d.method !== 'blocks') console.log(`note: updog installed with method "${d.method}": no block install happened, so these are full-install figures`);
  } finally {
    for (const s of servers) await s.close();
    cleanup();
  }
}

await main();
