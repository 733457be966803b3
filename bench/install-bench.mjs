#!/usr/bin/env node
/**
 * Install benchmark: a 1 GiB LZ4 (`lz4 -9`) image published in a signed TUF repository (tuf-repo
 * tools) served over loopback HTTP, written into a partition of a file-backed disk by
 *   - updog's install pipeline (HTTP -> sha256 -> LZ4 decode -> writes -> fsync),
 *   - `curl | lz4 -d | dd conv=fsync`,
 *   - a Rust peer doing what Bottlerocket's updog does (bench/rust-peer: tough + the `lz4` crate
 *     + `io::copy`), without fsync as upstream and with one; built with cargo into a cache
 *     directory outside the repository, skipped when cargo is missing or the build fails.
 * Rounds are interleaved (the order rotates every round) and each install is checked byte for
 * byte. Prints every run with its user and system time, then per contender the median and best
 * throughput (decompressed bytes per second of wall time) and the peak RSS, so noise shows.
 *
 *   node bench/install-bench.mjs [--size-mib 1024] [--rounds 7] [--no-rust]   (after `npm run build`)
 *
 * Times and peak RSS come from GNU time (`/usr/bin/time`) around each process; the pipeline's
 * are the sums over its three processes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { haveTime, median, readTimes, runMeasured, sha256OfRange, TIME, TIME_FORMAT } from './measure.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MIB = 1024 * 1024;

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const sizeMiB = arg('size-mib', 1024);
const rounds = arg('rounds', 7);
const withRust = !process.argv.includes('--no-rust');

/**
 * Deterministic image-like content: runs of incompressible bytes (binaries), zeros (free
 * space) and text, mixed so that `lz4 -9` compresses it to roughly 45%.
 */
function writeSampleImage(file, size) {
  let s = 0x12345678;
  const rnd = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  const words = Array.from({ length: 512 }, () => Array.from({ length: 2 + (rnd() % 9) }, () => String.fromCharCode(97 + (rnd() % 26))).join(''));
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(MIB);
  for (let off = 0; off < size; off += chunk.length) {
    for (let p = 0; p < chunk.length; ) {
      const kind = rnd() % 8;
      const n = Math.min(chunk.length - p, 256 + (rnd() % 8192));
      if (kind < 2) for (let i = 0; i < n; i++) chunk[p + i] = rnd() & 0xff;
      else if (kind < 4) chunk.fill(0, p, p + n);
      else for (let q = p; q < p + n; ) { const w = `${words[rnd() % 512]} `; q += chunk.write(w, q, Math.min(w.length, p + n - q), 'latin1'); }
      p += n;
    }
    fs.writeSync(fd, chunk, 0, Math.min(chunk.length, size - off));
  }
  fs.closeSync(fd);
}

/** The updog side: the same library the `update` command uses, in its own process. */
const UPDOG_DRIVER = `
import { open } from 'node:fs/promises';
import { createDispatcher } from ${JSON.stringify(path.join(repoRoot, 'updog/dist/tuf/dispatcher.js'))};
import { keepYoungGenerationSmall } from ${JSON.stringify(path.join(repoRoot, 'updog/dist/common/young-generation.js'))};
import { installImage } from ${JSON.stringify(path.join(repoRoot, 'updog/dist/install/install-image.js'))};
import { DEFAULT_DOWNLOAD_LIMITS } from ${JSON.stringify(path.join(repoRoot, 'updog/dist/net/download-limits.js'))};
keepYoungGenerationSmall(); // as the updog CLI does
const [url, name, length, sha256, disk, offset, size] = process.argv.slice(1);
const dispatcher = createDispatcher(); // the production one: what \`updog update\` loads and sets
const fh = await open(disk, 'r+');
const r = await installImage({ image: 'root', source: { url, name, length: Number(length), sha256 }, download: { dispatcher, limits: DEFAULT_DOWNLOAD_LIMITS }, disk: fh,
  partition: { offset: Number(offset), size: Number(size), label: 'bench' } });
await fh.close();
await dispatcher.close();
if (r.writtenBytes <= 0) process.exit(1);
`;

/**
 * Builds bench/rust-peer in release mode into $XDG_CACHE_HOME/updog-bench (cargo fetches its
 * crates from crates.io on the first build); returns the binary, or undefined with the reason
 * printed.
 */
