#!/usr/bin/env node
/**
 * Release fixtures for the delta bench: two ext4 images, 1.0 and 1.1, built with `mkfs.ext4 -d`
 * from trees of real files that differ the way a minor OS release does.
 *
 * Tree 1.0: the files of ~150 Debian bookworm packages of a container host's base system
 * (`apt-get download` into a cache, `dpkg-deb -x` each; ~500 MiB). When apt-get download fails
 * (no package source), files of /usr/lib/x86_64-linux-gnu, /usr/bin, /usr/sbin, /usr/share/perl,
 * /usr/lib/python3.11 and /usr/share/zoneinfo are copied instead, picked by a seeded hash of their
 * paths up to 480 MiB, and the fixtures are labelled "usr" (they depend on what the machine has).
 * Tree 1.1: tree 1.0 with, chosen per file by a seeded hash of its path (so the same files on any
 * machine holding the same packages):
 *   - ~1.5 % of the regular files rewritten entirely (every byte mapped through a seeded byte
 *     permutation, which keeps the file's compressibility, and its length changed by up to ±1 %),
 *   - ~1.5 % patched (1-4 places of 4-64 bytes overwritten, or one insertion of 1-64 bytes that
 *     shifts the rest of the file),
 *   - ~1 % removed,
 *   - as many real files added as 1 % of the files, from packages not in 1.0.
 * Images: both 768 MiB (96 MiB with --small, from 10 packages), same filesystem UUID and directory hash seed, owner root, no discard,
 * built under faketime (when installed) at each release's own date, directory times set to that
 * date, access times to the modification times, and every inode's change time set to that date
 * afterwards with debugfs (mkfs copies it from the tree, where extraction left "now"): a rebuild
 * from the same packages on the same machine is byte-identical. (mkfs.ext4 -d adds a directory's
 * entries in the order readdir returns them, which depends on the host file system, so another
 * machine may place files differently.) What differs between 1.0 and 1.1 beyond the files: every inode's ctime (the build date, as a real release
 * build), free counts, bitmaps, directory blocks, and the placement of every file allocated after
 * a changed one (mkfs allocates in directory order, so sizes that change shift what follows).
 *
 * Cached under $XDG_CACHE_HOME/updog-bench/delta/<version>/ (~/.cache when unset) with the
 * .deb files under .../delta/debs/; the version string names the recipe (package lists, seed,
 * rates, image size), so a changed recipe builds anew.
 *
 *   node bench/delta-fixtures.mjs [--rebuild] [--small | --large]   prints the images and what changed
 * or imported: `await deltaFixtures({ profile: 'full' | 'small' | 'large' })` → { dir, images: {'1.0','1.1'}, imageSize, sha256, changes, ... }
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MIB = 1024 * 1024;
/** A container host's base system; all in bookworm main. */
const BASE_PACKAGES = `libc6 libc-bin coreutils util-linux bash dash grep sed gawk findutils diffutils tar gzip bzip2
xz-utils zstd lz4 libzstd1 liblz4-1 liblzma5 zlib1g libssl3 openssl ca-certificates libcurl4 curl wget libgnutls30
libnettle8 libhogweed6 libgmp10 libp11-kit0 libtasn1-6 libidn2-0 libunistring2 libpsl5 libssh2-1 libnghttp2-14
librtmp1 libkrb5-3 libk5crypto3 libgssapi-krb5-2 libkrb5support0 libkeyutils1 libcom-err2 libsystemd0 systemd
systemd-sysv libudev1 udev libkmod2 kmod libcap2 libcap2-bin libseccomp2 libapparmor1 libselinux1 libpcre2-8-0
libmount1 libblkid1 libuuid1 libsmartcols1 libfdisk1 e2fsprogs libext2fs2 libss2 dosfstools xfsprogs iproute2
iptables libnftnl11 libmnl0 nftables libnftables1 libxtables12 libip4tc2 libip6tc2 ethtool conntrack iputils-ping
kexec-tools procps libproc2-0 psmisc lsof strace libdw1 libelf1 libbpf1 openssh-client openssh-server
openssh-sftp-server libwrap0 sudo login passwd libpam0g libpam-modules libpam-modules-bin libpam-runtime libaudit1
libaudit-common libcap-ng0 libacl1 libattr1 libcrypt1 libsemanage2 libsepol2 libbz2-1.0 libffi8 libexpat1 libxml2
libyaml-0-2 libjson-c5 libsqlite3-0 libdb5.3 libgdbm6 libreadline8 libncursesw6 libtinfo6 ncurses-base less
vim-tiny nano jq libjq1 libonig5 chrony tzdata lvm2 libdevmapper1.02.1 dmsetup cryptsetup-bin libcryptsetup12
libargon2-1 libjson-glib-1.0-0 libglib2.0-0 dbus libdbus-1-3 containerd runc python3.11-minimal
libpython3.11-minimal libpython3.11-stdlib perl-base perl-modules-5.36 libperl5.36 git git-man libllvm15`
  .split(/\s+/)
  .filter(Boolean);
