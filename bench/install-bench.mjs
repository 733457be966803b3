#!/usr/bin/env node
/**
 * Install benchmark: a 1 GiB LZ4 (`lz4 -9`) image served over loopback HTTP, written into a
 * partition of a file-backed disk, by updog's install pipeline (HTTP -> sha256 -> LZ4 decode ->
 * positioned writes -> fsync) and by `curl | lz4 -d | dd conv=fsync`, in the same run on the same
 * server. Prints throughput (decompressed bytes per second of wall time), peak RSS and ratios.
 *
 *   node bench/install-bench.mjs [--size-mib 1024] [--rounds 5]      (after `npm run build`)
 *
 * Peak RSS comes from GNU time (`/usr/bin/time -f %M`) around each process; the pipeline's is
 * the sum of its three processes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MIB = 1024 * 1024;

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const sizeMiB = arg('size-mib', 1024);
const rounds = arg('rounds', 5);
const TIME = '/usr/bin/time';
const haveTime = fs.existsSync(TIME);

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

function sha256OfRange(file, offset, length) {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(4 * MIB);
  for (let done = 0; done < length; ) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, length - done), offset + done);
    hash.update(buf.subarray(0, n));
    done += n;
  }
  fs.closeSync(fd);
  return hash.digest('hex');
}

function serve(file) {
  const size = fs.statSync(file).size;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
    fs.createReadStream(file, { highWaterMark: 256 * 1024 }).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Runs argv (under GNU time when present); resolves with exit code and peak RSS in KiB. */
function runMeasured(argv, opts = {}) {
  const rssFile = path.join(os.tmpdir(), `bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const full = haveTime ? [TIME, '-f', '%M', '-o', rssFile, ...argv] : argv;
  return new Promise((resolve, reject) => {
    const child = spawn(full[0], full.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
    child.on('error', reject);
    child.on('close', (code) => {
      let rssKiB;
      if (haveTime && fs.existsSync(rssFile)) {
        rssKiB = Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop());
        fs.rmSync(rssFile);
      }
      resolve({ code, rssKiB });
    });
  });
}

/** The updog side: the same library the `update` command uses, in its own process. */
const UPDOG_DRIVER = `
import { open } from 'node:fs/promises';
import { Agent } from 'undici';
import { installImage } from ${JSON.stringify(path.join(repoRoot, 'updog/dist/install/install-image.js'))};
const [url, name, length, sha256, disk, offset, size] = process.argv.slice(1);
const dispatcher = new Agent({ bodyTimeout: 30000, headersTimeout: 30000 });
const fh = await open(disk, 'r+');
const r = await installImage({ image: 'root', source: { url, name, length: Number(length), sha256 }, dispatcher, disk: fh,
  partition: { offset: Number(offset), size: Number(size), label: 'bench' } });
await fh.close();
await dispatcher.close();
if (r.writtenBytes <= 0) process.exit(1);
`;

async function main() {
  for (const tool of ['lz4', 'curl', 'dd']) execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
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
    // A file-backed disk: the partition starts 1 MiB in and has 64 MiB of room to spare.
    const offset = MIB;
    const partSize = size + 64 * MIB;
    fs.writeFileSync(disk, '');
    fs.truncateSync(disk, offset + partSize + MIB);
    const server = await serve(lz4);
    const url = `http://127.0.0.1:${server.address().port}/root.ext4.lz4`;
    console.log(`image ${size} bytes, compressed ${compressed} bytes (${((100 * compressed) / size).toFixed(1)}%); ${rounds} rounds each, best wall time kept`);
    // both sides share the machine's cores with whatever else runs: say how busy it was
    const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
    console.log(`load average before: ${load()} (${os.cpus().length} cores)`);

    const results = { updog: [], pipeline: [] };
    for (let round = 0; round < rounds; round++) {
      for (const which of ['pipeline', 'updog']) {
        // same starting point for both: a fresh sparse partition
        fs.truncateSync(disk, 0);
        fs.truncateSync(disk, offset + partSize + MIB);
        const t0 = performance.now();
        let rssKiB;
        if (which === 'updog') {
          const r = await runMeasured([process.execPath, '--input-type=module', '-e', UPDOG_DRIVER, url, 'root.ext4.lz4', String(compressed), lz4Sha, disk, String(offset), String(partSize)], { cwd: repoRoot });
          if (r.code !== 0) throw new Error(`updog install failed (exit ${r.code})`);
          rssKiB = r.rssKiB;
        } else {
          const rssFiles = [0, 1, 2].map((i) => path.join(work, `rss-${i}`));
          const timed = (i, cmd) => (haveTime ? `${TIME} -f %M -o ${rssFiles[i]} ${cmd}` : cmd);
          const script = `set -o pipefail; ${timed(0, `curl -sS --fail ${url}`)} | ${timed(1, 'lz4 -d -c')} | ${timed(2, `dd of=${disk} bs=1M iflag=fullblock oflag=seek_bytes seek=${offset} conv=notrunc,fsync status=none`)}`;
          const r = await runMeasured(['bash', '-c', script]);
          if (r.code !== 0) throw new Error(`pipeline failed (exit ${r.code})`);
          rssKiB = haveTime ? rssFiles.reduce((sum, f) => sum + Number(fs.readFileSync(f, 'utf8').trim().split('\n').pop()), 0) : undefined;
        }
        const seconds = (performance.now() - t0) / 1000;
        const ok = sha256OfRange(disk, offset, size) === rawSha;
        if (!ok) throw new Error(`${which}: the partition does not hold the image after the run`);
        results[which].push({ seconds, rssKiB });
        console.log(`  round ${round + 1} ${which.padEnd(8)} ${seconds.toFixed(2)} s  ${(size / MIB / seconds).toFixed(0)} MiB/s  peak RSS ${rssKiB === undefined ? 'n/a' : `${(rssKiB / 1024).toFixed(1)} MiB`}  (content verified)`);
      }
    }
    server.close();
    const best = (list) => list.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    const peak = (list) => (list.every((r) => r.rssKiB !== undefined) ? Math.max(...list.map((r) => r.rssKiB)) / 1024 : undefined);
    const u = best(results.updog);
    const p = best(results.pipeline);
    const uRate = size / MIB / u.seconds;
    const pRate = size / MIB / p.seconds;
    const uRss = peak(results.updog);
    const pRss = peak(results.pipeline);
    console.log('');
    console.log(`updog install:                 ${uRate.toFixed(0)} MiB/s, peak RSS ${uRss?.toFixed(1) ?? 'n/a'} MiB`);
    console.log(`curl | lz4 -d | dd conv=fsync: ${pRate.toFixed(0)} MiB/s, peak RSS ${pRss?.toFixed(1) ?? 'n/a'} MiB (sum of the 3 processes)`);
    console.log(`throughput ratio updog/pipeline: ${(uRate / pRate).toFixed(2)}  (target >= 1.00)`);
    if (uRss !== undefined) console.log(`updog peak RSS ${uRss.toFixed(1)} MiB (target < 128 MiB)`);
    console.log(`load average after: ${load()}`);
  } finally {
    cleanup();
  }
}

await main();