function buildRustPeer() {
  if (spawnSync('sh', ['-c', 'command -v cargo'], { stdio: 'ignore' }).status !== 0) {
    console.log('rust peer: skipped (cargo not found)');
    return undefined;
  }
  const cache = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'updog-bench', 'rust-peer-target');
  console.log(`rust peer: cargo build --release (target dir ${cache}; the first build takes minutes)`);
  const r = spawnSync('cargo', ['build', '--release', '--quiet', '--manifest-path', path.join(repoRoot, 'bench/rust-peer/Cargo.toml')], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, CARGO_TARGET_DIR: cache },
  });
  if (r.status !== 0) {
    console.log(`rust peer: skipped (cargo build failed: ${r.signal ?? `exit ${r.status}`})`);
    return undefined;
  }
  return path.join(cache, 'release', 'updog-rust-peer');
}

/** A signed repository holding `image` as target `name` (targets hard-linked, not copied). */
async function publishRepository(dir, name, image) {
  const lib = await import(path.join(repoRoot, 'tuf-repo-tools/dist/index.js'));
  const signers = await lib.loadOrCreateKeyDir(path.join(dir, 'keys'));
  const editor = lib.RepositoryEditor.create(await lib.rootForSigners(signers, new Date(Date.now() + 86_400_000)));
  await editor.addTarget(name, image);
  const repo = path.join(dir, 'repo');
  await editor.publish(repo, { signers, link: true });
  return { repo, root: path.join(repo, lib.METADATA_DIR, '1.root.json'), targetPath: `${lib.TARGETS_DIR}/${lib.hashedTargetPath(name, createHash('sha256').update(fs.readFileSync(image)).digest('hex'))}` };
}