/** Where 1.1's added files come from: packages a minor release might start shipping. */
const ADDED_PACKAGES = ['tcpdump', 'libpcap0.8', 'socat', 'rsync', 'libpopt0', 'htop', 'libnl-3-200', 'libnl-genl-3-200', 'ipset', 'libipset13', 'iperf3', 'libiperf0', 'bpftool', 'netcat-openbsd', 'libbsd0', 'libmd0'];
/** Used when apt-get download cannot run: real files, a fixed subset of /usr in path order. */
const USR_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/bin', '/usr/sbin', '/usr/share/perl', '/usr/lib/python3.11', '/usr/share/zoneinfo'];

/**
 * full: what the benches measure. small: the same recipe on 10 packages and a 96 MiB image, so a
 * test can run the benches end to end in seconds. large: full's files in a 1.5 GiB image, to see
 * what grows with the image size alone.
 */
const PROFILES = {
  full: { base: BASE_PACKAGES, added: ADDED_PACKAGES, imageSize: 768 * MIB, usrBytes: 480 * MIB },
  large: { base: BASE_PACKAGES, added: ADDED_PACKAGES, imageSize: 1536 * MIB, usrBytes: 480 * MIB },
  small: {
    base: ['libc6', 'coreutils', 'bash', 'grep', 'sed', 'tar', 'gzip', 'util-linux', 'findutils', 'diffutils'],
    added: ['socat', 'rsync', 'libpopt0'],
    imageSize: 96 * MIB,
    usrBytes: 48 * MIB,
  },
};

const RECIPE = {
  seed: 'updog-delta-1',
  rates: { removed: 0.01, rewritten: 0.015, patched: 0.015, added: 0.01 },
  uuid: '5f1c2a1e-7d3b-4c2a-9e0f-2b6d1a4c8e01',
  hashSeed: '9a3e6c1d-2f4b-4e8a-b1c7-d05e3f9a2b64',
  /** each release's build date (ctime of its inodes, mtime of the files it changed or added) */
  dates: { '1.0': '2026-01-06 12:00:00', '1.1': '2026-02-03 12:00:00' },
};
const FIXTURE_FORMAT = 2;

/** The profile `--small` or `--large` asks for; full otherwise. */
export function profileFromArgs(argv) {
  return argv.includes('--small') ? 'small' : argv.includes('--large') ? 'large' : 'full';
}

export function cacheRoot() {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'updog-bench', 'delta');
}

/** The recipe's version string: a changed list, size, seed or rate builds new fixtures. */
export function fixtureVersion(profile = 'full') {
  return `v${FIXTURE_FORMAT}-${profile}-${createHash('sha256').update(JSON.stringify({ ...RECIPE, ...PROFILES[profile] })).digest('hex').slice(0, 12)}`;
}

/** A deterministic byte stream for `key` (sha256 in counter mode). */
function seededBytes(key) {
  let counter = 0;
  let block = Buffer.alloc(0);
  let at = 0;
  const next = () => {
    if (at === block.length) {
      block = createHash('sha256').update(`${RECIPE.seed}:${key}:${counter++}`).digest();
      at = 0;
    }
    return block[at++];
  };
  return {
    byte: next,
    /** uniform integer in [0, n) for n ≤ 2^32 */
    int: (n) => ((next() * 2 ** 24 + next() * 2 ** 16 + next() * 2 ** 8 + next()) % n),
    /** uniform in [0, 1) */
    unit: () => (next() * 2 ** 24 + next() * 2 ** 16 + next() * 2 ** 8 + next()) / 2 ** 32,
  };
}

/** Regular files under dir, relative, in byte order of their paths. */
function listFiles(dir) {
  const out = [];
  const walk = (rel) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile()) out.push(child);
    }
  };
  walk('');
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * MIB, ...opts });

/** Downloads the packages into debsDir (kept across versions); returns the .deb paths, or undefined when apt-get cannot. */
function downloadDebs(debsDir, packages, log) {
  fs.mkdirSync(debsDir, { recursive: true });
  const have = new Set(fs.readdirSync(debsDir).filter((f) => f.endsWith('.deb')).map((f) => f.split('_')[0]));
  const missing = packages.filter((p) => !have.has(p));
  if (missing.length > 0) {
    log(`apt-get download ${missing.length} packages into ${debsDir}`);
    const r = spawnSync('apt-get', ['download', '-q', ...missing], { cwd: debsDir, encoding: 'utf8' });
    if (r.status !== 0) {
      log(`apt-get download failed (${r.error?.message ?? (r.stderr.trim().split('\n').pop() || `exit ${r.status}`)})`);
      return undefined;
    }
  }
  const byName = new Map(fs.readdirSync(debsDir).filter((f) => f.endsWith('.deb')).map((f) => [f.split('_')[0], f]));
  return packages.map((p) => path.join(debsDir, byName.get(p)));
}

function extractDebs(debs, into) {
  fs.mkdirSync(into, { recursive: true });
  for (const deb of debs) run('dpkg-deb', ['-x', deb, into]);
}

/**
 * The /usr fallback: USR_DIRS' files in the order of a seeded hash of their paths (a mix of
 * binaries, libraries, scripts and data, not one directory's first files); the first `limit`
 * bytes make tree 1.0, the next files (a twentieth as many) the pool of added ones.
 */
function copyUsr(base, pool, limit) {
  const files = USR_DIRS.filter((d) => fs.existsSync(d))
    .flatMap((dir) => listFiles(dir).map((rel) => path.join(dir, rel)))
    .map((file) => ({ file, key: seededBytes(`usr:${file}`).unit() }))
    .sort((a, b) => a.key - b.key);
  let total = 0;
  let taken = 0;
  let pooled = 0;
  for (const { file } of files) {
    const into = total < limit ? base : pool;
    if (into === pool && pooled++ > taken / 20) break;
    const dst = path.join(into, file.slice(1));
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.copyFileSync(file, dst);
    if (into === base) {
      total += fs.statSync(file).size;
      taken++;
    }
  }
}

/** Every byte through a seeded permutation (compressibility kept, no 4 KiB piece left equal), length changed by up to ±1 %. */
function rewrite(bytes, rng) {
  const perm = Uint8Array.from({ length: 256 }, (_, i) => i);
  for (let i = 255; i > 0; i--) {
    const j = rng.int(i + 1);
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const mapped = Buffer.from(bytes.map((b) => perm[b]));
  const delta = Math.round(bytes.length * 0.02 * (rng.unit() - 0.5));
  return delta >= 0 ? Buffer.concat([mapped, mapped.subarray(0, delta)]) : mapped.subarray(0, mapped.length + delta);
}

/** 1-4 small overwrites in place, or (3 in 10) one insertion that shifts the rest of the file. */
function patch(bytes, rng) {
  const out = Buffer.from(bytes);
  if (rng.unit() < 0.3) {
    const at = rng.int(bytes.length + 1);
    const inserted = Buffer.from(Array.from({ length: 1 + rng.int(64) }, () => rng.byte()));
    return Buffer.concat([out.subarray(0, at), inserted, out.subarray(at)]);
  }
  for (let k = 1 + rng.int(4); k > 0; k--) {
    const at = rng.int(bytes.length);
    const n = Math.min(bytes.length - at, 4 + rng.int(61));
    for (let i = 0; i < n; i++) out[at + i] = rng.byte();
  }
  return out;
}

/** What happens to a file of 1.0 in 1.1, decided by a seeded hash of its path. */
function fate(rel) {
  const u = seededBytes(`fate:${rel}`).unit();
  const { removed, rewritten, patched } = RECIPE.rates;
  if (u < removed) return 'removed';
  if (u < removed + rewritten) return 'rewritten';
  if (u < removed + rewritten + patched) return 'patched';
  return 'kept';
}

/** Writes a new file in place of rel (a new inode: hard links to the old one keep 1.0's bytes). */
function replaceFile(tree, rel, bytes, mtime) {
  const file = path.join(tree, rel);
  const mode = fs.statSync(file).mode;
  fs.rmSync(file);
  fs.writeFileSync(file, bytes, { mode });
  fs.chmodSync(file, mode & 0o7777);
  fs.utimesSync(file, mtime, mtime);
}

/** Applies the release's changes to tree (a copy of 1.0); returns the counts. */
function makeRelease(tree, pool, mtime) {
  const files = listFiles(tree);
  const stats = { files: files.length, removed: 0, rewritten: 0, patched: 0, added: 0, changedBytes: 0, addedBytes: 0 };
  for (const rel of files) {
    const what = fate(rel);
    if (what === 'kept') continue;
    const file = path.join(tree, rel);
    if (what === 'removed') {
      fs.rmSync(file);
      stats.removed++;
      continue;
    }
    const bytes = fs.readFileSync(file);
    if (bytes.length === 0) continue;
    const rng = seededBytes(`${what}:${rel}`);
    const changed = what === 'rewritten' ? rewrite(bytes, rng) : patch(bytes, rng);
    replaceFile(tree, rel, changed, mtime);
    stats[what]++;
    stats.changedBytes += changed.length;
  }
  const wanted = Math.round(files.length * RECIPE.rates.added);
  const candidates = listFiles(pool)
    .filter((rel) => !fs.existsSync(path.join(tree, rel)))
    .map((rel) => ({ rel, key: seededBytes(`added:${rel}`).unit() }))
    .sort((a, b) => a.key - b.key)
    .slice(0, wanted);
  for (const { rel } of candidates) {
    const dst = path.join(tree, rel);
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.copyFileSync(path.join(pool, rel), dst);
    fs.chmodSync(dst, fs.statSync(path.join(pool, rel)).mode & 0o7777);
    fs.utimesSync(dst, mtime, mtime);
    stats.added++;
    stats.addedBytes += fs.statSync(dst).size;
  }
  return stats;
}

function treeBytes(tree) {
  return listFiles(tree).reduce((sum, rel) => sum + fs.statSync(path.join(tree, rel)).size, 0);
}

/**
 * Pins the times mkfs copies into inodes that extraction and reading leave at "now": every
 * directory's atime and mtime become the release date (extraction order changes them), every
 * file's and link's atime its mtime (reads move it).
 */
function pinTimes(tree, date) {
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else {
        const { mtime } = fs.lstatSync(p);
        fs.lutimesSync(p, mtime, mtime);
      }
    }
    fs.utimesSync(dir, date, date);
  };
  walk(tree);
}