/** Serves the repository's files; 404 for what is not there (tough probes for the next root). */
function serve(dir) {
  const server = http.createServer((req, res) => {
    const file = path.join(dir, decodeURIComponent(new URL(req.url, 'http://x').pathname));
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': st.size, 'content-type': 'application/octet-stream' });
      fs.createReadStream(file, { highWaterMark: 256 * 1024 }).pipe(res);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  for (const tool of ['lz4', 'curl', 'dd']) execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  const rustPeer = withRust ? buildRustPeer() : undefined;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'updog-install-bench-'));
  const cleanup = () => fs.rmSync(work, { recursive: true, force: true });
  process.on('SIGINT', () => { cleanup(); process.exit(130); });
  try {
    const raw = path.join(work, 'root.ext4');
    const lz4 = path.join(work, 'root.ext4.lz4');
    const disk = path.join(work, 'disk.img');
    const size = sizeMiB * MIB;
    console.log(`install bench: preparing a ${sizeMiB} MiB image (lz4 -9) in ${work}`);
    writeSampleImage(raw, size);
    execFileSync('lz4', ['-q', '-9', '-f', raw, lz4]);
    const compressed = fs.statSync(lz4).size;
    const lz4Sha = createHash('sha256').update(fs.readFileSync(lz4)).digest('hex');
    const rawSha = sha256OfRange(raw, 0, size);
    fs.rmSync(raw);
    const signed = await publishRepository(work, 'root.ext4.lz4', lz4);
    // A file-backed disk: the partition starts 1 MiB in and has 64 MiB of room to spare.
    const offset = MIB;
    const partSize = size + 64 * MIB;
    fs.writeFileSync(disk, '');
    fs.truncateSync(disk, offset + partSize + MIB);
    const server = await serve(signed.repo);
    const base = `http://127.0.0.1:${server.address().port}`;
    const url = `${base}/${signed.targetPath}`;
    // both sides share the machine's cores with whatever else runs: say how busy it was
    const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
    console.log(`image ${size} bytes, compressed ${compressed} bytes (${((100 * compressed) / size).toFixed(1)}%); ${rounds} interleaved rounds`);
    console.log(`load average before: ${load()} (${os.cpus().length} cores)`);

    const pipelineFiles = [0, 1, 2].map((i) => path.join(work, `times-${i}`));
    const timed = (i, cmd) => (haveTime ? `${TIME} -f '${TIME_FORMAT}' -o ${pipelineFiles[i]} ${cmd}` : cmd);
    const pipelineScript = `set -o pipefail; ${timed(0, `curl -sS --fail ${url}`)} | ${timed(1, 'lz4 -d -c')} | ${timed(2, `dd of=${disk} bs=1M iflag=fullblock oflag=seek_bytes seek=${offset} conv=notrunc,fsync status=none`)}`;
    const rust = (sync) => [rustPeer, signed.root, `${base}/metadata/`, `${base}/targets/`, 'root.ext4.lz4', disk, String(offset), sync];
    /** name -> how to run it; each resolves with { code, user, sys, rssKiB } */
    const contenders = {
      updog: () => runMeasured([process.execPath, '--input-type=module', '-e', UPDOG_DRIVER, url, 'root.ext4.lz4', String(compressed), lz4Sha, disk, String(offset), String(partSize)], { cwd: repoRoot }),
      pipeline: async () => {
        const r = await runMeasured(['bash', '-c', pipelineScript]);
        if (!haveTime) return r;
        const parts = pipelineFiles.map(readTimes);
        const sum = (key) => parts.reduce((total, p) => total + p[key], 0);
        return { code: r.code, user: sum('user'), sys: sum('sys'), rssKiB: sum('rssKiB') };
      },
      ...(rustPeer === undefined
        ? {}
        : { 'rust+fsync': () => runMeasured(rust('fsync')), 'rust (no fsync)': () => runMeasured(rust('nofsync')) }),
    };
    const names = Object.keys(contenders);
    const results = Object.fromEntries(names.map((n) => [n, []]));
    const width = Math.max(...names.map((n) => n.length));
    for (let round = 0; round < rounds; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const which of order) {
        // same starting point for all: a fresh sparse partition
        fs.truncateSync(disk, 0);
        fs.truncateSync(disk, offset + partSize + MIB);
        const t0 = performance.now();
        const r = await contenders[which]();
        const seconds = (performance.now() - t0) / 1000;
        if (r.code !== 0) throw new Error(`${which} failed (exit ${r.code})`);
        if (sha256OfRange(disk, offset, size) !== rawSha) throw new Error(`${which}: the partition does not hold the image after the run`);
        results[which].push({ seconds, ...r });
        const cpu = r.user === undefined ? '' : `  user ${r.user.toFixed(2)} s  sys ${r.sys.toFixed(2)} s`;
        const rss = r.rssKiB === undefined ? 'n/a' : `${(r.rssKiB / 1024).toFixed(1)} MiB`;
        console.log(`  round ${round + 1} ${which.padEnd(width)} ${seconds.toFixed(2)} s  ${(size / MIB / seconds).toFixed(0).padStart(5)} MiB/s${cpu}  peak RSS ${rss}  load ${os.loadavg()[0].toFixed(2)}  (content verified)`);
      }
    }
    server.close();
    const summary = Object.fromEntries(
      names.map((n) => {
        const runs = results[n];
        const rates = runs.map((r) => size / MIB / r.seconds);
        const have = (key) => runs.every((r) => r[key] !== undefined);
        return [n, {
          median: median(rates),
          best: Math.max(...rates),
          user: have('user') ? median(runs.map((r) => r.user)) : undefined,
          sys: have('sys') ? median(runs.map((r) => r.sys)) : undefined,
          rss: have('rssKiB') ? Math.max(...runs.map((r) => r.rssKiB)) / 1024 : undefined,
        }];
      }),
    );
    const fmt = (v, digits = 0) => (v === undefined ? 'n/a' : v.toFixed(digits));
    console.log('');
    console.log(`${'contender'.padEnd(width)}  median MiB/s  best MiB/s  median user s  median sys s  peak RSS MiB`);
    for (const n of names) {
      const s = summary[n];
      console.log(`${n.padEnd(width)}  ${fmt(s.median).padStart(12)}  ${fmt(s.best).padStart(10)}  ${fmt(s.user, 2).padStart(13)}  ${fmt(s.sys, 2).padStart(12)}  ${fmt(s.rss, 1).padStart(12)}`);
    }
    const u = summary.updog;
    const ratio = (other, target) => {
      if (summary[other] === undefined) return;
      console.log(`updog/${other}: median ${(u.median / summary[other].median).toFixed(2)}, best ${(u.best / summary[other].best).toFixed(2)}  (target median >= ${target.toFixed(2)})`);
    };
    ratio('pipeline', 1.3);
    ratio('rust+fsync', 1.2);
    ratio('rust (no fsync)', 1.0);
    if (u.rss !== undefined) console.log(`updog peak RSS ${u.rss.toFixed(1)} MiB (target < 128 MiB)`);
    console.log(`load average after: ${load()}`);
  } finally {
    cleanup();
  }
}

await main();