/**
 * Sets every used inode's ctime to the release date: mkfs.ext4 -d copies it from the tree, where
 * the kernel set it to the time of extraction. One debugfs session; the used inodes are what
 * dumpe2fs does not list as free, group by group.
 */
function pinInodeChangeTimes(image, date, faketime) {
  const dump = run('dumpe2fs', [image], { encoding: 'utf8' });
  const perGroup = Number(/^Inodes per group:\s+(\d+)$/m.exec(dump)[1]);
  const freeLists = [...dump.matchAll(/^ {2}Free inodes: ?(.*)$/gm)].map((m) => m[1]);
  const commands = [];
  freeLists.forEach((list, group) => {
    const free = new Set();
    for (const range of list.split(',').map((r) => r.trim()).filter(Boolean)) {
      const [a, b = a] = range.split('-').map(Number);
      for (let i = a; i <= b; i++) free.add(i);
    }
    for (let ino = group * perGroup + 1; ino <= (group + 1) * perGroup; ino++) {
      if (!free.has(ino)) commands.push(`sif <${ino}> ctime @${Math.floor(date.getTime() / 1000)}`);
    }
  });
  const script = `${image}.debugfs`;
  fs.writeFileSync(script, `${commands.join('\n')}\n`);
  try {
    run(...faketime('debugfs', ['-w', '-f', script, image]));
  } finally {
    fs.rmSync(script);
  }
}

/** mkfs.ext4 -d with everything that would vary pinned (see the header). */
function makeImage(tree, image, size, date, log) {
  const haveFaketime = spawnSync('sh', ['-c', 'command -v faketime'], { stdio: 'ignore' }).status === 0;
  if (!haveFaketime) log('faketime not found (apt-get install faketime): superblock and inode times will be the build time, images not byte-reproducible');
  const mkfs = ['mkfs.ext4', '-q', '-F', '-b', '4096', '-I', '256', '-m', '0', '-L', 'root', '-U', RECIPE.uuid,
    '-E', `hash_seed=${RECIPE.hashSeed},root_owner=0:0,nodiscard,lazy_itable_init=0`, '-d', tree, image, `${size / 1024}k`];
  // -f with a plain date: the clock stands still (without -f it starts at the date and runs)
  const faketime = (cmd, args) => (haveFaketime ? ['faketime', ['-f', date, cmd, ...args]] : [cmd, args]);
  fs.rmSync(image, { force: true });
  const epoch = String(Math.floor(Date.parse(`${date.replace(' ', 'T')}Z`) / 1000));
  run(...faketime(mkfs[0], mkfs.slice(1)), { env: { ...process.env, SOURCE_DATE_EPOCH: epoch, E2FSPROGS_FAKE_TIME: epoch } });
  // debugfs stamps the superblock's write time too
  pinInodeChangeTimes(image, new Date(Number(epoch) * 1000), faketime);
  run('e2fsck', ['-fn', image]);
}

/**
 * Builds (or finds in the cache) both images; returns their paths and what differs.
 * Options: rebuild (ignore the cache), log (progress lines).
 */
export async function deltaFixtures({ profile = 'full', rebuild = false, log = (line) => console.error(`delta fixtures: ${line}`) } = {}) {
  const { base: basePackages, added: addedPackages, imageSize, usrBytes } = PROFILES[profile];
  const dir = path.join(cacheRoot(), fixtureVersion(profile));
  const manifestFile = path.join(dir, 'fixtures.json');
  if (!rebuild && fs.existsSync(manifestFile)) return JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
  for (const tool of ['mkfs.ext4', 'e2fsck']) run('sh', ['-c', `command -v ${tool}`]);
  fs.rmSync(dir, { recursive: true, force: true });
  const work = path.join(dir, 'trees');
  const base = path.join(work, '1.0');
  const pool = path.join(work, 'added-pool');
  const next = path.join(work, '1.1');
  const debsDir = path.join(cacheRoot(), 'debs');
  const baseDebs = downloadDebs(debsDir, basePackages, log);
  const addedDebs = baseDebs && downloadDebs(debsDir, addedPackages, log);
  const source = addedDebs ? 'debian' : 'usr';
  log(`building tree 1.0 from ${source === 'debian' ? `${baseDebs.length} Debian packages` : 'a subset of /usr'} in ${work}`);
  if (source === 'debian') {
    extractDebs(baseDebs, base);
    extractDebs(addedDebs, pool);
  } else {
    copyUsr(base, pool, usrBytes);
  }
  log('building tree 1.1');
  run('cp', ['-a', base, next]);
  const changes = makeRelease(next, pool, new Date(`${RECIPE.dates['1.1'].replace(' ', 'T')}Z`));
  const images = { '1.0': path.join(dir, 'root-1.0.ext4'), '1.1': path.join(dir, 'root-1.1.ext4') };
  for (const [release, tree] of [['1.0', base], ['1.1', next]]) {
    pinTimes(tree, new Date(`${RECIPE.dates[release].replace(' ', 'T')}Z`));
    log(`mkfs.ext4 -d ${tree} (${imageSize / MIB} MiB)`);
    makeImage(tree, images[release], imageSize, RECIPE.dates[release], log);
  }
  const manifest = {
    version: fixtureVersion(profile),
    dir,
    source,
    packages: source === 'debian' ? baseDebs.map((d) => path.basename(d, '.deb')) : USR_DIRS,
    addedFrom: source === 'debian' ? addedDebs.map((d) => path.basename(d, '.deb')) : USR_DIRS,
    imageSize,
    images,
    treeBytes: { '1.0': treeBytes(base), '1.1': treeBytes(next) },
    changes,
    sha256: Object.fromEntries(Object.entries(images).map(([k, f]) => [k, run('sha256sum', [f], { encoding: 'utf8' }).split(' ')[0]])),
  };
  fs.rmSync(work, { recursive: true, force: true });
  fs.writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const f = await deltaFixtures({ profile: profileFromArgs(process.argv), rebuild: process.argv.includes('--rebuild') });
  const c = f.changes;
  const pct = (n) => `${((100 * n) / c.files).toFixed(2)} %`;
  console.log(`fixtures ${f.version} (${f.source}) in ${f.dir}`);
  console.log(`tree 1.0: ${c.files} files, ${(f.treeBytes['1.0'] / MIB).toFixed(1)} MiB; tree 1.1: ${(f.treeBytes['1.1'] / MIB).toFixed(1)} MiB`);
  console.log(`1.1 vs 1.0: ${c.rewritten} rewritten (${pct(c.rewritten)}), ${c.patched} patched (${pct(c.patched)}), ${c.removed} removed (${pct(c.removed)}), ${c.added} added (${pct(c.added)}, ${(c.addedBytes / MIB).toFixed(1)} MiB); changed files now hold ${(c.changedBytes / MIB).toFixed(1)} MiB`);
  for (const [release, image] of Object.entries(f.images)) console.log(`image ${release}: ${image} (${f.imageSize / MIB} MiB, sha256 ${f.sha256[release]})`);
}
